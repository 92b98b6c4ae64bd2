import * as k8s from "@pulumi/kubernetes";

type Probe = k8s.types.input.core.v1.Probe;

/** An HTTP GET probe, every 10 s with a 5 s timeout unless `extra` says otherwise. */
export function httpProbe(path: string, port: number | string, extra: Partial<Probe> = {}): Probe {
  return { httpGet: { path, port }, periodSeconds: 10, timeoutSeconds: 5, ...extra };
}
