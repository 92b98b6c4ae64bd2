import * as fs from "fs";
import * as path from "path";
import * as k8s from "@pulumi/kubernetes";
import { gpuNodeSelector, gpuToleration, NVIDIA_RUNTIME_CLASS } from "../contracts";
import { nonRootPod, restrictedContainer } from "../platform/containerSecurity";
import { httpProbe } from "../platform/probes";
import {
  ContainerResources,
  cpuCores,
  resourcesOf,
  Track,
  TRACK_ALIASES,
  TRITON,
  TRITON_LABELS,
  withPartOf,
} from "./servingContracts";

type Deployment = k8s.types.input.apps.v1.Deployment;
type Service = k8s.types.input.core.v1.Service;
type ConfigMap = k8s.types.input.core.v1.ConfigMap;
type PodDisruptionBudget = k8s.types.input.policy.v1.PodDisruptionBudget;
type HorizontalPodAutoscaler = k8s.types.input.autoscaling.v2.HorizontalPodAutoscaler;

/** The init container's script: copies one model version and its config out of the models bucket. */
export const FETCH_SCRIPT_FILE = path.resolve(
  __dirname,
  "..",
  "..",
  "k8s-manifests",
  "serving",
  "fetch-model.py",
);
export const FETCH_SCRIPT_CONFIGMAP = "triton-fetch-model";
/** HPA target: average CPU use of the Triton pods, as a percent of their request. */
export const TRITON_CPU_TARGET_PERCENT = 70;

/** The Triton server: which model versions its tracks serve, from where, on what hardware. */
export interface TritonSpec {
  namespace: string;
  /** Triton server image, pinned (config tritonImage). */
  image: string;
  /** Image of the model-fetch init container: the trainer image (Python and boto3). */
  fetchImage: string;
  /** Model name in the repository, `ssept-<dataset>`. */
  modelName: string;
  /**
   * The version each track serves: the registered MLflow version, exported under the same number
   * (`ssept export --triton-version N`). No canary entry: the canary track does not exist.
   */
  versions: Partial<Record<Track, number>> & { stable: number };
  /** The models bucket and the repository's key prefix in it (`ssept export` writes under `triton/`). */
  repository: { bucket: string; prefix: string };
  /** The Secret with the S3 endpoint and keys (`envFrom`). */
  s3SecretName: string;
  /** Run on a GPU node (`KIND_GPU`, one `nvidia.com/gpu`); else `KIND_CPU`. */
  gpu: boolean;
  resources: ContainerResources;
  replicas: { min: number; max: number };
}

/** The versions the server loads, each once, in ascending order (stable and canary may share one). */
export function servedVersions(versions: TritonSpec["versions"]): number[] {
  const all = Object.values(versions).filter((v): v is number => v !== undefined);
  for (const v of all) {
    if (!Number.isInteger(v) || v < 1)
      throw new Error(`model version ${v}: Triton versions are integers >= 1`);
  }
  return [...new Set(all)].sort((a, b) => a - b);
}

/**
 * What the init container appends to the exported `configs/<kind>.pbtxt`. Triton has no flag that
 * pins a version, so the config does: exactly the tracks' versions (the repository holds only
 * those anyway). On CPU the ONNX Runtime thread pool is sized to the container's CPU limit: by
 * default it takes every core of the node, which oversubscribes a shared node and throttles the pod
 * against its limit.
 */
export function tritonConfigSuffix(spec: {
  versions: readonly number[];
  gpu: boolean;
  cpuLimit: string;
}): string {
  if (spec.versions.length === 0) throw new Error("Triton: no model version to serve");
  const lines = [`version_policy: { specific: { versions: [ ${spec.versions.join(", ")} ] } }`];
  if (!spec.gpu) {
    const threads = Math.max(1, Math.floor(cpuCores(spec.cpuLimit)));
    lines.push(
      `parameters { key: "intra_op_thread_count" value: { string_value: "${threads}" } }`,
      `parameters { key: "inter_op_thread_count" value: { string_value: "1" } }`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Triton's command line. `none` model control: the repository is fixed at start (the tracks'
 * versions, fetched by the init container), so nothing can load or unload a model at run time, and
 * Triton refuses to start when a version does not load (`--exit-on-error`), which the rollout shows.
 */
export function tritonArgs(gpu: boolean): string[] {
  return [
    "tritonserver",
    `--model-repository=${TRITON.repositoryMount}`,
    "--model-control-mode=none",
    "--disable-auto-complete-config",
    "--strict-readiness=true",
    "--exit-on-error=true",
    `--http-port=${TRITON.httpPort}`,
    `--grpc-port=${TRITON.grpcPort}`,
    `--metrics-port=${TRITON.metricsPort}`,
    "--allow-metrics=true",
    `--allow-gpu-metrics=${gpu}`,
    "--log-verbose=0",
  ];
}

/** The ConfigMap holding fetch-model.py, mounted into the Triton pods' init container. */
export function fetchScriptConfigMap(
  namespace: string,
  script = fs.readFileSync(FETCH_SCRIPT_FILE, "utf8"),
): ConfigMap {
  return {
    metadata: { name: FETCH_SCRIPT_CONFIGMAP, namespace, labels: withPartOf(TRITON_LABELS) },
    data: { "fetch-model.py": script },
  };
}

const meta = (namespace: string) => ({ name: TRITON.name, namespace, labels: withPartOf(TRITON_LABELS) });

/**
 * One Triton Deployment serves both tracks: each track is one pinned version of the same model, and
 * the gateway picks it in the URL (`/v2/models/<m>/versions/<N>/infer`). One server rather than one
 * per track because a GPU node has one GPU for serving, and two ONNX sessions of this model fit in
 * one pod; Triton's metrics carry the `version` label, so each track is still measured apart.
 *
 * Where the model repository comes from: an init container copies exactly the tracks' versions
 * (and the config for this hardware) from the models bucket into an emptyDir, and Triton serves
 * that directory. Chosen over Triton's own `s3://` repository because (1) the bucket holds every
 * exported version and one shared config.pbtxt, so pinning versions there would mean editing the
 * bucket, while the copy gets its own config with the version policy and CPU threads; (2) a missing
 * version fails the init container with a message naming the key, before Triton starts; (3) boto3
 * in the trainer image already speaks Ceph RGW (AWS_REQUEST_CHECKSUM_CALCULATION in the S3 Secret).
 *
 * Image: `tritonImage` is pinned in config. nvcr.io/nvidia/tritonserver 24.12 is built on CUDA
 * 12.6.3: it needs driver 560 or later, or on data-center GPUs (the A100 and H100 the estate
 * reserves) a forward-compatible R470/R525/R535/R545 branch. The GPU nodes boot Chameleon's
 * CC-Ubuntu24.04-CUDA image, whose driver install-nvidia-toolkit.sh checks with nvidia-smi; move the
 * tag past 24.12 only together with a node image whose driver the newer release supports.
 */
export function tritonDeployment(spec: TritonSpec): Deployment {
  const versions = servedVersions(spec.versions);
  const labels = withPartOf(TRITON_LABELS);
  const resources = resourcesOf(spec.resources) as {
    requests: Record<string, string>;
    limits: Record<string, string>;
  };
  if (spec.gpu) {
    resources.requests["nvidia.com/gpu"] = "1";
    resources.limits["nvidia.com/gpu"] = "1";
  }
  const trackAnnotations = Object.fromEntries(
    Object.entries(spec.versions).map(([track, v]) => [
      `ssept.io/${track}-version`,
      `${v} (MLflow alias ${TRACK_ALIASES[track as Track]})`,
    ]),
  );
  return {
    metadata: {
      ...meta(spec.namespace),
      annotations: { "ssept.io/model": spec.modelName, ...trackAnnotations },
    },
    spec: {
      // No `replicas`: the HorizontalPodAutoscaler owns the count (from replicas.min), and a value
      // here would reset it on every `pulumi up`.
      selector: { matchLabels: { ...TRITON_LABELS } },
      // On CPU a new pod starts before an old one stops. A GPU pod cannot surge: the node's one
      // GPU is held by the pod it replaces, so the old pod goes first (the gateway serves the
      // popularity fallback for the minute the new one takes to load).
      strategy: {
        type: "RollingUpdate",
        rollingUpdate: spec.gpu ? { maxUnavailable: 1, maxSurge: 0 } : { maxUnavailable: 0, maxSurge: 1 },
      },
      template: {
        metadata: { labels, annotations: trackAnnotations },
        spec: {
          automountServiceAccountToken: false,
          securityContext: nonRootPod(TRITON.uid),
          terminationGracePeriodSeconds: 30,
          ...(spec.gpu
            ? {
                runtimeClassName: NVIDIA_RUNTIME_CLASS,
                nodeSelector: gpuNodeSelector(),
                tolerations: [gpuToleration()],
              }
            : {}),
          initContainers: [
            {
              name: "fetch-model",
              image: spec.fetchImage,
              command: ["python3", "/opt/fetch/fetch-model.py"],
              envFrom: [{ secretRef: { name: spec.s3SecretName } }],
              env: [
                { name: "MODEL_BUCKET", value: spec.repository.bucket },
                { name: "MODEL_PREFIX", value: spec.repository.prefix },
                { name: "MODEL_NAME", value: spec.modelName },
                { name: "MODEL_VERSIONS", value: versions.join(" ") },
                { name: "MODEL_CONFIG", value: spec.gpu ? "gpu" : "cpu" },
                {
                  name: "MODEL_CONFIG_APPEND",
                  value: tritonConfigSuffix({ versions, gpu: spec.gpu, cpuLimit: spec.resources.limits.cpu }),
                },
                { name: "REPOSITORY", value: TRITON.repositoryMount },
              ],
              resources: {
                requests: { cpu: "100m", memory: "128Mi" },
                limits: { cpu: "500m", memory: "512Mi" },
              },
              securityContext: restrictedContainer({ runAsUser: TRITON.uid }),
              volumeMounts: [
                { name: "models", mountPath: TRITON.repositoryMount },
                { name: "fetch-script", mountPath: "/opt/fetch", readOnly: true },
              ],
            },
          ],
          containers: [
            {
              name: "triton",
              image: spec.image,
              args: tritonArgs(spec.gpu),
              ports: [
                { name: "http", containerPort: TRITON.httpPort, protocol: "TCP" },
                { name: "grpc", containerPort: TRITON.grpcPort, protocol: "TCP" },
                { name: "metrics", containerPort: TRITON.metricsPort, protocol: "TCP" },
              ],
              resources,
              // Loading the models (and on GPU, the CUDA context) takes a while; the startup probe
              // holds off the liveness probe until Triton reports live.
              startupProbe: httpProbe("/v2/health/live", "http", { periodSeconds: 5, failureThreshold: 60 }),
              livenessProbe: httpProbe("/v2/health/live", "http", { periodSeconds: 15, failureThreshold: 3 }),
              readinessProbe: httpProbe("/v2/health/ready", "http", {
                periodSeconds: 5,
                failureThreshold: 3,
              }),
              securityContext: restrictedContainer({ runAsUser: TRITON.uid }),
              volumeMounts: [{ name: "models", mountPath: TRITON.repositoryMount, readOnly: true }],
            },
          ],
          volumes: [
            { name: "models", emptyDir: { sizeLimit: "2Gi" } },
            { name: "fetch-script", configMap: { name: FETCH_SCRIPT_CONFIGMAP, defaultMode: 0o555 } },
          ],
        },
      },
    },
  };
}

export function tritonService(namespace: string): Service {
  return {
    metadata: meta(namespace),
    spec: {
      type: "ClusterIP",
      selector: { ...TRITON_LABELS },
      ports: [
        { name: "http", port: TRITON.httpPort, targetPort: "http", protocol: "TCP" },
        { name: "grpc", port: TRITON.grpcPort, targetPort: "grpc", protocol: "TCP" },
        { name: "metrics", port: TRITON.metricsPort, targetPort: "metrics", protocol: "TCP" },
      ],
    },
  };
}

/**
 * At most one Triton pod down at a time for drains and evictions: with two or more replicas the
 * tracks keep serving; with one it does not block a node drain forever (as minAvailable 1 would).
 */
export function tritonDisruptionBudget(namespace: string): PodDisruptionBudget {
  return {
    metadata: meta(namespace),
    spec: { maxUnavailable: 1, selector: { matchLabels: { ...TRITON_LABELS } } },
  };
}

/** Scales Triton on CPU (k3s ships metrics-server), between replicas.min and replicas.max. */
export function tritonAutoscaler(
  namespace: string,
  replicas: TritonSpec["replicas"],
): HorizontalPodAutoscaler {
  const { min, max } = replicas;
  if (!Number.isInteger(min) || min < 1 || !Number.isInteger(max) || max < min) {
    throw new Error(`Triton replicas ${min}..${max}: expected integers with 1 <= min <= max`);
  }
  return {
    metadata: meta(namespace),
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: TRITON.name },
      minReplicas: min,
      maxReplicas: max,
      metrics: [
        {
          type: "Resource",
          resource: {
            name: "cpu",
            target: { type: "Utilization", averageUtilization: TRITON_CPU_TARGET_PERCENT },
          },
        },
      ],
      // Scale down slowly: a replica takes a minute to fetch and load the models.
      behavior: { scaleDown: { stabilizationWindowSeconds: 300 } },
    },
  };
}

/** Triton's Prometheus endpoint (:8002/metrics) on every pod. */
export function tritonServiceMonitor(namespace: string) {
  return {
    metadata: meta(namespace),
    spec: {
      selector: { matchLabels: { ...TRITON_LABELS } },
      namespaceSelector: { matchNames: [namespace] },
      endpoints: [{ port: "metrics", path: "/metrics", interval: "15s" }],
    },
  };
}
