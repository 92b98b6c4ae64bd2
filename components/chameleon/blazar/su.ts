/**
 * What a reservation costs in Chameleon Service Units (SU), for the offline plan.
 *
 * Rates used, and where they come from:
 * - Bare metal (`physical:host`): 1 SU per node-hour. Chameleon's docs define one SU as "one hour of
 *   wall clock time on a base bare metal server" (ChameleonCloud/docs, user/project.rst). The FAQ
 *   they point to lists higher rates for some specialised hardware; it could not be read here, so for
 *   GPU node types this is the base rate and a lower bound.
 * - KVM flavors (`flavor:instance`): a VM-hour is charged by the flavor's vCPUs, as its share of the
 *   host it runs on: SU/hour = flavor vCPUs / host vCPUs × the host's rate (1). That is the formula of
 *   Chameleon's balance service for flavor reservations (hours × su_factor × vcpus / host vcpus, in
 *   its tests). Flavor sizes are from Chameleon's flavor list (technical/reservations/cli_reservations.rst);
 *   host sizes are assumptions from the documented hardware (kvm_hardware.rst): m1 flavors run on
 *   2 × Xeon E5-2670 v3 (48 threads), g1.h100 flavors on 2 × Xeon Platinum 8468 (192 threads, four
 *   H100s, so g1.h100.pci.1 is a quarter host).
 * A flavor not in the table has no estimate (undefined) rather than a made-up one.
 */

export type SuReservation = { kind: "physical:host" } | { kind: "flavor:instance"; flavor: string };

export const BARE_METAL_SU_PER_NODE_HOUR = 1;

export const KVM_FLAVORS: Readonly<Record<string, { vcpus: number; hostVcpus: number }>> = {
  "m1.tiny": { vcpus: 1, hostVcpus: 48 },
  "m1.small": { vcpus: 1, hostVcpus: 48 },
  "m1.medium": { vcpus: 2, hostVcpus: 48 },
  "m1.large": { vcpus: 4, hostVcpus: 48 },
  "m1.xlarge": { vcpus: 8, hostVcpus: 48 },
  "m1.xxlarge": { vcpus: 16, hostVcpus: 48 },
  "g1.h100.pci.1": { vcpus: 48, hostVcpus: 192 },
};

/** SU per hour of a bare-metal host and of a whole KVM host; config suPerBareMetalNodeHour, suPerKvmHostHour. */
export interface SuRates {
  bareMetalPerNodeHour: number;
  kvmHostPerHour: number;
}

/** SUs for `count` nodes (hosts or instances) held for `hours`, rounded to 0.01; undefined if no rate is known. */
export function suEstimate(
  reservation: SuReservation,
  hours: number,
  count: number,
  rates: SuRates = {
    bareMetalPerNodeHour: BARE_METAL_SU_PER_NODE_HOUR,
    kvmHostPerHour: BARE_METAL_SU_PER_NODE_HOUR,
  },
): number | undefined {
  if (!(hours >= 0) || !(count >= 0)) {
    throw new Error(`suEstimate: hours (${hours}) and count (${count}) must be zero or more`);
  }
  let perHour: number;
  if (reservation.kind === "physical:host") {
    perHour = rates.bareMetalPerNodeHour;
  } else {
    const flavor = KVM_FLAVORS[reservation.flavor];
    if (!flavor) return undefined;
    perHour = (flavor.vcpus / flavor.hostVcpus) * rates.kvmHostPerHour;
  }
  return Math.round(perHour * hours * count * 100) / 100;
}
