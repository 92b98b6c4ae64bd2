/**
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

/** `key=value`, as k3s's node-label option takes it. */
export function labelArg(label: NodeLabel): string {
  return `${label.key}=${label.value}`;
}

/** `key=value:Effect`, as k3s's node-taint option takes it. */
export function taintArg(taint: NodeTaint): string {
  return `${taint.key}=${taint.value}:${taint.effect}`;
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
