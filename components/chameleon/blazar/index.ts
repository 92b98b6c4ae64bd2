export { Lease } from "./lease";
export type { LeaseArgs } from "./lease";
export { leaseProvider } from "./leaseProvider";
export type {
  FlavorReservationSpec,
  HostReservationSpec,
  LeaseInputs,
  LeaseOutputs,
  ReservationSpec,
  ReservationState,
} from "./leaseSpec";
export { planLeases } from "./plan";
export type { PlannedLease } from "./plan";
export { BARE_METAL_SU_PER_NODE_HOUR, KVM_FLAVORS, suEstimate } from "./su";
export type { SuReservation } from "./su";
