import * as k8s from "@pulumi/kubernetes";
import { nonRootPod, restrictedContainer } from "../platform/containerSecurity";
import { httpProbe } from "../platform/probes";
import { redisUrl } from "./onlineStoreManifests";
import {
  ContainerResources,
  GATEWAY,
  REDIS_SECRET,
  resourcesOf,
  SERVING_LABELS,
  serviceUrl,
  Track,
  TRITON,
  withPartOf,
} from "./servingContracts";

type Deployment = k8s.types.input.apps.v1.Deployment;
type Service = k8s.types.input.core.v1.Service;
type Job = k8s.types.input.batch.v1.Job;
type EnvVar = k8s.types.input.core.v1.EnvVar;

/** The gateway image's user (model-server/gateway's Dockerfile: `USER node`). */
export const GATEWAY_UID = 1000;
/** Key prefix of the gateway's event batches in the logs bucket. */
export const EVENT_LOG_PREFIX = "gateway-events";
/** The bootstrap job: the gateway image run as its Redis loader (model-server/gateway/src/bootstrap.ts). */
export const BOOTSTRAP_JOB = "redis-bootstrap";
/** The loader's entry point in the gateway image (compiled from model-server/, WORKDIR its root). */
export const BOOTSTRAP_COMMAND = ["node", "dist/gateway/src/bootstrap.js"];

export interface GatewaySpec {
  namespace: string;
  image: string;
  replicas: number;
  resources: ContainerResources;
  modelName: string;
  /** Served version per track; no canary entry (or weight 0): every user is on stable. */
  versions: Partial<Record<Track, number>> & { stable: number };
  /** Percent of users bucketed into the canary track, 0-50. */
  canaryWeightPercent: number;
  /** Longest user sequence the model reads (its maxlen); Redis keeps this many recent items per user. */
  maxlen: number;
  /** A recommendation slower than this falls back to popularity (the p95 SLO). */
  inferenceTimeoutMs: number;
  s3SecretName: string;
}

const redisPassword: EnvVar = {
  name: "REDIS_PASSWORD",
  valueFrom: { secretKeyRef: { name: REDIS_SECRET.name, key: REDIS_SECRET.passwordKey } },
};

/**
 * The gateway's environment (model-server/gateway/src/config.ts reads it; the S3 endpoint, keys
 * and BUCKET_LOGS come from the S3 Secret through envFrom). CANARY_WEIGHT is a fraction there.
 */
export function gatewayEnv(spec: GatewaySpec): EnvVar[] {
  if (spec.canaryWeightPercent < 0 || spec.canaryWeightPercent > 100) {
    throw new Error(`canary weight ${spec.canaryWeightPercent}%: expected 0-100`);
  }
  const canary = spec.canaryWeightPercent > 0 ? spec.versions.canary : undefined;
  return [
    { name: "PORT", value: String(GATEWAY.port) },
    { name: "BACKEND", value: "triton" },
    { name: "TRITON_URL", value: serviceUrl(TRITON.name, spec.namespace, TRITON.httpPort) },
    { name: "MODEL_NAME", value: spec.modelName },
    { name: "STABLE_VERSION", value: String(spec.versions.stable) },
    ...(canary !== undefined
      ? [
          { name: "CANARY_VERSION", value: String(canary) },
          { name: "CANARY_WEIGHT", value: String(spec.canaryWeightPercent / 100) },
        ]
      : [{ name: "CANARY_WEIGHT", value: "0" }]),
    { name: "MAXLEN", value: String(spec.maxlen) },
    { name: "INFERENCE_TIMEOUT_MS", value: String(spec.inferenceTimeoutMs) },
    { name: "REDIS_URL", value: redisUrl(spec.namespace) },
    redisPassword,
    { name: "EVENT_SINK", value: "s3" },
    { name: "EVENT_LOG_PREFIX", value: EVENT_LOG_PREFIX },
    { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
  ];
}

/**
 * The gateway. On a rollout each old pod gets SIGTERM and flushes its buffered events to the logs
 * bucket before it exits; the grace period leaves time for that after endpoints are removed.
 */
export function gatewayDeployment(spec: GatewaySpec): Deployment {
  const labels = withPartOf(SERVING_LABELS.gateway);
  return {
    metadata: { name: GATEWAY.name, namespace: spec.namespace, labels },
    spec: {
      replicas: spec.replicas,
      selector: { matchLabels: { ...SERVING_LABELS.gateway } },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels },
        spec: {
          automountServiceAccountToken: false,
          securityContext: nonRootPod(GATEWAY_UID),
          terminationGracePeriodSeconds: 30,
          containers: [
            {
              name: "gateway",
              image: spec.image,
              envFrom: [{ secretRef: { name: spec.s3SecretName } }],
              env: gatewayEnv(spec),
              ports: [{ name: GATEWAY.portName, containerPort: GATEWAY.port, protocol: "TCP" }],
              resources: resourcesOf(spec.resources),
              readinessProbe: httpProbe("/readyz", GATEWAY.portName, { periodSeconds: 5 }),
              livenessProbe: httpProbe("/healthz", GATEWAY.portName, {
                initialDelaySeconds: 10,
                periodSeconds: 15,
              }),
              securityContext: restrictedContainer({ runAsUser: GATEWAY_UID, readOnlyRootFilesystem: true }),
            },
          ],
        },
      },
    },
  };
}

export function gatewayService(namespace: string): Service {
  return {
    metadata: { name: GATEWAY.name, namespace, labels: withPartOf(SERVING_LABELS.gateway) },
    spec: {
      type: "ClusterIP",
      selector: { ...SERVING_LABELS.gateway },
      ports: [{ name: GATEWAY.portName, port: GATEWAY.port, targetPort: GATEWAY.portName, protocol: "TCP" }],
    },
  };
}

/** The gateway serves /metrics on its API port. */
export function gatewayServiceMonitor(namespace: string) {
  return {
    metadata: { name: GATEWAY.name, namespace, labels: withPartOf(SERVING_LABELS.gateway) },
    spec: {
      selector: { matchLabels: { ...SERVING_LABELS.gateway } },
      namespaceSelector: { matchNames: [namespace] },
      endpoints: [{ port: GATEWAY.portName, path: "/metrics", interval: "15s" }],
    },
  };
}

export interface BootstrapSpec {
  namespace: string;
  image: string;
  /** The trainer's online features: `features/<dataset>/<version>/online/` in the features bucket. */
  features: { dataset: string; version: string };
  maxlen: number;
  s3SecretName: string;
}

/**
 * Loads `features/<dataset>/<version>/online/sequences.jsonl` into Redis: the gateway image's
 * loader. A Job's template cannot change, so a new dataset or version replaces the Job (Pulumi does
 * that for immutable fields) and the load runs again; the loader skips a version Redis already holds.
 */
export function bootstrapJob(spec: BootstrapSpec): Job {
  for (const [what, value] of Object.entries(spec.features)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(value)) {
      throw new Error(
        `online features ${what} ${JSON.stringify(value)}: expected one path segment (letters, digits, . _ -)`,
      );
    }
  }
  const labels = withPartOf(SERVING_LABELS.bootstrap);
  return {
    metadata: { name: BOOTSTRAP_JOB, namespace: spec.namespace, labels },
    spec: {
      backoffLimit: 4,
      activeDeadlineSeconds: 1800,
      template: {
        metadata: { labels },
        spec: {
          automountServiceAccountToken: false,
          restartPolicy: "OnFailure",
          securityContext: nonRootPod(GATEWAY_UID),
          containers: [
            {
              name: "load-sequences",
              image: spec.image,
              command: BOOTSTRAP_COMMAND,
              envFrom: [{ secretRef: { name: spec.s3SecretName } }],
              env: [
                { name: "REDIS_URL", value: redisUrl(spec.namespace) },
                redisPassword,
                { name: "DATASET", value: spec.features.dataset },
                { name: "FEATURES_VERSION", value: spec.features.version },
                { name: "MAXLEN", value: String(spec.maxlen) },
              ],
              resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "1", memory: "1Gi" } },
              securityContext: restrictedContainer({ runAsUser: GATEWAY_UID, readOnlyRootFilesystem: true }),
            },
          ],
        },
      },
    },
  };
}
