import * as pulumi from "@pulumi/pulumi";
import { PROJECT } from "../contracts";
import { ChameleonCluster, GpuWindow, SiteCredential } from "./clusterSpec";
import { SiteId } from "./sites";
import { Lease } from "./blazar/lease";
import { PlannedLease, planLeases } from "./blazar/plan";

export interface ReservationsArgs {
  cluster: ChameleonCluster;
  environment: string;
}

export interface LeaseSummary {
  leaseId: string;
  reservationIds: string[];
  start: string;
  end: string;
  status: string;
}

export interface GpuLeaseSummary {
  /** The window as written in config, e.g. 2027-01-05T14:00Z/4h. */
  window: string;
  leaseId: string;
  reservationId: string;
  start: string;
  end: string;
  status: string;
}

/** One lease's end, for the lease-ending alerts (components/platform/leaseMetrics.ts). */
export interface LeaseEnd {
  name: string;
  site: SiteId;
  end: string;
  /** `vm`: the k3s VMs' lease; `gpu`: a GPU window's. */
  kind: "vm" | "gpu";
}

export interface ActiveGpu {
  window: GpuWindow;
  /** The Blazar reservation id (not the lease id): bare-metal nodes boot with scheduler_hints.reservation = it. */
  reservationId: pulumi.Output<string>;
  /** `reservation:<reservation id>`, for a flavor:instance GPU reservation (KVM@TACC GPU flavors). */
  flavorName?: pulumi.Output<string>;
}

/**
 * The Blazar leases of a Chameleon cluster: the VM lease at the compute site, whose reserved flavors
 * the k3s server and agents boot from, and one GPU lease per window at the GPU site. Leases are
 * Blazar dynamic resources (blazar/lease.ts); which leases, with what reservations, is decided by
 * the pure planLeases (blazar/plan.ts).
 */
export class Reservations extends pulumi.ComponentResource {
  public readonly vmLease: Lease;
  public readonly gpuLeases: readonly { window: GpuWindow; lease: Lease }[];
  /** Every lease with its hours and SU estimate, for the offline plan. */
  public readonly plan: readonly PlannedLease[];
  /** `reservation:<id>` of the server reservation: the flavor the k3s server boots with. */
  public readonly serverFlavorName: pulumi.Output<string>;
  /** `reservation:<id>` of the agents reservation. */
  public readonly agentFlavorName: pulumi.Output<string>;
  /** The GPU window open at the moment config was loaded, if any; GPU nodes exist only inside one. */
  public readonly activeGpu?: ActiveGpu;
  /** For the `vmLease` stack output. */
  public readonly vmLeaseSummary: pulumi.Output<LeaseSummary>;
  /** For the `gpuLeases` stack output. */
  public readonly gpuLeaseSummary: pulumi.Output<GpuLeaseSummary[]>;
  public readonly leaseEnds: pulumi.Output<LeaseEnd[]>;
  /** gpuWindows entries that have ended: no lease is declared for them (a warning says so). */
  public readonly endedWindows: readonly string[];

  constructor(name: string, args: ReservationsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ssept:chameleon:Reservations", name, {}, opts);
    const { cluster } = args;
    this.plan = planLeases(cluster, args.environment);

    const leaseOf = (planned: PlannedLease): Lease => {
      const credential = credentialFor(cluster, planned.site.id);
      return new Lease(
        `${name}-${planned.role}`,
        {
          site: planned.site,
          credentialId: credential.id,
          credentialSecret: credential.secret,
          credentialKeys: credential.keys,
          leaseName: planned.leaseName,
          start: planned.start,
          hours: planned.hours,
          reservations: planned.reservations,
          suEstimate: planned.su,
        },
        { parent: this },
      );
    };

    const [vm, ...gpu] = this.plan;
    this.vmLease = leaseOf(vm);
    this.gpuLeases = gpu.map((planned) => ({ window: planned.window!, lease: leaseOf(planned) }));

    const ids = this.vmLease.reservationIds;
    this.serverFlavorName = ids.apply((r) => `reservation:${r[0]}`);
    this.agentFlavorName = ids.apply((r) => `reservation:${r[1]}`);

    const active = cluster.gpu.activeWindow;
    const activeLease = active && this.gpuLeases.find((g) => g.window.key === active.key)?.lease;
    if (active && activeLease) {
      const reservationId = activeLease.reservationIds.apply((r) => r[0]);
      this.activeGpu = {
        window: active,
        reservationId,
        flavorName:
          cluster.gpu.reservation.kind === "flavor:instance"
            ? reservationId.apply((id) => `reservation:${id}`)
            : undefined,
      };
    }

    const v = this.vmLease;
    this.vmLeaseSummary = pulumi
      .all([v.leaseId, v.reservationIds, v.startDate, v.endDate, v.status])
      .apply(([leaseId, reservationIds, start, end, status]) => ({
        leaseId,
        reservationIds,
        start,
        end,
        status,
      }));
    this.gpuLeaseSummary = pulumi.all(
      this.gpuLeases.map(({ window, lease }) =>
        pulumi
          .all([lease.leaseId, lease.reservationIds, lease.startDate, lease.endDate, lease.status])
          .apply(([leaseId, reservationIds, start, end, status]) => ({
            window: window.spec,
            leaseId,
            reservationId: reservationIds[0],
            start,
            end,
            status,
          })),
      ),
    );
    const endOf = (planned: PlannedLease, lease: Lease, kind: LeaseEnd["kind"]) =>
      lease.endDate.apply((end): LeaseEnd => ({ name: planned.leaseName, site: planned.site.id, end, kind }));
    this.leaseEnds = pulumi.all([
      endOf(vm, this.vmLease, "vm"),
      ...gpu.map((planned, i) => endOf(planned, this.gpuLeases[i].lease, "gpu")),
    ]);

    this.endedWindows = cluster.gpu.endedWindows.map((w) => w.spec);
    if (this.endedWindows.length > 0) {
      pulumi.log.warn(endedWindowsWarning(this.endedWindows), this);
    }

    this.registerOutputs({
      serverFlavorName: this.serverFlavorName,
      agentFlavorName: this.agentFlavorName,
      vmLeaseSummary: this.vmLeaseSummary,
      gpuLeaseSummary: this.gpuLeaseSummary,
      leaseEnds: this.leaseEnds,
    });
  }
}

/** What `pulumi up` and the offline plan say about ended windows. */
export function endedWindowsWarning(specs: readonly string[]): string {
  return (
    `gpuWindows: ${specs.join(", ")} ${specs.length === 1 ? "has" : "have"} ended and ` +
    `${specs.length === 1 ? "is" : "are"} ignored (no lease; a lease still in the state is deleted). ` +
    `Remove ${specs.length === 1 ? "it" : "them"} from the list; nothing else changes, since leases and GPU nodes are named by their window's start.`
  );
}

/** The application credential leases at `site` are made with; a missing one names its config keys. */
export function credentialFor(cluster: ChameleonCluster, site: SiteId): SiteCredential {
  const credential = cluster.credentials[site];
  if (!credential) {
    const prefix = site.replace(/-(\w)/g, (_m, c: string) => c.toUpperCase());
    throw new Error(
      `${PROJECT}:${prefix}CredentialId and ${PROJECT}:${prefix}CredentialSecret are required: ` +
        `site ${site} holds a Blazar lease and each lease is made with that site's application credential`,
    );
  }
  return credential;
}
