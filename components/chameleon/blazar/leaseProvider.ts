import type * as pulumi from "@pulumi/pulumi";
import { createLease, deleteLease, findLeaseByName, getLease, leaseLabel, updateLeaseEnd } from "./blazarApi";
import { authenticate, Session, SiteCredential } from "./keystone";
import {
  adoptionMismatch,
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
import { normalizeBlazarDate, parseBlazarDate } from "./dates";
import { flavorIdByName } from "./nova";

/**
 * The Blazar lease as a Pulumi dynamic provider.
 *
 * - credentials: every call authenticates with the credential the stack has now. The engine
 *   configures the provider with the stack's config, and a lease names the config keys that hold its
 *   credential (credentialKeys); the credential in the inputs or state is the fallback. So rotating
 *   an application credential (the old one revoked) breaks neither \`refresh\` nor \`destroy\`, whose
 *   read and delete see only the state written before the rotation.
 * - create: first looks for a lease of the same name (GET /v1/leases). One that matches (same
 *   reservations, same window) is adopted: the engine lost the result of an earlier create (Ctrl-C,
 *   a crash) and Blazar names are unique per project, so this finishes that create. One that does
 *   not match is refused with what differs. Otherwise POST /v1/leases, then poll GET /v1/leases/{id}. A lease that starts now (or within
 *   waitTimeoutSeconds) is waited on until ACTIVE; a lease that starts later is returned as soon as
 *   Blazar holds it as PENDING, and its `status` output says PENDING: waiting hours for a future
 *   window would hold `pulumi up` hostage. A lease that fails or does not get there within the
 *   bound is deleted again, so create leaves nothing half-made, and the error says so.
 * - read (`pulumi refresh`, `pulumi up --refresh`): a lease Blazar no longer has (404) comes back
 *   without an id, which the engine documents as "deleted", so the next `pulumi up` creates it
 *   again. A lease that still exists but is over (TERMINATED, ERROR, end passed) keeps its id with
 *   the fresh status, and diff replaces it: the dead lease is deleted and a new one made.
 * - diff: a lease whose start has come while its state still says PENDING is an update, which waits
 *   (bounded) until Blazar reports it ACTIVE: instances on its reservations depend on its outputs,
 *   so they are created only once they can boot (the first minutes of a GPU window). Otherwise only
 *   a moved end is an in-place update; the site, name, start or reservations replace
 *   the lease (delete first: the old lease holds the hosts or flavor slots the new one needs, and
 *   Blazar lease names are unique). A lease whose end has passed is replaced even without a refresh.
 * - update: PUT /v1/leases/{id} with the new end_date.
 * - delete: DELETE /v1/leases/{id}; a 404 is success.
 *
 * Pulumi serializes this object into the stack when the real CLI runs the program, so it and the
 * functions it calls capture only plain functions and data: Node's global fetch, no Pulumi resources,
 * no class instances.
 */
export const leaseProvider: LeaseProvider = {
  async configure(req) {
    this.stackConfig = (key: string) => req.config.get(key);
  },

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
    const outs = await createAndWait(inputs, credentialNow(this, inputs), new Date());
    return { id: outs.leaseId, outs };
  },

  async read(id, props) {
    const state = props as LeaseOutputs;
    const session = await openSession(state, credentialNow(this, state));
    const lease = await getLease(session, leaseLabel(state.name, state.region), id);
    if (!lease) return {};
    return { id, props: leaseOutputs(state, lease, knownFlavorIds(state)) };
  },

  async update(id, olds, news) {
    const now = new Date();
    const d = diffLease(olds, news, now);
    const flavorIds = knownFlavorIds(olds);
    if (d.newEnd === undefined && !d.activate) return { outs: keepComputed(news, olds) };
    const label = leaseLabel(news.name, news.region);
    const session = await openSession(news, credentialNow(this, news));
    let lease: BlazarLease | undefined;
    if (d.newEnd !== undefined) {
      lease = await updateLeaseEnd(session, label, id, d.newEnd);
    } else {
      lease = await getLease(session, label, id);
      if (!lease) {
        throw new Error(
          `${label}: Blazar no longer has lease ${id}; run \`pulumi refresh\` and \`pulumi up\` to make a new one`,
        );
      }
    }
    const started = parseBlazarDate(normalizeBlazarDate(lease.start_date)) <= now;
    lease = await waitForStatus(
      session,
      label,
      lease,
      started ? ["ACTIVE"] : ["ACTIVE", "PENDING"],
      news,
      now,
      false,
    );
    return { outs: leaseOutputs(news, lease, flavorIds) };
  },

  async delete(id, props) {
    const session = await openSession(props, credentialNow(this, props));
    await deleteLease(session, leaseLabel(props.name, props.region), id);
  },
};

/** The provider, with the stack config the engine configured it with (absent under unit tests). */
export type LeaseProvider = pulumi.dynamic.ResourceProvider<LeaseInputs, LeaseOutputs> & {
  stackConfig?: (key: string) => string | undefined;
};

/**
 * The credential to authenticate with: the stack config's, under the keys the lease names, when the
 * engine handed the provider a config holding both; otherwise the one in the inputs or state.
 */
function credentialNow(provider: LeaseProvider, inputs: LeaseInputs): CredentialChoice {
  const recorded = { credentialId: inputs.credentialId, credentialSecret: inputs.credentialSecret };
  const keys = inputs.credentialKeys;
  const id = keys && provider.stackConfig?.(keys.id);
  const secret = keys && provider.stackConfig?.(keys.secret);
  if (id && secret) return { credentialId: id, credentialSecret: secret, source: "config" };
  return { ...recorded, source: keys ? "state-without-config" : "inputs" };
}

interface CredentialChoice {
  credentialId: string;
  credentialSecret: string;
  /** config: the stack's config now; inputs: no keys named; state-without-config: keys named, config lacked them. */
  source: "config" | "inputs" | "state-without-config";
}

/** New inputs with the lease as it was: for changes Blazar does not need to hear about. */
function keepComputed(news: LeaseInputs, olds: LeaseOutputs): LeaseOutputs {
  const { leaseId, status, startDate, endDate, reservationIds, reservationDetails } = olds;
  return { ...news, leaseId, status, startDate, endDate, reservationIds, reservationDetails };
}

async function openSession(inputs: LeaseInputs, credential: CredentialChoice): Promise<Session> {
  const timeoutMs = (inputs.requestTimeoutSeconds ?? DEFAULT_REQUEST_SECONDS) * 1000;
  const site: SiteCredential = {
    authUrl: inputs.authUrl,
    region: inputs.region,
    credentialId: credential.credentialId,
    credentialSecret: credential.credentialSecret,
  };
  try {
    return await authenticate(site, timeoutMs);
  } catch (e) {
    const keys = inputs.credentialKeys;
    const refused = /refused application credential/.test((e as Error).message);
    const where = !refused
      ? ""
      : credential.source === "config"
        ? ` (the credential is the stack's ${keys!.id} / ${keys!.secret})`
        : credential.source === "state-without-config"
          ? ` (the credential is the one recorded in the stack's state: the engine passed no ${keys!.id} / ${keys!.secret} in the provider's config; set them with \`pulumi config set\` and run again)`
          : "";
    throw new Error(`${leaseLabel(inputs.name, inputs.region)}: ${(e as Error).message}${where}`);
  }
}

/** Create, then wait for ACTIVE (or PENDING); on failure the new lease is deleted again. */
async function createAndWait(
  inputs: LeaseInputs,
  credential: CredentialChoice,
  now: Date,
): Promise<LeaseOutputs> {
  const label = leaseLabel(inputs.name, inputs.region);
  const session = await openSession(inputs, credential);
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
  const existing = await findLeaseByName(session, label, inputs.name);
  if (existing) {
    const mismatch = adoptionMismatch(existing, inputs, body, flavorIds, now);
    if (mismatch !== undefined) {
      throw new Error(
        `${label}: the project already has a lease with this name (id ${existing.id}) that is not the one this stack asks for: ${mismatch}. ` +
          `Delete it (\`openstack reservation lease delete ${existing.id}\`) if nothing uses it, or give this stack another environment name; then run \`pulumi up\` again.`,
      );
    }
  }
  // A matching lease is the one a lost create made: adopt it, and never delete it on a failed wait.
  const created = existing ?? (await createLease(session, label, body));
  const untilActive = waitsForActive(body, inputs.waitTimeoutSeconds ?? DEFAULT_WAIT_SECONDS, now);
  const lease = await waitForStatus(
    session,
    label,
    created,
    untilActive ? ["ACTIVE"] : ["PENDING", "ACTIVE"],
    inputs,
    now,
    existing === undefined,
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
          `(last status ${lease.status})${fate}. Instances on its reservations cannot boot until it is ACTIVE. ` +
          `Raise waitTimeoutSeconds if the site is slow, or run \`pulumi up\` again later.`,
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
