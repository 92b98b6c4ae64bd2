import * as pulumi from "@pulumi/pulumi";
import { Site, SiteId } from "./sites";

/**
 * What the Chameleon components take to reserve and build a cluster: sites, credentials, network,
 * nodes and GPU windows. `stacks/config.ts` produces it from the validated stack config.
 */

export type Secret = pulumi.Output<string>;

export interface GpuWindow {
  /** Position in gpuWindows, for messages only: removing an ended window shifts it. */
  index: number;
  /**
   * The window's start, `20270105t1400`: leases and GPU nodes are named by it, so that removing
   * another window from the list renames (and replaces) nothing.
   */
  key: string;
  /** As written in config, e.g. 2027-01-05T14:00Z/4h. */
  spec: string;
  /** Blazar's date format, UTC: `YYYY-MM-DD HH:MM`. */
  start: string;
  end: string;
  hours: number;
  startsAt: Date;
  endsAt: Date;
}

export type GpuReservation =
  { kind: "physical:host"; nodeType: string } | { kind: "flavor:instance"; flavor: string };

export interface SiteCredential {
  site: Site;
  id: string;
  secret: Secret;
  /** The full config keys holding it: Blazar's provider re-reads them at refresh and destroy. */
  keys: { id: string; secret: string };
}

export interface ChameleonCluster {
  mode: "chameleon";
  sites: { compute: Site; gpu: Site; objectStore: Site };
  /** One credential per site in use. */
  credentials: Readonly<Partial<Record<SiteId, SiteCredential>>>;
  adminCidrs: readonly string[];
  keyPairName: string;
  sshPrivateKey: Secret;
  network: {
    externalNetwork: string;
    subnetCidr: string;
    gpuSubnetCidr: string;
    sporadicFloatingIp: boolean;
  };
  k3sVersion: string;
  nodes: {
    vmImage: string;
    serverFlavor: string;
    agentFlavor: string;
    agentCount: number;
    vmLeaseHours: number;
  };
  dataVolumeGb: number;
  /** Chameleon SU rates for the plan's estimates (config suPerBareMetalNodeHour, suPerKvmHostHour). */
  su: {
    bareMetalPerNodeHour: number;
    kvmHostPerHour: number;
    /** False while the bare-metal rate is the base default: GPU host estimates are then lower bounds. */
    bareMetalRateSet: boolean;
  };
  gpu: {
    nodeCount: number;
    image: string;
    reservation: GpuReservation;
    /** The windows that have not ended when the config was loaded: each gets a lease. */
    windows: readonly GpuWindow[];
    /** Windows in gpuWindows that have ended: ignored (no lease), with a warning to remove them. */
    endedWindows: readonly GpuWindow[];
    /** The window that contains the moment the config was loaded; GPU nodes exist only inside one. */
    activeWindow?: GpuWindow;
  };
}
