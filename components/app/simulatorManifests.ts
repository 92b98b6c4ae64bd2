import * as k8s from "@pulumi/kubernetes";
import { nonRootPod, restrictedContainer } from "../platform/containerSecurity";
import { httpProbe } from "../platform/probes";
import { GATEWAY_UID } from "./gatewayManifests";
import { SERVING_LABELS, SIMULATOR, withPartOf } from "./servingContracts";

type Deployment = k8s.types.input.apps.v1.Deployment;
type Service = k8s.types.input.core.v1.Service;

export interface SimulatorSpec {
  namespace: string;
  image: string;
  /** 0 keeps the Deployment but runs no simulated users. */
  replicas: number;
  /** The gateway's in-cluster URL. */
  gatewayUrl: string;
  /** `<dataset>/<version>` of the held-out split in the features bucket (the simulator reads `<prefix>/split/`). */
  dataPrefix: string;
  usersPerSecond: number;
  thinkTimeMs: number;
  sessionLength: number;
  s3SecretName: string;
}

/**
 * Simulated users: each replica starts `usersPerSecond` sessions a second, replaying held-out
 * sequences from the features bucket against the gateway (ask for recommendations, then view
 * the true next item), so online hit-rate means something. It serves its own metrics.
 */
export function simulatorDeployment(spec: SimulatorSpec): Deployment {
  if (!Number.isInteger(spec.replicas) || spec.replicas < 0) {
    throw new Error(`simulator replicas ${spec.replicas}: expected an integer >= 0 (0 = off)`);
  }
  const labels = withPartOf(SERVING_LABELS.simulator);
  return {
    metadata: { name: SIMULATOR.name, namespace: spec.namespace, labels },
    spec: {
      replicas: spec.replicas,
      selector: { matchLabels: { ...SERVING_LABELS.simulator } },
      template: {
        metadata: { labels },
        spec: {
          automountServiceAccountToken: false,
          securityContext: nonRootPod(GATEWAY_UID),
          containers: [
            {
              name: "simulator",
              image: spec.image,
              envFrom: [{ secretRef: { name: spec.s3SecretName } }],
              env: [
                { name: "GATEWAY_URL", value: spec.gatewayUrl },
                { name: "DATA_PREFIX", value: spec.dataPrefix },
                { name: "USERS_PER_SECOND", value: String(spec.usersPerSecond) },
                { name: "THINK_TIME_MS", value: String(spec.thinkTimeMs) },
                { name: "SESSION_LENGTH", value: String(spec.sessionLength) },
                { name: "METRICS_PORT", value: String(SIMULATOR.metricsPort) },
              ],
              ports: [{ name: "metrics", containerPort: SIMULATOR.metricsPort, protocol: "TCP" }],
              resources: {
                requests: { cpu: "100m", memory: "256Mi" },
                limits: { cpu: "500m", memory: "512Mi" },
              },
              readinessProbe: httpProbe("/metrics", "metrics"),
              livenessProbe: httpProbe("/metrics", "metrics", { initialDelaySeconds: 10, periodSeconds: 30 }),
              securityContext: restrictedContainer({ runAsUser: GATEWAY_UID, readOnlyRootFilesystem: true }),
            },
          ],
        },
      },
    },
  };
}

export function simulatorService(namespace: string): Service {
  return {
    metadata: { name: SIMULATOR.name, namespace, labels: withPartOf(SERVING_LABELS.simulator) },
    spec: {
      type: "ClusterIP",
      selector: { ...SERVING_LABELS.simulator },
      ports: [{ name: "metrics", port: SIMULATOR.metricsPort, targetPort: "metrics", protocol: "TCP" }],
    },
  };
}

export function simulatorServiceMonitor(namespace: string) {
  return {
    metadata: { name: SIMULATOR.name, namespace, labels: withPartOf(SERVING_LABELS.simulator) },
    spec: {
      selector: { matchLabels: { ...SERVING_LABELS.simulator } },
      namespaceSelector: { matchNames: [namespace] },
      endpoints: [{ port: "metrics", path: "/metrics", interval: "30s" }],
    },
  };
}
