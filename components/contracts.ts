/**
 * What the Chameleon wing (`chameleon/`) and the Kubernetes wing (`platform/`, `app/`) agree on,
 * in one place neither wing owns: node labels and taints, the GPU runtime class, namespace names,
 * bucket roles, S3 access and service references. Both wings import this module; neither imports
 * the other, and nothing under `components/` imports `stacks/` or `tools/`.
 */
import * as pulumi from "@pulumi/pulumi";

/** The Pulumi project: stack config keys are `sse-pt-platform:<key>`. */
export const PROJECT = "sse-pt-platform";

/** S3 access as the estate knows it: an endpoint and keys (secret outputs). */
export interface S3Access {
  endpoint: pulumi.Input<string>;
  accessKey: pulumi.Input<string>;
  secretKey: pulumi.Input<string>;
}

/** A Service a UI or API is served from; the ingress component routes a host to it. */
export interface ServiceRef {
  namespace: pulumi.Input<string>;
  name: pulumi.Input<string>;
  port: number;
}

/** Namespaces of the estate, fixed so that network policies can name each other. */
export const NAMESPACES = {
  monitoring: "monitoring",
  mlflow: "mlflow",
  ray: "ray",
  pipeline: "pipeline",
  serving: "serving",
  simulator: "simulator",
  certManager: "cert-manager",
  gpu: "nvidia-gpu",
  /** k3s runs Traefik, its ingress controller, here. */
  ingress: "kube-system",
} as const;

/** The estate's buckets by role; each environment names its own. */
export const BUCKET_ROLES = [
  "raw-data",
  "processed-data",
  "features",
  "models",
  "logs",
  "mlflow-artifacts",
  "ray-checkpoints",
] as const;
export type BucketRole = (typeof BUCKET_ROLES)[number];
export type BucketNames = Readonly<Record<BucketRole, string>>;

/** Kubernetes requests and limits of a container. */
export interface ResourceSpec {
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
}

/** The estate's feature switches (config `enable<Feature>`); alert rule files name the one they need. */
export const FEATURES = ["monitoring", "mlflow", "ray", "argo", "serving", "simulator"] as const;
export type Feature = (typeof FEATURES)[number];
export type FeatureSwitches = Readonly<Record<Feature, boolean>>;

/** An image reference with a pinned tag or digest (`registry/name:1.2.3`, `name@sha256:...`). */
export function hasPinnedTagOrDigest(ref: string): boolean {
  return /@sha256:[0-9a-f]{64}$/.test(ref) || /:[\w][\w.-]{0,127}$/.test(ref.split("/").pop() ?? "");
}

/** `latest` moves under a running estate, so it never counts as pinned. */
export function isLatestTag(ref: string): boolean {
  return /:latest$/.test(ref);
}

export function isPinnedImage(ref: string): boolean {
  return hasPinnedTagOrDigest(ref) && !isLatestTag(ref);
}

/*
 * The labels and taints k3s gives its nodes, and the names pods schedule by. The cluster writes
 * them into each node's k3s config; the platform (device plugin, Ray GPU workers, stateful
 * services) selects and tolerates by the same constants, so the two sides cannot drift apart.
 */

export interface NodeLabel {
  key: string;
  value: string;
}

export interface NodeTaint {
  key: string;
  value: string;
  effect: "NoSchedule" | "PreferNoSchedule" | "NoExecute";
}

/** Every GPU node carries it; GPU pods select on it. */
export const GPU_NODE_LABEL: NodeLabel = { key: "node-role", value: "gpu" };

/** Keeps every pod that does not ask for a GPU off the (scarce, reserved) GPU nodes. */
export const GPU_NODE_TAINT: NodeTaint = { key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" };

/** Containerd runtime handler k3s registers when it finds nvidia-container-runtime, and the RuntimeClass of that name. */
export const NVIDIA_RUNTIME_CLASS = "nvidia";

/**
 * The server, the one node with the Cinder data volume mounted where the local-path provisioner
 * keeps volumes. A stateful pod (Postgres, Prometheus) selects it so its volume lands on Cinder.
 */
export const DATA_VOLUME_NODE_LABEL: NodeLabel = { key: "ssept.io/data-volume", value: "cinder" };

/** The node selector of a stateful pod on a cluster with a data volume node. */
export function dataVolumeNodeSelector(): Record<string, string> {
  return { [DATA_VOLUME_NODE_LABEL.key]: DATA_VOLUME_NODE_LABEL.value };
}

/** The toleration a pod needs to run on a GPU node. */
export function gpuToleration(): { key: string; operator: "Equal"; value: string; effect: string } {
  return {
    key: GPU_NODE_TAINT.key,
    operator: "Equal",
    value: GPU_NODE_TAINT.value,
    effect: GPU_NODE_TAINT.effect,
  };
}

/** The node selector of a pod that must run on a GPU node. */
export function gpuNodeSelector(): Record<string, string> {
  return { [GPU_NODE_LABEL.key]: GPU_NODE_LABEL.value };
}
