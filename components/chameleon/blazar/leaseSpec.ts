import { addHours, formatBlazarDate, isBlazarDate, normalizeBlazarDate, parseBlazarDate } from "./dates";

/**
 * What a lease is made of, as plain data: the dynamic provider's inputs and outputs, their
 * validation, the Blazar request they turn into, and how a change between two of them is carried
 * out. Pure functions only; the provider (leaseProvider.ts) adds the HTTP calls.
 */

/** Whole bare-metal hosts chosen by properties, e.g. `["=","$node_type","gpu_a100_pcie"]`. */
export interface HostReservationSpec {
  resourceType: "physical:host";
  /** A JSON-encoded Blazar filter expression (a string, as Blazar takes it). */
  resourceProperties: string;
  min: number;
  max: number;
  hypervisorProperties?: string;
}

/** `amount` instances of a flavor at a KVM site; name or id (names are resolved through Nova at create). */
export interface FlavorReservationSpec {
  resourceType: "flavor:instance";
  flavorId?: string;
  flavorName?: string;
  amount: number;
}

export type ReservationSpec = HostReservationSpec | FlavorReservationSpec;

/**
 * The stack config keys (with their namespace, e.g. `sse-pt-platform:kvmTaccCredentialId`) that hold
 * the lease's application credential. The engine hands the dynamic provider the stack's config when
 * it configures it, so read and delete authenticate with the credential the stack has now, not the
 * one recorded in the state when the lease was last written.
 */
export interface CredentialConfigKeys {
  id: string;
  secret: string;
}

export interface LeaseInputs {
  authUrl: string;
  region: string;
  /** The credential as the program saw it; stack config under credentialKeys, when given, wins. */
  credentialId: string;
  credentialSecret: string;
  credentialKeys?: CredentialConfigKeys;
  /** The lease's name in Blazar (unique within the project). */
  name: string;
  /** `now` or `YYYY-MM-DD HH:MM` (UTC). */
  start: string;
  /** Exactly one of end and hours. */
  end?: string;
  /** Length from the start; for a `now` lease the end is fixed at create and moves when hours change. */
  hours?: number;
  reservations: ReservationSpec[];
  /** How long create waits for ACTIVE (or PENDING, for a lease that starts later). Default 900 s. */
  waitTimeoutSeconds?: number;
  /** Pause between two polls of the lease. Default 10 s. */
  pollIntervalSeconds?: number;
  /** Limit of each HTTP request. Default 60 s. */
  requestTimeoutSeconds?: number;
  /** Informational, for the offline plan: what the lease costs in Chameleon SUs. Never sent to Blazar. */
  suEstimate?: number;
}

export interface ReservationState {
  id: string;
  resourceType: string;
  status: string;
  /** The flavor the reservation was made for (flavor:instance only). */
  flavorId?: string;
  /** The private flavor Blazar made for it; KVM instances boot with it. Its id is the reservation id. */
  reservedFlavorId?: string;
  /** `reservation:<reservation id>`, the name Nova shows for the reserved flavor. */
  reservedFlavorName?: string;
}

export interface LeaseOutputs extends LeaseInputs {
  leaseId: string;
  /** Blazar's lease status at the last create/update/refresh: ACTIVE, or PENDING for a lease that starts later. */
  status: string;
  /** UTC, `YYYY-MM-DD HH:MM`. */
  startDate: string;
  endDate: string;
  /** One per entry of `reservations`, in the same order. */
  reservationIds: string[];
  reservationDetails: ReservationState[];
}

/** Blazar's lease, as GET/POST/PUT /v1/leases answer it (the fields used here). */
export interface BlazarLease {
  id: string;
  name: string;
  start_date: string;
  end_date: string;
  status: string;
  reservations: BlazarReservation[];
}

export interface BlazarReservation {
  id: string;
  resource_type: string;
  status?: string;
  min?: number;
  max?: number;
  amount?: number;
  resource_properties?: string;
  flavor_id?: string;
}

export const DEFAULT_WAIT_SECONDS = 900;
export const DEFAULT_POLL_SECONDS = 10;
export const DEFAULT_REQUEST_SECONDS = 60;

/** Statuses after which a lease holds nothing any more; such a lease is replaced, not kept. */
export const FINISHED_STATUSES = ["TERMINATING", "TERMINATED", "ERROR", "DELETING"];

export interface InputProblem {
  property: string;
  reason: string;
}

/** The engine's placeholder for a value not known during preview; such values are checked later. */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

function unknown(value: unknown): boolean {
  return value === UNKNOWN;
}

/**
 * Every problem with a lease's inputs, each naming the property. `now` is the clock end dates are
 * judged against. Values the engine does not know yet are skipped.
 */
export function leaseInputProblems(inputs: Record<string, unknown>, now: Date): InputProblem[] {
  const problems: InputProblem[] = [];
  const fail = (property: string, reason: string) => problems.push({ property, reason });
  const text = (k: string, what: string) => {
    const v = inputs[k];
    if (unknown(v)) return;
    if (typeof v !== "string" || v.trim() === "") fail(k, `${what}: expected a non-empty string`);
  };

  if (!unknown(inputs.authUrl) && !/^https?:\/\/[^\s/]+/.test(String(inputs.authUrl ?? ""))) {
    fail("authUrl", `Keystone URL ${JSON.stringify(inputs.authUrl)}: expected http(s)://host[:port]/v3`);
  }
  text("region", "region");
  text("credentialId", "application credential id");
  text("credentialSecret", "application credential secret");
  const keys = inputs.credentialKeys as Record<string, unknown> | undefined | null;
  if (keys !== undefined && keys !== null && !unknown(keys)) {
    for (const part of ["id", "secret"]) {
      const key = typeof keys === "object" ? keys[part] : undefined;
      if (!unknown(key) && (typeof key !== "string" || !/^[^\s:]+:[^\s:]+$/.test(key))) {
        fail(
          `credentialKeys.${part}`,
          `${JSON.stringify(key)}: expected a stack config key with its namespace, e.g. sse-pt-platform:kvmTaccCredentialId`,
        );
      }
    }
  }
  text("name", "lease name");
  if (typeof inputs.name === "string" && inputs.name.length > 80) {
    fail("name", `lease name ${inputs.name}: at most 80 characters`);
  }

  const start = inputs.start;
  if (!unknown(start) && start !== "now" && !isBlazarDate(start)) {
    fail("start", `start ${JSON.stringify(start)}: expected "now" or a UTC date YYYY-MM-DD HH:MM`);
  }
  const hasEnd = inputs.end !== undefined && inputs.end !== null;
  const hasHours = inputs.hours !== undefined && inputs.hours !== null;
  if (hasEnd === hasHours) {
    fail(
      hasEnd ? "hours" : "end",
      "exactly one of end (a date) and hours (a length from the start) is required",
    );
  } else if (hasEnd && !unknown(inputs.end)) {
    if (!isBlazarDate(inputs.end)) {
      fail("end", `end ${JSON.stringify(inputs.end)}: expected a UTC date YYYY-MM-DD HH:MM`);
    } else {
      const end = parseBlazarDate(inputs.end);
      if (end <= now) fail("end", `end ${inputs.end}: already passed (now is ${formatBlazarDate(now)} UTC)`);
      if (isBlazarDate(start) && end <= parseBlazarDate(start)) {
        fail("end", `end ${inputs.end}: must be after start ${start}`);
      }
    }
  } else if (hasHours && !unknown(inputs.hours)) {
    const hours = inputs.hours;
    if (typeof hours !== "number" || !(hours > 0) || Math.abs(hours * 60 - Math.round(hours * 60)) > 1e-9) {
      fail("hours", `hours ${JSON.stringify(hours)}: expected a positive number of whole minutes`);
    } else if (isBlazarDate(start) && parseBlazarDate(addHours(start, hours)) <= now) {
      fail("hours", `${start} + ${hours} h: already over (now is ${formatBlazarDate(now)} UTC)`);
    }
  }

  for (const k of ["waitTimeoutSeconds", "pollIntervalSeconds", "requestTimeoutSeconds"]) {
    const v = inputs[k];
    if (v !== undefined && !unknown(v) && !(typeof v === "number" && v > 0)) {
      fail(k, `${k} ${JSON.stringify(v)}: expected a positive number of seconds`);
    }
  }

  const reservations = inputs.reservations;
  if (unknown(reservations)) return problems;
  if (!Array.isArray(reservations) || reservations.length === 0) {
    fail("reservations", "at least one reservation (physical:host or flavor:instance) is required");
    return problems;
  }
  reservations.forEach((r: Record<string, unknown>, i) => {
    const at = `reservations[${i}]`;
    const count = (k: string) => {
      const v = r?.[k];
      if (!unknown(v) && !(typeof v === "number" && Number.isInteger(v) && v >= 1)) {
        fail(`${at}.${k}`, `${k} ${JSON.stringify(v)}: expected an integer of at least 1`);
      }
    };
    if (r?.resourceType === "physical:host") {
      const props = r.resourceProperties;
      if (!unknown(props) && (typeof props !== "string" || !isJsonArrayOrEmpty(props))) {
        fail(
          `${at}.resourceProperties`,
          `resourceProperties ${JSON.stringify(props)}: expected a JSON-encoded filter such as ["=","$node_type","gpu_a100_pcie"]`,
        );
      }
      count("min");
      count("max");
      if (typeof r.min === "number" && typeof r.max === "number" && r.min > r.max) {
        fail(`${at}.min`, `min ${r.min} is larger than max ${r.max}`);
      }
    } else if (r?.resourceType === "flavor:instance") {
      const named = [r.flavorId, r.flavorName].filter((v) => v !== undefined && v !== null);
      if (named.length !== 1) {
        fail(`${at}.flavorId`, "exactly one of flavorId and flavorName is required");
      } else if (!unknown(named[0]) && (typeof named[0] !== "string" || named[0].trim() === "")) {
        fail(`${at}.${r.flavorId !== undefined ? "flavorId" : "flavorName"}`, "expected a non-empty string");
      }
      count("amount");
    } else {
      fail(
        `${at}.resourceType`,
        `resourceType ${JSON.stringify(r?.resourceType)}: expected physical:host or flavor:instance`,
      );
    }
  });
  return problems;
}

function isJsonArrayOrEmpty(text: string): boolean {
  if (text === "") return true;
  try {
    return Array.isArray(JSON.parse(text));
  } catch {
    return false;
  }
}

/** The lease's previous state, as far as computing its end needs it. */
export type PreviousLease = Pick<LeaseOutputs, "start" | "hours" | "startDate" | "endDate">;

/**
 * The end the lease should have. With `end`, that date. With `hours` and a dated start, start +
 * hours. With `hours` and `now`, the end fixed at create (now + hours) moved by the change in hours,
 * so that raising hours extends the running lease instead of restarting the clock.
 */
export function plannedEnd(inputs: LeaseInputs, previous: PreviousLease | undefined, now: Date): string {
  if (inputs.end !== undefined) return inputs.end;
  const hours = inputs.hours as number;
  if (inputs.start !== "now") return addHours(inputs.start, hours);
  if (!previous) return addHours(formatBlazarDate(now), hours);
  if (previous.start === "now" && previous.hours !== undefined) {
    return addHours(previous.endDate, hours - previous.hours);
  }
  return addHours(previous.startDate, hours);
}

/**
 * POST /v1/leases body. A dated start that has already passed (a window that began before the lease
 * was made) goes as `now`: Blazar refuses start dates in the past.
 */
export function leaseRequestBody(
  inputs: LeaseInputs,
  flavorIds: readonly (string | undefined)[],
  now: Date,
): Record<string, unknown> {
  const startNow = inputs.start === "now" || parseBlazarDate(inputs.start) <= now;
  return {
    name: inputs.name,
    start_date: startNow ? "now" : inputs.start,
    end_date: plannedEnd(inputs, undefined, now),
    reservations: inputs.reservations.map((r, i) =>
      r.resourceType === "physical:host"
        ? {
            resource_type: "physical:host",
            min: r.min,
            max: r.max,
            resource_properties: r.resourceProperties,
            hypervisor_properties: r.hypervisorProperties ?? "",
          }
        : {
            resource_type: "flavor:instance",
            flavor_id: r.flavorId ?? flavorIds[i],
            amount: r.amount,
            // Blazar's flavor plugin requires the key and rejects any affinity but none.
            affinity: "None",
          },
    ),
    events: [],
  };
}

/** Whether the lease must wait for ACTIVE (it starts now or within the wait bound) or only for PENDING. */
export function waitsForActive(body: Record<string, unknown>, waitSeconds: number, now: Date): boolean {
  if (body.start_date === "now") return true;
  return parseBlazarDate(String(body.start_date)).getTime() - now.getTime() <= waitSeconds * 1000;
}

/**
 * Pairs each requested reservation with the one Blazar made for it. Blazar does not promise to keep
 * the request order, so a reservation is matched on what it asked for (flavor and amount, or
 * properties and counts); identical requests are interchangeable, so their order does not matter.
 */
export function matchReservations(
  specs: readonly ReservationSpec[],
  made: readonly BlazarReservation[],
  flavorIds: readonly (string | undefined)[],
): ReservationState[] {
  const left = [...made];
  return specs.map((spec, i) => {
    const sameType = left.filter((r) => r.resource_type === spec.resourceType);
    const exact = sameType.find((r) =>
      sameRequest(
        spec,
        r,
        spec.resourceType === "flavor:instance" ? (spec.flavorId ?? flavorIds[i]) : undefined,
      ),
    );
    const chosen = exact ?? sameType[0];
    if (!chosen) {
      throw new Error(`Blazar's answer has no ${spec.resourceType} reservation for reservations[${i}]`);
    }
    left.splice(left.indexOf(chosen), 1);
    const state: ReservationState = {
      id: chosen.id,
      resourceType: chosen.resource_type,
      status: chosen.status ?? "",
    };
    if (spec.resourceType === "flavor:instance") {
      const flavorId = spec.flavorId ?? flavorIds[i];
      if (flavorId !== undefined) state.flavorId = flavorId;
      state.reservedFlavorId = chosen.flavor_id ?? chosen.id;
      state.reservedFlavorName = `reservation:${chosen.id}`;
    }
    return state;
  });
}

function sameRequest(spec: ReservationSpec, made: BlazarReservation, flavorId: string | undefined): boolean {
  if (spec.resourceType === "physical:host") {
    return (
      made.min === spec.min &&
      made.max === spec.max &&
      normalJson(made.resource_properties ?? "") === normalJson(spec.resourceProperties)
    );
  }
  if (made.amount !== spec.amount) return false;
  // The flavor plugin keeps the source flavor, as JSON, in resource_properties.
  const source = parseObject(made.resource_properties);
  return flavorId === undefined || source?.id === undefined || String(source.id) === flavorId;
}

function normalJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return text;
  }
}

function parseObject(text: string | undefined): Record<string, unknown> | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text);
    return v && typeof v === "object" && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The provider's outputs: every input, plus what Blazar made. */
export function leaseOutputs(
  inputs: LeaseInputs,
  lease: BlazarLease,
  flavorIds: readonly (string | undefined)[],
): LeaseOutputs {
  const details = matchReservations(inputs.reservations, lease.reservations ?? [], flavorIds);
  return {
    ...inputs,
    leaseId: lease.id,
    status: lease.status,
    startDate: normalizeBlazarDate(lease.start_date),
    endDate: normalizeBlazarDate(lease.end_date),
    reservationIds: details.map((d) => d.id),
    reservationDetails: details,
  };
}

/** Flavor ids resolved at create, kept in the state so that later reads can match reservations again. */
export function knownFlavorIds(outputs: Pick<LeaseOutputs, "reservationDetails">): (string | undefined)[] {
  return (outputs.reservationDetails ?? []).map((d) => d.flavorId);
}

/** True when the lease holds nothing any more: it ended, failed, or Blazar is tearing it down. */
export function leaseIsOver(outputs: Pick<LeaseOutputs, "status" | "endDate">, now: Date): boolean {
  return FINISHED_STATUSES.includes(outputs.status) || parseBlazarDate(outputs.endDate) <= now;
}

const REPLACING_KEYS = ["authUrl", "region", "name", "start"] as const;
/** Inputs that only change how the provider talks to Blazar; a change is recorded, nothing is sent. */
const LOCAL_KEYS = [
  "credentialId",
  "credentialSecret",
  "credentialKeys",
  "waitTimeoutSeconds",
  "pollIntervalSeconds",
  "requestTimeoutSeconds",
  "suEstimate",
  "end",
  "hours",
] as const;

export interface LeaseDiff {
  changes: boolean;
  replaces: string[];
  /** The end Blazar must be given by an in-place update, when it moves. */
  newEnd?: string;
  /** The lease's start has come but the state still says PENDING/STARTING: update waits for ACTIVE. */
  activate?: boolean;
}

/** Statuses of a lease that Blazar has accepted but not yet started. */
export const WAITING_STATUSES = ["PENDING", "STARTING"];

/**
 * True when the lease should be running by now but was last seen before it started: instances on
 * its reservations cannot boot until it is ACTIVE (the first minutes of a GPU window).
 */
export function awaitsStart(outputs: Pick<LeaseOutputs, "status" | "startDate">, now: Date): boolean {
  return WAITING_STATUSES.includes(outputs.status) && parseBlazarDate(outputs.startDate) <= now;
}

/**
 * How a change is carried out. Only the end moves in place (PUT end_date); the site, name, start or
 * reservations replace the lease, and so does a lease that is over (ended, terminated, failed),
 * which is how an expired lease gets recreated by the next `pulumi up`.
 */
export function diffLease(olds: LeaseOutputs, news: LeaseInputs, now: Date): LeaseDiff {
  const replaces: string[] = REPLACING_KEYS.filter((k) => olds[k] !== news[k]);
  if (!sameReservations(olds.reservations, news.reservations)) replaces.push("reservations");
  if (leaseIsOver(olds, now)) replaces.push("status");
  if (replaces.length > 0) return { changes: true, replaces };

  const end = plannedEnd(news, olds, now);
  const newEnd = end !== olds.endDate ? end : undefined;
  const activate = awaitsStart(olds, now);
  const changes =
    newEnd !== undefined ||
    activate ||
    LOCAL_KEYS.some((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
  return activate ? { changes, replaces, newEnd, activate } : { changes, replaces, newEnd };
}

/**
 * Why an existing Blazar lease with the lease's name is not the one these inputs would make, or
 * undefined when it is (same reservations, same window): create adopts such a lease, which is how a
 * create whose result the engine lost (Ctrl-C, a crash) is finished by the next `pulumi up`.
 * `body` is the request create would send; `flavorIds` the flavors it resolved.
 */
export function adoptionMismatch(
  existing: BlazarLease,
  inputs: LeaseInputs,
  body: Record<string, unknown>,
  flavorIds: readonly (string | undefined)[],
  now: Date,
): string | undefined {
  if (FINISHED_STATUSES.includes(existing.status)) return `it is ${existing.status}`;
  const made = [...(existing.reservations ?? [])];
  const wanted = inputs.reservations.map((spec, i) => {
    const flavorId = spec.resourceType === "flavor:instance" ? (spec.flavorId ?? flavorIds[i]) : undefined;
    const at = made.findIndex((r) => r.resource_type === spec.resourceType && sameRequest(spec, r, flavorId));
    if (at >= 0) made.splice(at, 1);
    return at >= 0;
  });
  if (wanted.includes(false) || made.length > 0) {
    const has = (existing.reservations ?? []).map(describeMade).join(", ") || "no reservations";
    return `its reservations differ (it holds ${has})`;
  }
  const start = normalizeBlazarDate(existing.start_date);
  const end = normalizeBlazarDate(existing.end_date);
  const wantedEnd = String(body.end_date);
  if (body.start_date !== "now") {
    if (start !== body.start_date || end !== wantedEnd) {
      return `its window is ${start} → ${end} UTC, not ${String(body.start_date)} → ${wantedEnd} UTC`;
    }
    return undefined;
  }
  // Started "now" by the lost create: its start is when that create ran, a few minutes ago at most.
  const datedStart = inputs.start === "now" ? undefined : parseBlazarDate(inputs.start);
  if (datedStart !== undefined && parseBlazarDate(start) < datedStart) {
    return `it starts at ${start} UTC, before the window's start ${inputs.start} UTC`;
  }
  if (parseBlazarDate(start) > now) return `it starts later (${start} UTC) than now`;
  const expectedEnd =
    inputs.end ?? (inputs.start === "now" ? addHours(start, inputs.hours as number) : wantedEnd);
  const drift = Math.abs(parseBlazarDate(end).getTime() - parseBlazarDate(expectedEnd).getTime());
  if (drift > ADOPTION_SLACK_MS) {
    return `it ends at ${end} UTC, not ${expectedEnd} UTC`;
  }
  return undefined;
}

/** Minutes between the lost create's clock and Blazar's "now" that still count as the same lease. */
const ADOPTION_SLACK_MS = 5 * 60_000;

function describeMade(r: BlazarReservation): string {
  return r.resource_type === "physical:host"
    ? `physical:host ${r.resource_properties ?? ""} min ${r.min} max ${r.max}`
    : `flavor:instance ${r.resource_properties ?? r.flavor_id ?? "?"} × ${r.amount}`;
}

function sameReservations(a: readonly ReservationSpec[], b: readonly ReservationSpec[]): boolean {
  return JSON.stringify((a ?? []).map(canonical)) === JSON.stringify((b ?? []).map(canonical));
}

function canonical(r: ReservationSpec): unknown[] {
  return r.resourceType === "physical:host"
    ? [r.resourceType, normalJson(r.resourceProperties), r.min, r.max, r.hypervisorProperties ?? ""]
    : [r.resourceType, r.flavorId ?? null, r.flavorName ?? null, r.amount];
}
