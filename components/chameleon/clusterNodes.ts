import { ChameleonCluster, GpuReservation, GpuWindow } from "./clusterSpec";
import { SiteId } from "./sites";

/**
 * Which machines the k3s cluster has, where, how they are reached and how GPU nodes are placed:
 * pure planning, tested without mocks.
 */

export type NodeRole = "server" | "agent" | "gpu";

/** The floating IP (a role of the compute site's Network) the server holds; it is also the SSH bastion. */
export const SERVER_FLOATING_IP_ROLE = "ingress";

export interface NodePlan {
  role: NodeRole;
  /** Suffix of the node's resource names: `server`, `agent-0`, `gpu-0`. */
  key: string;
  /** Instance name and Kubernetes node name. */
  hostname: string;
  site: SiteId;
  image: string;
  /** `direct`: SSH to its own floating IP. `bastion`: SSH to its private IP through the server. */
  access: "direct" | "bastion";
  /** The floating IP role, in its site's Network, the node holds. */
  floatingIpRole?: string;
}

/** GPU nodes at another site than the server join over the internet (flannel over WireGuard). */
export function crossSiteGpu(config: ChameleonCluster): boolean {
  return config.gpu.nodeCount > 0 && config.sites.gpu.id !== config.sites.compute.id;
}

/** Floating IP roles the GPU site's Network must allocate: one per GPU node, only when it is another site. */
export function gpuFloatingIpRoles(config: ChameleonCluster): string[] {
  return crossSiteGpu(config) ? Array.from({ length: config.gpu.nodeCount }, (_, i) => `gpu-${i}`) : [];
}

/**
 * The server, `agentCount` agents, and — only inside an active GPU window — `gpu.nodeCount` GPU
 * nodes. GPU hostnames carry the window's start (`w20270105t1400`): a node of the next window is a
 * new Kubernetes node (k3s refuses a new machine under a name whose password it already holds), and
 * removing an ended window from the list renames nothing.
 */
export function planNodes(
  environment: string,
  config: ChameleonCluster,
  activeWindow?: GpuWindow,
): NodePlan[] {
  const prefix = `ssept-${environment}`;
  const compute = config.sites.compute.id;
  const nodes: NodePlan[] = [
    {
      role: "server",
      key: "server",
      hostname: `${prefix}-k3s-server`,
      site: compute,
      image: config.nodes.vmImage,
      access: "direct",
      floatingIpRole: SERVER_FLOATING_IP_ROLE,
    },
  ];
  for (let i = 0; i < config.nodes.agentCount; i++) {
    nodes.push({
      role: "agent",
      key: `agent-${i}`,
      hostname: `${prefix}-k3s-agent-${i}`,
      site: compute,
      image: config.nodes.vmImage,
      access: "bastion",
    });
  }
  if (activeWindow) {
    const remote = crossSiteGpu(config);
    const roles = gpuFloatingIpRoles(config);
    for (let i = 0; i < config.gpu.nodeCount; i++) {
      nodes.push({
        role: "gpu",
        key: `gpu-${i}`,
        hostname: `${prefix}-gpu-w${activeWindow.key}-${i}`,
        site: config.sites.gpu.id,
        image: config.gpu.image,
        access: remote ? "direct" : "bastion",
        floatingIpRole: remote ? roles[i] : undefined,
      });
    }
  }
  for (const node of nodes) {
    if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(node.hostname)) {
      throw new Error(`node name ${node.hostname} is not a DNS label (environment ${environment})`);
    }
  }
  return nodes;
}

/** What the GPU reservation gives a GPU instance to boot on. */
export interface ActiveGpuReservation<T> {
  /** Blazar reservation id (not the lease id). */
  reservationId: T;
  /** The reserved flavor, for `flavor:instance` reservations. */
  flavorName?: T;
}

export interface GpuPlacement<T> {
  flavorName: T | string;
  schedulerHints?: { additionalProperties: { reservation: T } }[];
}

/**
 * Bare metal (`physical:host`): the `baremetal` flavor, and Nova's scheduler hint
 * `reservation=<reservation id>` that sends the instance to the reserved host. KVM
 * (`flavor:instance`): the flavor Blazar created for the reservation, no hint.
 */
export function gpuPlacement<T>(
  reservation: GpuReservation,
  active: ActiveGpuReservation<T>,
): GpuPlacement<T> {
  if (reservation.kind === "physical:host") {
    return {
      flavorName: "baremetal",
      schedulerHints: [{ additionalProperties: { reservation: active.reservationId } }],
    };
  }
  if (active.flavorName === undefined) {
    throw new Error(
      `gpuFlavor ${reservation.flavor}: a flavor:instance GPU reservation must give the reserved flavor's name (activeGpu.flavorName)`,
    );
  }
  return { flavorName: active.flavorName };
}
