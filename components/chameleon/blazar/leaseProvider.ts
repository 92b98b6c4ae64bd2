import type * as pulumi from "@pulumi/pulumi";
import { createLease, deleteLease, getLease, leaseLabel, updateLeaseEnd } from "./blazarApi";
import { authenticate, Session } from "./keystone";
import {
  BlazarLease,
  DEFAULT_POLL_SECONDS,
  DEFAULT_REQUEST_SECONDS,
  DEFAULT_WAIT_SECONDS,
  diffLease,
  FINISHED_STATUSES,
  knownFlavorIds,
  LeaseInputs,
  leaseInputProblems,
  leaseOutputs,
  LeaseOutputs,
  leaseRequestBody,
  waitsForActive,
} from "./leaseSpec";
import { flavorIdByName } from "./nova";

/**
 * The Blazar lease as a Pulumi dynamic provider.
 *
 * - create: POST /v1/leases, then poll GET /v1/leases/{id}. A lease that starts now (or within
 *   waitTimeoutSeconds) is waited on until ACTIVE; a lease that starts later is returned as soon as
 *   Blazar holds it as PENDING, and its `status` output says PENDING: waiting hours for a future
 *   window would hold `pulumi up` hostage. A lease that fails or does not get there within the
 *   bound is deleted again, so create leaves nothing half-made, and the error says so.
 * - read (`pulumi refresh`, `pulumi up --refresh`): a lease Blazar no longer has (404) comes back
 *   without an id, which the engine documents as "deleted", so the next `pulumi up` creates it
 *   again. A lease that still exists but is over (TERMINATED, ERROR, end passed) keeps its id with
 *   the fresh status, and diff replaces it: the dead lease is deleted and a new one made.
 * - diff: only a moved end is an in-place update; the site, name, start or reservations replace
 *   the lease (delete first: the old lease holds the hosts or flavor slots the new one needs, and
 *   Blazar lease names are unique). A lease whose end has passed is replaced even without a refresh.
 * - update: PUT /v1/leases/{id} with the new end_date.
 * - delete: DELETE /v1/leases/{id}; a 404 is success.
 *
 * Pulumi serializes this object into the stack when the real CLI runs the program, so it and the
 * functions it calls capture only plain functions and data: Node's global fetch, no Pulumi resources,
 * no class instances.
 */
export const leaseProvider: pulumi.dynamic.ResourceProvider<LeaseInputs, LeaseOutputs> = {
  async check(_olds, news) {
    const failures = leaseInputProblems(news as unknown as Record<string, unknown>, new Date());
    return { inputs: news, failures };
  },

  async diff(_id, olds, news) {
    const d = diffLease(olds, news, new Date());
    if (d.replaces.length > 0) return { changes: true, replaces: d.replaces, deleteBeforeReplace: true };
    return { changes: d.changes };
  },

  async create(inputs) {
    const outs = await createAndWait(inputs, new Date());
    return { id: outs.leaseId, outs };
  },

  async read(id, props) {
    const state = props as LeaseOutputs;
    const session = await openSession(state);
    const lease = await getLease(session, leaseLabel(state.name, state.region), id);
    if (!lease) return {};
    return { id, props: leaseOutputs(state, lease, knownFlavorIds(state)) };
  },

  async update(id, olds, news) {
    const now = new Date();
    const d = diffLease(olds, news, now);
    const flavorIds = knownFlavorIds(olds);
    if (d.newEnd === undefined) return { outs: keepComputed(news, olds) };
    const label = leaseLabel(news.name, news.region);
    const session = await openSession(news);
    let lease = await updateLeaseEnd(session, label, id, d.newEnd);
    lease = await waitForStatus(session, label, lease, ["ACTIVE", "PENDING"], news, now, false);
    return { outs: leaseOutputs(news, lease, flavorIds) };
  },

  async delete(id, props) {
    const session = await openSession(props);
    await deleteLease(session, leaseLabel(props.name, props.region), id);
  },
};

/** New inputs with the lease as it was: for changes Blazar does not need to hear about. */
function keepComputed(news: LeaseInputs, olds: LeaseOutputs): LeaseOutputs {
  const { leaseId, status, startDate, endDate, reservationIds, reservationDetails } = olds;
  return { ...news, leaseId, status, startDate, endDate, reservationIds, reservationDetails };
}

async function openSession(inputs: LeaseInputs): Promise<Session> {
  const timeoutMs = (inputs.requestTimeoutSeconds ?? DEFAULT_REQUEST_SECONDS) * 1000;
  try {
    return await authenticate(inputs, timeoutMs);
  } catch (e) {
    throw new Error(`${leaseLabel(inputs.name, inputs.region)}: ${(e as Error).message}`);
  }
}

/** Create, then wait for ACTIVE (or PENDING); on failure the new lease is deleted again. */
async function createAndWait(inputs: LeaseInputs, now: Date): Promise<LeaseOutputs> {
  const label = leaseLabel(inputs.name, inputs.region);
  const session = await openSession(inputs);
  const flavorIds: (string | undefined)[] = [];
  const resolved = new Map<string, string>();
  for (const r of inputs.reservations) {
    if (r.resourceType === "flavor:instance" && r.flavorId === undefined && r.flavorName !== undefined) {
      try {
        if (!resolved.has(r.flavorName))
          resolved.set(r.flavorName, await flavorIdByName(session, r.flavorName));
      } catch (e) {
        throw new Error(`${label}: ${(e as Error).message}`);
      }
      flavorIds.push(resolved.get(r.flavorName));
    } else {
      flavorIds.push(r.resourceType === "flavor:instance" ? r.flavorId : undefined);
    }
  }
  const body = leaseRequestBody(inputs, flavorIds, now);
  const created = await createLease(session, label, body);
  const untilActive = waitsForActive(body, inputs.waitTimeoutSeconds ?? DEFAULT_WAIT_SECONDS, now);
  const lease = await waitForStatus(
    session,
    label,
    created,
    untilActive ? ["ACTIVE"] : ["PENDING", "ACTIVE"],
    inputs,
    now,
    true,
  );
  return leaseOutputs(inputs, lease, flavorIds);
}

/**
 * Polls the lease until its status is one of `wanted`. A finished status (ERROR, TERMINATED…) or
 * the time bound ends the wait with an error; with `cleanUp`, the lease is deleted first.
 */
async function waitForStatus(
  session: Session,
  label: string,
  first: BlazarLease,
  wanted: string[],
  inputs: LeaseInputs,
  since: Date,
  cleanUp: boolean,
): Promise<BlazarLease> {
  const waitMs = (inputs.waitTimeoutSeconds ?? DEFAULT_WAIT_SECONDS) * 1000;
  const pollMs = (inputs.pollIntervalSeconds ?? DEFAULT_POLL_SECONDS) * 1000;
  const deadline = since.getTime() + waitMs;
  let lease: BlazarLease = first;
  for (;;) {
    if (wanted.includes(lease.status)) return lease;
    if (FINISHED_STATUSES.includes(lease.status)) {
      const fate = cleanUp ? await cleanUpAfter(session, label, lease.id) : "";
      throw new Error(
        `${label} (id ${lease.id}) went to ${lease.status} instead of ${wanted.join(" or ")}${fate}`,
      );
    }
    if (Date.now() >= deadline) {
      const fate = cleanUp ? await cleanUpAfter(session, label, lease.id) : "";
      throw new Error(
        `${label} (id ${lease.id}) did not become ${wanted.join(" or ")} within ${waitMs / 1000} s ` +
          `(last status ${lease.status})${fate}. Raise waitTimeoutSeconds if the site is slow, or try again later.`,
      );
    }
    await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())));
    const next = await getLease(session, label, lease.id);
    if (!next)
      throw new Error(`${label} (id ${lease.id}) disappeared while waiting for ${wanted.join(" or ")}`);
    lease = next;
  }
}

async function cleanUpAfter(session: Session, label: string, id: string): Promise<string> {
  try {
    await deleteLease(session, label, id);
    return "; it was deleted again, so nothing is left behind";
  } catch (e) {
    return `; deleting it failed too (${(e as Error).message}): delete lease ${id} by hand`;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
