import { apiMessage, describeFailure, httpRequest, HttpResponse } from "./http";
import { endpointOf, Session } from "./keystone";
import { BlazarLease } from "./leaseSpec";

/**
 * Blazar's lease API (v1): create, show, update, delete. Each refusal becomes one message that
 * names the lease and says what to do about it.
 */

/** `lease "ssept-staging-gpu-0" at CHI@UC`: how every message names the lease. */
export function leaseLabel(name: string, region: string): string {
  return `lease "${name}" at ${region}`;
}

export function leasesUrl(session: Session): string {
  const base = endpointOf(session, "reservation");
  return /\/v1$/.test(base) ? `${base}/leases` : `${base}/v1/leases`;
}

export async function createLease(
  session: Session,
  label: string,
  body: Record<string, unknown>,
): Promise<BlazarLease> {
  const res = await httpRequest({
    method: "POST",
    url: leasesUrl(session),
    token: session.token,
    body,
    timeoutMs: session.timeoutMs,
  });
  if (res.status !== 201 && res.status !== 200) {
    throw new Error(explainRefusal(`${label}: creating it`, res, body));
  }
  return leaseOf(res, label);
}

/** The lease, or undefined when Blazar no longer has it (404). */
export async function getLease(
  session: Session,
  label: string,
  id: string,
): Promise<BlazarLease | undefined> {
  const res = await httpRequest({
    method: "GET",
    url: `${leasesUrl(session)}/${encodeURIComponent(id)}`,
    token: session.token,
    timeoutMs: session.timeoutMs,
  });
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new Error(explainRefusal(`${label}: reading lease ${id}`, res));
  return leaseOf(res, label);
}

/**
 * The project's lease named `name`, or undefined. Blazar keeps lease names unique within a project,
 * and GET /v1/leases lists the project's leases.
 */
export async function findLeaseByName(
  session: Session,
  label: string,
  name: string,
): Promise<BlazarLease | undefined> {
  const res = await httpRequest({
    method: "GET",
    url: leasesUrl(session),
    token: session.token,
    timeoutMs: session.timeoutMs,
  });
  if (res.status !== 200) throw new Error(explainRefusal(`${label}: listing the project's leases`, res));
  const leases = (res.json as { leases?: BlazarLease[] } | undefined)?.leases;
  if (!Array.isArray(leases)) {
    throw new Error(`${label}: Blazar answered GET /leases without a lease list (${apiMessage(res)})`);
  }
  return leases.find((l) => l.name === name);
}

export async function updateLeaseEnd(
  session: Session,
  label: string,
  id: string,
  endDate: string,
): Promise<BlazarLease> {
  const body = { end_date: endDate };
  const res = await httpRequest({
    method: "PUT",
    url: `${leasesUrl(session)}/${encodeURIComponent(id)}`,
    token: session.token,
    body,
    timeoutMs: session.timeoutMs,
  });
  if (res.status === 404) {
    throw new Error(
      `${label}: moving its end to ${endDate} UTC failed: Blazar no longer has lease ${id}; run \`pulumi refresh\` and \`pulumi up\` to make a new one`,
    );
  }
  if (res.status !== 200)
    throw new Error(explainRefusal(`${label}: moving its end to ${endDate} UTC`, res, body));
  return leaseOf(res, label);
}

/** Deletes the lease; a lease that is already gone counts as deleted. Returns whether it existed. */
export async function deleteLease(session: Session, label: string, id: string): Promise<boolean> {
  const res = await httpRequest({
    method: "DELETE",
    url: `${leasesUrl(session)}/${encodeURIComponent(id)}`,
    token: session.token,
    timeoutMs: session.timeoutMs,
  });
  if (res.status === 404) return false;
  if (res.status !== 204 && res.status !== 200 && res.status !== 202) {
    throw new Error(explainRefusal(`${label}: deleting lease ${id}`, res));
  }
  return true;
}

function leaseOf(res: HttpResponse, label: string): BlazarLease {
  const lease = (res.json as { lease?: BlazarLease } | undefined)?.lease;
  if (!lease || typeof lease.id !== "string") {
    throw new Error(`${label}: Blazar answered ${res.status} without a lease object (${apiMessage(res)})`);
  }
  return lease;
}

const NO_CAPACITY =
  /not ?enough ?(hosts|resources|capacity)|no (free|available|valid) hosts?|NotEnoughHostsAvailable/i;
const TOO_LONG = /duration|too long|longer than|max(imum)? (lease )?length/i;
const QUOTA = /quota|exceed|allocation|\bSUs?\b|balance|budget/i;
const NAME_TAKEN = /already exists|LeaseNameAlreadyExists/i;
const TRUST = /trust|application[ _]credential/i;

/**
 * One message for a refused request: what was attempted, why Blazar said no in plain words, and
 * Blazar's own words. `body` gives the dates and counts asked for, when there was a body.
 */
export function explainRefusal(attempt: string, res: HttpResponse, body?: Record<string, unknown>): string {
  const said = describeFailure(res);
  const message = apiMessage(res);
  const window =
    body?.start_date !== undefined || body?.end_date !== undefined
      ? `${body?.start_date ?? "its start"} → ${body?.end_date ?? "its end"} UTC`
      : "that window";
  if (NO_CAPACITY.test(message)) {
    return `${attempt} failed: no free resources for ${window} (${said}). Pick another window (see the site's lease calendar) or reserve fewer nodes.`;
  }
  if (TOO_LONG.test(message)) {
    return `${attempt} failed: the lease is longer than the site allows (${said}). Chameleon caps bare-metal and GPU-flavor leases at 7 days; shorten it and extend later.`;
  }
  if (QUOTA.test(message) && res.status !== 401) {
    return `${attempt} failed: the project's quota or SU allocation does not cover it (${said}). Shorten or shrink the lease, end other leases, or ask for more SUs.`;
  }
  if (NAME_TAKEN.test(message)) {
    return `${attempt} failed: the project already has a lease with this name (${said}), made between this stack's check and its create. Run \`pulumi up\` again: create adopts a lease of this name when it matches, and says why when it does not.`;
  }
  if (res.status === 401 || res.status === 403 || (TRUST.test(message) && res.status >= 400)) {
    return `${attempt} failed: not allowed (${said}). Leases can be managed only with an application credential created as "unrestricted" (Blazar makes a Keystone trust for every lease, and a restricted credential may not); recreate it with \`openstack application credential create --unrestricted\` and update the stack's credential config.`;
  }
  return `${attempt} failed (${said}).`;
}
