/**
 * Names, ports and labels the serving objects share with each other, with the network policies and
 * with the services in model-server/ (their env vars are listed in model-server/README.md).
 */

export type Track = "stable" | "canary";
export const TRACKS: readonly Track[] = ["stable", "canary"];

/**
 * The MLflow alias each track's version is promoted under (trainer-image/README.md, "MLflow"):
 * production is what the stable track serves, canary what the canary track tries.
 */
export const TRACK_ALIASES: Readonly<Record<Track, string>> = { stable: "production", canary: "canary" };

export const PART_OF = { "app.kubernetes.io/part-of": "sse-pt-platform" } as const;

export const TRITON = {
  name: "triton",
  /** KServe v2 HTTP, gRPC and Prometheus metrics, Triton's default ports. */
  httpPort: 8000,
  grpcPort: 8001,
  metricsPort: 8002,
  /** The NGC image's non-root user (`triton-server`). */
  uid: 1000,
  /** Where the model-fetch init container writes the one-version repository. */
  repositoryMount: "/models",
} as const;

export const GATEWAY = { name: "gateway", port: 8080, portName: "http" } as const;
export const REDIS = { name: "redis", port: 6379, exporterPort: 9121, uid: 999 } as const;
export const SIMULATOR = { name: "simulator", metricsPort: 9464 } as const;

/** The Secret holding Redis's password (a RandomPassword), read through secretKeyRef only. */
export const REDIS_SECRET = { name: "redis-auth", passwordKey: "password" } as const;

export const SERVING_LABELS = {
  gateway: { "app.kubernetes.io/name": "gateway", "app.kubernetes.io/component": "gateway" },
  bootstrap: { "app.kubernetes.io/name": "redis-bootstrap", "app.kubernetes.io/component": "feature-loader" },
  redis: { "app.kubernetes.io/name": "redis", "app.kubernetes.io/component": "online-store" },
  simulator: { "app.kubernetes.io/name": "simulator", "app.kubernetes.io/component": "load" },
} as const;

export const TRITON_LABELS = {
  "app.kubernetes.io/name": "triton",
  "app.kubernetes.io/component": "model-server",
} as const;

export function withPartOf(labels: Readonly<Record<string, string>>): Record<string, string> {
  return { ...labels, ...PART_OF };
}

/** `http://<service>.<namespace>.svc.cluster.local:<port>`. */
export function serviceUrl(name: string, namespace: string, port: number): string {
  return `http://${name}.${namespace}.svc.cluster.local:${port}`;
}

/** Kubernetes requests:limits, as config's resource keys give them. */
export interface ContainerResources {
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
}

/** A fresh, mutable copy (config objects are frozen). */
export function resourcesOf(spec: ContainerResources): ContainerResources {
  return { requests: { ...spec.requests }, limits: { ...spec.limits } };
}

/** CPU quantity (`500m`, `2`, `1.5`) in cores. */
export function cpuCores(quantity: string): number {
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(quantity);
  if (!m) throw new Error(`cpu quantity ${quantity}: expected <n>, <n.n> or <n>m`);
  return Number(m[1]) / (m[2] === "m" ? 1000 : 1);
}
