import { NodeLabel, NodeTaint } from "../contracts";

/** `key=value`, as k3s's node-label option takes it. */
export function labelArg(label: NodeLabel): string {
  return `${label.key}=${label.value}`;
}

/** `key=value:Effect`, as k3s's node-taint option takes it. */
export function taintArg(taint: NodeTaint): string {
  return `${taint.key}=${taint.value}:${taint.effect}`;
}
