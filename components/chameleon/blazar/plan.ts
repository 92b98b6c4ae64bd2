import { ChameleonCluster, GpuWindow } from "../clusterSpec";
import { Site } from "../sites";
import { ReservationSpec } from "./leaseSpec";
import { suEstimate } from "./su";

/**
 * The leases a Chameleon cluster needs, as plain data: one VM lease at the compute site (starts at
 * `pulumi up`, `vmLeaseHours` long) and one GPU lease per window at the GPU site. The Reservations
 * component declares exactly these; the offline plan shows them with their SU cost.
 */
export interface PlannedLease {
  /**
   * Resource-name suffix: `vm` or `gpu-<window start>` (`gpu-20270105t1400`). Named by the window's
   * start, not its place in the list, so removing an ended window renames no other lease.
   */
  role: string;
  /** The lease's name in Blazar: `<environment>-vm`, `<environment>-gpu-<window start>`. */
  leaseName: string;
  site: Site;
  /** `now` for the VM lease, the window's start (UTC, `YYYY-MM-DD HH:MM`) for a GPU lease. */
  start: string;
  hours: number;
  kind: "physical:host" | "flavor:instance";
  /** Hosts or instances reserved, all reservations together. */
  nodes: number;
  reservations: ReservationSpec[];
  window?: GpuWindow;
  /** Chameleon SUs for the whole lease (su.ts); undefined when a flavor's rate is unknown. */
  su?: number;
}

export function planLeases(cluster: ChameleonCluster, environment: string): PlannedLease[] {
  const { nodes, gpu, sites } = cluster;
  const vmSu = [
    suEstimate({ kind: "flavor:instance", flavor: nodes.serverFlavor }, nodes.vmLeaseHours, 1, cluster.su),
    suEstimate(
      { kind: "flavor:instance", flavor: nodes.agentFlavor },
      nodes.vmLeaseHours,
      nodes.agentCount,
      cluster.su,
    ),
  ];
  const leases: PlannedLease[] = [
    {
      role: "vm",
      leaseName: `${environment}-vm`,
      site: sites.compute,
      start: "now",
      hours: nodes.vmLeaseHours,
      kind: "flavor:instance",
      nodes: 1 + nodes.agentCount,
      reservations: [
        // Server first, agents second: Reservations reads the reserved flavors in this order.
        { resourceType: "flavor:instance", flavorName: nodes.serverFlavor, amount: 1 },
        { resourceType: "flavor:instance", flavorName: nodes.agentFlavor, amount: nodes.agentCount },
      ],
      su: vmSu.every((s) => s !== undefined) ? round(vmSu[0]! + vmSu[1]!) : undefined,
    },
  ];
  if (gpu.nodeCount === 0) return leases;

  const reservation = gpu.reservation;
  for (const window of gpu.windows) {
    leases.push({
      role: `gpu-${window.key}`,
      leaseName: `${environment}-gpu-${window.key}`,
      site: sites.gpu,
      start: window.start,
      hours: window.hours,
      kind: reservation.kind,
      nodes: gpu.nodeCount,
      reservations: [
        reservation.kind === "physical:host"
          ? {
              resourceType: "physical:host",
              // Chameleon's query language: a single "=" ("==" fails the request).
              resourceProperties: JSON.stringify(["=", "$node_type", reservation.nodeType]),
              min: gpu.nodeCount,
              max: gpu.nodeCount,
            }
          : { resourceType: "flavor:instance", flavorName: reservation.flavor, amount: gpu.nodeCount },
      ],
      window,
      su: suEstimate(reservation, window.hours, gpu.nodeCount, cluster.su),
    });
  }
  return leases;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
