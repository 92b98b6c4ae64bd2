/**
 * The policies as pure functions over one resource's type, name and inputs, so that the unit
 * tests run them over the mock harness's records and the policy pack (index.ts) over the engine's.
 * Each returns the violations it found, one message each; none means compliant.
 */
import { GPU_NODE_TAINT } from "../components/contracts";

export interface PolicyInput {
  type: string;
  name: string;
  props: Record<string, unknown>;
  /**
   * Dotted paths of inputs that are Pulumi secrets (`data.password`, or `data` for the whole map).
   * Undefined where the caller cannot tell.
   */
  secretPaths?: readonly string[];
}

const OPEN = new Set(["0.0.0.0/0", "::/0"]);
/** Ports no rule may open to the world: SSH and the Kubernetes API. */
export const ADMIN_PORTS = [22, 6443];

export function openAdminPorts(r: PolicyInput): string[] {
  if (r.type !== "openstack:networking/secGroupRule:SecGroupRule") return [];
  const p = r.props;
  if (p.direction !== "ingress") return [];
  const source = p.remoteIpPrefix as string | undefined;
  // No prefix and no remote group: OpenStack admits every source.
  const fromAnywhere = source === undefined ? p.remoteGroupId === undefined : OPEN.has(source);
  if (!fromAnywhere) return [];
  const min = p.portRangeMin as number | undefined;
  const max = p.portRangeMax as number | undefined;
  const who = source ?? "any source";
  if (p.protocol === undefined || p.protocol === "")
    return [`${r.name}: opens every protocol and port to ${who}`];
  if (min === undefined && max === undefined) return [`${r.name}: opens all ${p.protocol} ports to ${who}`];
  const lo = min ?? 1;
  const hi = max ?? 65535;
  if (lo <= 1 && hi >= 65535) return [`${r.name}: opens all ports to ${who}`];
  return ADMIN_PORTS.filter((port) => lo <= port && port <= hi).map(
    (port) => `${r.name}: opens port ${port} to ${who} (only adminCidrs may reach it)`,
  );
}

/** A pinned reference: a digest, or a tag that is not `latest`. */
export function isPinnedImage(ref: string): boolean {
  if (/@sha256:[0-9a-f]{64}$/.test(ref)) return true;
  const last = ref.split("/").pop() ?? "";
  const tag = last.includes(":") ? last.slice(last.indexOf(":") + 1) : "";
  return tag !== "" && tag !== "latest";
}

function walk(value: unknown, at: string, visit: (key: string, value: unknown, at: string) => void): void {
  if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${at}[${i}]`, visit));
  else if (value && typeof value === "object")
    for (const [k, v] of Object.entries(value)) {
      const path = at ? `${at}.${k}` : k;
      visit(k, v, path);
      walk(v, path, visit);
    }
}

/** Every `image:` string in a Kubernetes object (workloads, CRs, Argo templates) and Helm values. */
export function unpinnedImages(r: PolicyInput): string[] {
  if (!r.type.startsWith("kubernetes:")) return [];
  const out: string[] = [];
  walk(r.props, "", (key, value, at) => {
    if (key === "image" && typeof value === "string" && !isPinnedImage(value))
      out.push(`${r.name}: ${at} is ${JSON.stringify(value)}, not pinned to a tag or digest`);
    if (
      key === "image" &&
      value &&
      typeof value === "object" &&
      (value as { tag?: unknown }).tag === "latest"
    )
      out.push(`${r.name}: ${at}.tag is "latest"`);
  });
  return out;
}

interface PodSpecLike {
  containers?: {
    name?: string;
    resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
  }[];
  tolerations?: { key?: string; operator?: string; effect?: string; value?: string }[];
}

const requestsGpu = (spec: PodSpecLike) =>
  (spec.containers ?? []).some((c) =>
    [c.resources?.requests, c.resources?.limits].some((m) => m && m["nvidia.com/gpu"] !== undefined),
  );

function toleratesGpuTaint(spec: PodSpecLike): boolean {
  return (spec.tolerations ?? []).some((t) => {
    const effectOk = t.effect === undefined || t.effect === "" || t.effect === GPU_NODE_TAINT.effect;
    if (t.operator === "Exists") return effectOk && (t.key === undefined || t.key === GPU_NODE_TAINT.key);
    return effectOk && t.key === GPU_NODE_TAINT.key && t.value === GPU_NODE_TAINT.value;
  });
}

/** Any pod spec (at any depth: Deployment, Job, RayCluster group, Argo template) that asks for a GPU. */
export function gpuPodsWithoutToleration(r: PolicyInput): string[] {
  if (!r.type.startsWith("kubernetes:")) return [];
  const out: string[] = [];
  const check = (spec: PodSpecLike, at: string) => {
    if (requestsGpu(spec) && !toleratesGpuTaint(spec))
      out.push(
        `${r.name}: pod spec at ${at || "(root)"} requests nvidia.com/gpu but does not tolerate ` +
          `${GPU_NODE_TAINT.key}=${GPU_NODE_TAINT.value}:${GPU_NODE_TAINT.effect}`,
      );
  };
  const root = r.props as PodSpecLike;
  if (Array.isArray(root.containers)) check(root, "");
  walk(r.props, "", (_key, value, at) => {
    if (value && typeof value === "object" && Array.isArray((value as PodSpecLike).containers))
      check(value as PodSpecLike, at);
  });
  return out;
}

/** Every key of a Kubernetes Secret's data/stringData must be a Pulumi secret (or the map as a whole). */
export function plainSecretData(r: PolicyInput): string[] {
  if (r.type !== "kubernetes:core/v1:Secret") return [];
  if (r.secretPaths === undefined) return [`${r.name}: cannot tell whether its data is secret`];
  const secret = new Set(r.secretPaths);
  const out: string[] = [];
  for (const field of ["data", "stringData"]) {
    const map = r.props[field];
    if (map === undefined || map === null) continue;
    if (secret.has(field) || secret.has("(root)")) continue;
    if (typeof map !== "object") {
      out.push(`${r.name}: ${field} is not a map`);
      continue;
    }
    for (const key of Object.keys(map as object))
      if (!secret.has(`${field}.${key}`)) out.push(`${r.name}: ${field}.${key} is not a Pulumi secret`);
  }
  return out;
}

/** How the gateway Deployment is known: its component label or its name (components/app). */
export const GATEWAY_COMPONENT = "gateway";

export const isGatewayDeployment = (r: PolicyInput): boolean => {
  if (r.type !== "kubernetes:apps/v1:Deployment") return false;
  const meta = (r.props.metadata ?? {}) as { name?: string; labels?: Record<string, string> };
  return (
    meta.labels?.["app.kubernetes.io/component"] === GATEWAY_COMPONENT || meta.name === GATEWAY_COMPONENT
  );
};

/** Over the whole stack: in production, the gateway runs at least two replicas (when it is deployed). */
export function gatewayReplicas(
  resources: readonly PolicyInput[],
  environment: string | undefined,
): string[] {
  if (environment !== "production") return [];
  return resources.filter(isGatewayDeployment).flatMap((r) => {
    const replicas = (r.props.spec as { replicas?: number } | undefined)?.replicas ?? 1;
    return replicas >= 2
      ? []
      : [`${r.name}: production gateway has ${replicas} replica(s); needs at least 2`];
  });
}

export const RESOURCE_RULES = {
  "no-admin-ports-to-the-world": {
    description: "No security-group rule opens 22, 6443 or all ports to 0.0.0.0/0 or ::/0.",
    check: openAdminPorts,
  },
  "pinned-images": {
    description: "Every container image is pinned to a tag (not latest) or a digest.",
    check: unpinnedImages,
  },
  "gpu-pods-tolerate-gpu-taint": {
    description: `Pods that request nvidia.com/gpu tolerate the ${GPU_NODE_TAINT.key} taint of the GPU nodes.`,
    check: gpuPodsWithoutToleration,
  },
} as const;
