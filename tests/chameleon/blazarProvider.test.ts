import { leaseProvider } from "../../components/chameleon/blazar/leaseProvider";
import { LeaseInputs, LeaseOutputs } from "../../components/chameleon/blazar/leaseSpec";
import { addHours, formatBlazarDate } from "../../components/chameleon/blazar/dates";
import { FakeChameleon, startFakeChameleon } from "../fakes/chameleon";
import { A100_HOST_REQUEST, A100_HOST_RESERVATION, STAGING_VM_RESERVATIONS } from "./chameleonKit";

/**
 * The lease provider's create/read/update/delete, called directly (as the Pulumi engine calls them)
 * against a local Keystone + Blazar + Nova that answers as their APIs are documented.
 */

let site: FakeChameleon;

beforeEach(async () => {
  site = await startFakeChameleon({
    credentials: {
      "cred-ok": { secret: "s3cret", unrestricted: true },
      "cred-restricted": { secret: "s3cret", unrestricted: false },
    },
  });
});

afterEach(async () => {
  await site.close();
});

const FAST = { waitTimeoutSeconds: 5, pollIntervalSeconds: 0.01, requestTimeoutSeconds: 2 };

function vmLease(overrides: Partial<LeaseInputs> = {}): LeaseInputs {
  return {
    authUrl: site.authUrl,
    region: site.region,
    credentialId: "cred-ok",
    credentialSecret: "s3cret",
    name: "staging-vm",
    start: "now",
    hours: 168,
    reservations: STAGING_VM_RESERVATIONS,
    ...FAST,
    ...overrides,
  };
}

function inDays(days: number, hour = 14): string {
  const d = new Date(Date.now() + days * 86400_000);
  d.setUTCHours(hour, 0, 0, 0);
  return formatBlazarDate(d);
}

function gpuLease(overrides: Partial<LeaseInputs> = {}): LeaseInputs {
  return {
    ...vmLease(),
    name: "production-gpu-0",
    start: inDays(2),
    hours: 4,
    reservations: [A100_HOST_RESERVATION],
    ...overrides,
  };
}

/** The provider's create, with the outputs it always returns. */
async function create(inputs: LeaseInputs): Promise<{ id: string; outs: LeaseOutputs }> {
  const { id, outs } = await leaseProvider.create(inputs);
  if (!outs) throw new Error("create returned no outputs");
  return { id, outs };
}

const posts = () => site.requests.filter((r) => r.method === "POST" && r.path === "/reservation/v1/leases");
const gets = (id: string) =>
  site.requests.filter((r) => r.method === "GET" && r.path.endsWith(`/leases/${id}`));

describe("create", () => {
  test("a `now` flavor lease is waited on until ACTIVE and reports each reservation's flavor", async () => {
    const before = new Date();
    const { id, outs } = await create(vmLease());

    const body = posts()[0].body as Record<string, unknown>;
    expect(body).toEqual({
      name: "staging-vm",
      start_date: "now",
      end_date: addHours(formatBlazarDate(before), 168),
      reservations: [
        { resource_type: "flavor:instance", flavor_id: "3", amount: 1, affinity: "None" },
        { resource_type: "flavor:instance", flavor_id: "3", amount: 2, affinity: "None" },
      ],
      events: [],
    });
    // Nova pages its flavors two at a time; m1.medium is on the second page.
    expect(
      site.requests.filter((r) => r.path.startsWith("/compute/v2.1/flavors")).map((r) => r.path),
    ).toEqual(["/compute/v2.1/flavors", "/compute/v2.1/flavors?marker=2"]);

    const lease = site.leases.get(id)!;
    expect(outs.leaseId).toBe(id);
    expect(outs.status).toBe("ACTIVE");
    expect(gets(id).length).toBe(3); // STARTING, STARTING, ACTIVE
    expect(outs.startDate).toBe(formatBlazarDate(new Date(`${lease.start_date.slice(0, 19)}Z`)));
    expect(outs.endDate).toBe(body.end_date);
    // The fake answers reservations in reverse order; each output still lines up with its request.
    const byAmount = new Map(lease.reservations.map((r) => [r.amount, r.id]));
    expect(outs.reservationIds).toEqual([byAmount.get(1), byAmount.get(2)]);
    expect(outs.reservationDetails).toEqual([
      {
        id: byAmount.get(1),
        resourceType: "flavor:instance",
        status: "active",
        flavorId: "3",
        reservedFlavorId: byAmount.get(1),
        reservedFlavorName: `reservation:${byAmount.get(1)}`,
      },
      {
        id: byAmount.get(2),
        resourceType: "flavor:instance",
        status: "active",
        flavorId: "3",
        reservedFlavorId: byAmount.get(2),
        reservedFlavorName: `reservation:${byAmount.get(2)}`,
      },
    ]);
    expect(outs.credentialSecret).toBe("s3cret");
  });

  test("a lease that starts later returns as PENDING without waiting for its start", async () => {
    const start = inDays(2);
    const { id, outs } = await create(gpuLease({ start }));

    expect(posts()[0].body).toEqual({
      name: "production-gpu-0",
      start_date: start,
      end_date: addHours(start, 4),
      reservations: [A100_HOST_REQUEST],
      events: [],
    });
    expect(outs.status).toBe("PENDING");
    expect(gets(id)).toEqual([]);
    expect(outs.startDate).toBe(start);
    expect(outs.endDate).toBe(addHours(start, 4));
    expect(outs.reservationIds).toEqual([site.leases.get(id)!.reservations[0].id]);
    expect(outs.reservationIds[0]).not.toBe(id);
    expect(outs.reservationDetails[0].reservedFlavorName).toBeUndefined();
  });

  test("a window that has already begun is requested from now and keeps its end", async () => {
    const start = formatBlazarDate(new Date(Date.now() - 2 * 3600_000));
    const { outs } = await create(gpuLease({ start, hours: 4 }));

    const body = posts()[0].body as Record<string, unknown>;
    expect(body.start_date).toBe("now");
    expect(body.end_date).toBe(addHours(start, 4));
    expect(outs.status).toBe("ACTIVE");
  });

  test("a flavor given by id is not looked up", async () => {
    await leaseProvider.create(
      vmLease({ reservations: [{ resourceType: "flavor:instance", flavorId: "4", amount: 1 }] }),
    );
    expect(site.requests.some((r) => r.path.startsWith("/compute/"))).toBe(false);
    expect((posts()[0].body as { reservations: { flavor_id: string }[] }).reservations[0].flavor_id).toBe(
      "4",
    );
  });
});

describe("create refusals become one message naming the lease", () => {
  test("no hosts free in the window (409)", async () => {
    const start = inDays(3);
    const lease = gpuLease({
      start,
      reservations: [
        {
          resourceType: "physical:host",
          resourceProperties: '["=","$node_type","gpu_a100_pcie"]',
          min: 3,
          max: 3,
        },
      ],
    });
    await expect(leaseProvider.create(lease)).rejects.toThrow(
      `lease "production-gpu-0" at KVM@TACC: creating it failed: no free resources for ${start} → ${addHours(start, 4)} UTC ` +
        "(HTTP 409: Not enough hosts available). Pick another window (see the site's lease calendar) or reserve fewer nodes.",
    );
    expect(site.leases.size).toBe(0);
  });

  test.each([
    [400, "NotEnoughHostsAvailable"],
    [500, "Not enough hosts available"],
  ])("no hosts free, answered %i %s", async (status, message) => {
    site.refuseNextCreate({ status, message });
    await expect(leaseProvider.create(gpuLease())).rejects.toThrow(
      new RegExp(`creating it failed: no free resources for .*\\(HTTP ${status}: ${message}\\)`),
    );
  });

  test("quota or SU allocation exceeded", async () => {
    site.refuseNextCreate({ status: 403, message: "Reservation would spend 672.00 SUs, only 9.00 left" });
    await expect(leaseProvider.create(vmLease())).rejects.toThrow(
      'lease "staging-vm" at KVM@TACC: creating it failed: the project\'s quota or SU allocation does not cover it ' +
        "(HTTP 403: Reservation would spend 672.00 SUs, only 9.00 left).",
    );
  });

  test("a restricted application credential (403) gets the unrestricted hint", async () => {
    await expect(leaseProvider.create(vmLease({ credentialId: "cred-restricted" }))).rejects.toThrow(
      /^lease "staging-vm" at KVM@TACC: creating it failed: not allowed \(HTTP 403: Using method 'application_credential' is not allowed for managing trusts\.\)\. Leases can be managed only with an application credential created as "unrestricted"/,
    );
  });

  test("a wrong secret (401 from Keystone) names the credential", async () => {
    await expect(leaseProvider.create(vmLease({ credentialSecret: "wrong" }))).rejects.toThrow(
      `lease "staging-vm" at KVM@TACC: Keystone at ${site.authUrl} refused application credential cred-ok ` +
        "(HTTP 401: The request you have made requires authentication.): check the application credential id and secret",
    );
  });

  test("a lease name taken between the look-up and the create (409) says to run again", async () => {
    site.refuseNextCreate({ status: 409, message: "The lease with name: production-gpu-0 already exists" });
    await expect(leaseProvider.create(gpuLease())).rejects.toThrow(
      "creating it failed: the project already has a lease with this name (HTTP 409: The lease with name: production-gpu-0 already exists), made between this stack's check and its create. Run `pulumi up` again",
    );
  });

  test("Blazar's query language takes one '=': a '==' filter fails as Chameleon documents", async () => {
    const lease = gpuLease({
      reservations: [
        {
          resourceType: "physical:host",
          resourceProperties: '["==","$node_type","gpu_a100_pcie"]',
          min: 1,
          max: 1,
        },
      ],
    });
    await expect(leaseProvider.create(lease)).rejects.toThrow(
      "creating it failed (HTTP 500: Internal Server Error)",
    );
  });

  test("a flavor that does not exist is named with the flavors that do", async () => {
    const lease = vmLease({
      reservations: [{ resourceType: "flavor:instance", flavorName: "m9.huge", amount: 1 }],
    });
    await expect(leaseProvider.create(lease)).rejects.toThrow(
      'lease "staging-vm" at KVM@TACC: flavor m9.huge does not exist at KVM@TACC or is not visible to this project ' +
        "(flavors here: m1.tiny, m1.small, m1.medium, m1.large, g1.h100.pci.1)",
    );
    expect(posts()).toEqual([]);
  });

  test("a region the catalog does not serve", async () => {
    await expect(leaseProvider.create(vmLease({ region: "CHI@NOWHERE" }))).rejects.toThrow(
      /has no public "compute" endpoint in region CHI@NOWHERE \(it lists public@KVM@TACC\)/,
    );
  });

  test("an unreachable site", async () => {
    const authUrl = site.authUrl;
    await site.close();
    await expect(leaseProvider.create(vmLease({ authUrl }))).rejects.toThrow(
      `lease "staging-vm" at KVM@TACC: cannot reach POST ${authUrl}/auth/tokens: ECONNREFUSED`,
    );
    site = await startFakeChameleon();
  });
});

describe("create waits within a bound, and cleans up when the lease does not come up", () => {
  test("a lease stuck in STARTING times out, and is deleted again", async () => {
    site.stopAt("STARTING");
    const lease = vmLease({ waitTimeoutSeconds: 0.3, pollIntervalSeconds: 0.05 });
    const started = Date.now();
    const error = await create(lease).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(Date.now() - started).toBeLessThan(3000);
    expect(error?.message).toMatch(
      /^lease "staging-vm" at KVM@TACC \(id [0-9a-f-]{36}\) did not become ACTIVE within 0\.3 s \(last status STARTING\); it was deleted again, so nothing is left behind\. Instances on its reservations cannot boot until it is ACTIVE\. Raise waitTimeoutSeconds/,
    );
    expect(site.leases.size).toBe(0);
    expect(site.requests.filter((r) => r.method === "DELETE")).toHaveLength(1);
  });

  test("a lease that goes to ERROR is deleted and reported", async () => {
    site.stopAt("ERROR");
    await expect(leaseProvider.create(vmLease())).rejects.toThrow(
      /\(id [0-9a-f-]{36}\) went to ERROR instead of ACTIVE; it was deleted again/,
    );
    expect(site.leases.size).toBe(0);
  });
});

describe("read", () => {
  async function made(): Promise<LeaseOutputs> {
    const { outs } = await create(vmLease());
    return outs;
  }

  test("an existing lease reads back with its id and state", async () => {
    const outs = await made();
    const read = await leaseProvider.read!(outs.leaseId, outs);
    expect(read.id).toBe(outs.leaseId);
    expect(read.props).toEqual(outs);
  });

  test("a lease Blazar no longer has (404) reads back without an id, so the engine drops it", async () => {
    const outs = await made();
    site.forget(outs.leaseId);
    expect(await leaseProvider.read!(outs.leaseId, outs)).toEqual({});
  });

  test("an expired lease keeps its id with status TERMINATED, and diff replaces it", async () => {
    const outs = await made();
    site.expire(outs.leaseId);
    const read = await leaseProvider.read!(outs.leaseId, outs);
    expect(read.id).toBe(outs.leaseId);
    expect(read.props!.status).toBe("TERMINATED");
    const diff = await leaseProvider.diff!(outs.leaseId, read.props!, vmLease());
    expect(diff).toEqual({ changes: true, replaces: ["status"], deleteBeforeReplace: true });
  });
});

describe("update", () => {
  test("raising hours of a `now` lease moves its end in place", async () => {
    const { id, outs } = await create(vmLease({ hours: 2 }));
    const news = vmLease({ hours: 5 });

    expect(await leaseProvider.diff!(id, outs, news)).toEqual({ changes: true });
    const { outs: updated } = await leaseProvider.update!(id, outs, news);

    const put = site.requests.find((r) => r.method === "PUT")!;
    expect(put.path).toBe(`/reservation/v1/leases/${id}`);
    expect(put.body).toEqual({ end_date: addHours(outs.endDate, 3) });
    expect(updated!.endDate).toBe(addHours(outs.endDate, 3));
    expect(updated!.startDate).toBe(outs.startDate);
    expect(updated!.reservationIds).toEqual(outs.reservationIds);
    expect(site.leases.get(id)!.end_date.slice(0, 16).replace("T", " ")).toBe(addHours(outs.endDate, 3));
  });

  test("a refused extension names the lease and the new end", async () => {
    const { id, outs } = await create(gpuLease());
    site.refuseNextUpdate({ status: 409, message: "Not enough hosts available" });
    await expect(leaseProvider.update!(id, outs, gpuLease({ hours: 6 }))).rejects.toThrow(
      `lease "production-gpu-0" at KVM@TACC: moving its end to ${addHours(outs.startDate, 6)} UTC failed: no free resources for its start → ${addHours(outs.startDate, 6)} UTC`,
    );
  });

  test("a new credential is recorded without calling Blazar", async () => {
    const { id, outs } = await create(vmLease());
    site.requests.length = 0;
    const news = vmLease({ credentialId: "cred-restricted" });
    expect(await leaseProvider.diff!(id, outs, news)).toEqual({ changes: true });
    const { outs: updated } = await leaseProvider.update!(id, outs, news);
    expect(site.requests).toEqual([]);
    expect(updated).toEqual({ ...outs, credentialId: "cred-restricted" });
  });
});

describe("delete", () => {
  test("deletes the lease, and a lease already gone (404) counts as deleted", async () => {
    const { id, outs } = await create(vmLease());
    await leaseProvider.delete!(id, outs);
    expect(site.leases.has(id)).toBe(false);
    await expect(leaseProvider.delete!(id, outs)).resolves.toBeUndefined();
    expect(site.requests.filter((r) => r.method === "DELETE").map((r) => r.path)).toEqual([
      `/reservation/v1/leases/${id}`,
      `/reservation/v1/leases/${id}`,
    ]);
  });
});

describe("check", () => {
  test("names every bad property", async () => {
    const result = await leaseProvider.check!({} as LeaseInputs, {
      ...vmLease(),
      start: "tomorrow",
      end: "2020-01-01 00:00",
      reservations: [{ resourceType: "physical:host", resourceProperties: "node_type=gpu", min: 2, max: 1 }],
    });
    expect(result.failures).toEqual([
      { property: "start", reason: 'start "tomorrow": expected "now" or a UTC date YYYY-MM-DD HH:MM' },
      {
        property: "hours",
        reason: "exactly one of end (a date) and hours (a length from the start) is required",
      },
      {
        property: "reservations[0].resourceProperties",
        reason:
          'resourceProperties "node_type=gpu": expected a JSON-encoded filter such as ["=","$node_type","gpu_a100_pcie"]',
      },
      { property: "reservations[0].min", reason: "min 2 is larger than max 1" },
    ]);
  });

  test("accepts good inputs unchanged", async () => {
    const inputs = gpuLease();
    expect(await leaseProvider.check!({} as LeaseInputs, inputs)).toEqual({ inputs, failures: [] });
  });
});

describe("create after a lost result adopts the lease it made, and only that one", () => {
  test("a matching GPU lease of the same name is adopted, not made twice", async () => {
    const first = await create(gpuLease());
    const again = await create(gpuLease());
    expect(again.id).toBe(first.id);
    expect(again.outs).toEqual(first.outs);
    expect(posts().length).toBe(1);
    expect(site.leases.size).toBe(1);
  });

  test("a matching `now` lease made minutes ago is adopted and waited on until ACTIVE", async () => {
    const first = await create(vmLease());
    const again = await create(vmLease());
    expect([again.id, again.outs.status, again.outs.reservationIds]).toEqual([
      first.id,
      "ACTIVE",
      first.outs.reservationIds,
    ]);
    expect(posts().length).toBe(1);
  });

  test.each([
    [
      "other reservations",
      { reservations: [{ ...A100_HOST_RESERVATION, min: 2, max: 2 }] },
      /its reservations differ \(it holds physical:host \["=","\$node_type","gpu_a100_pcie"\] min 1 max 1\)/,
    ],
    ["another window", { hours: 6 }, /its window is (\S+ \S+) → (\S+ \S+) UTC, not \1 → \S+ \S+ UTC/],
  ])(
    "a same-named lease with %s is refused, naming what differs and the way out",
    async (_what, change, why) => {
      const { id } = await create(gpuLease());
      site.requests.length = 0;
      const error = await leaseProvider
        .create(gpuLease(change as Partial<LeaseInputs>))
        .catch((e: Error) => e);
      expect((error as Error).message).toMatch(
        new RegExp(
          `^lease "production-gpu-0" at KVM@TACC: the project already has a lease with this name \\(id ${id}\\) that is not the one this stack asks for: `,
        ),
      );
      expect((error as Error).message).toMatch(why);
      expect((error as Error).message).toContain(`openstack reservation lease delete ${id}`);
      expect(posts()).toEqual([]);
      expect(site.leases.has(id)).toBe(true);
    },
  );

  test("a same-named lease that has ended is refused, not adopted", async () => {
    const { id } = await create(vmLease());
    site.expire(id);
    await expect(leaseProvider.create(vmLease())).rejects.toThrow(
      /not the one this stack asks for: it is TERMINATED/,
    );
  });
});

describe("read, update and delete authenticate with the credential the stack has now", () => {
  const KEYS = {
    id: "sse-pt-platform:kvmTaccCredentialId",
    secret: "sse-pt-platform:kvmTaccCredentialSecret",
  };
  type Configurable = typeof leaseProvider & { stackConfig?: (k: string) => string | undefined };

  async function configured(config: Record<string, string>): Promise<Configurable> {
    // A fresh copy, configured as the engine configures the dynamic provider: with the stack's config.
    const provider: Configurable = { ...leaseProvider };
    await provider.configure!({
      config: { get: (k: string) => config[k], require: (k: string) => config[k] },
    });
    return provider;
  }

  test("after a rotation (old credential revoked), refresh and destroy use the new one from config", async () => {
    site.addCredential("cred-old", { secret: "old-secret", unrestricted: true });
    site.addCredential("cred-new", { secret: "new-secret", unrestricted: true });
    const before = await configured({ [KEYS.id]: "cred-old", [KEYS.secret]: "old-secret" });
    const { id, outs } = await before.create(
      vmLease({ credentialId: "cred-old", credentialSecret: "old-secret", credentialKeys: KEYS }),
    );
    site.revokeCredential("cred-old");

    const state = outs as LeaseOutputs;
    expect(state.credentialId).toBe("cred-old");
    await expect(leaseProvider.read!(id, state)).rejects.toThrow(/refused application credential cred-old/);

    const after = await configured({ [KEYS.id]: "cred-new", [KEYS.secret]: "new-secret" });
    const read = await after.read!(id, state);
    expect([read.id, read.props?.status]).toEqual([id, "ACTIVE"]);
    await after.delete!(id, state);
    expect(site.leases.has(id)).toBe(false);
  });

  test("config without the keys falls back to the recorded credential, and a refusal says where it came from", async () => {
    const { id, outs } = await create(vmLease({ credentialKeys: KEYS }));
    const empty = await configured({});
    expect((await empty.read!(id, outs)).id).toBe(id);
    site.revokeCredential("cred-ok");
    await expect(empty.read!(id, outs)).rejects.toThrow(
      `the credential is the one recorded in the stack's state: the engine passed no ${KEYS.id} / ${KEYS.secret} in the provider's config`,
    );
  });

  test("a revoked credential still in config is named with its config keys", async () => {
    const { id, outs } = await create(vmLease({ credentialKeys: KEYS }));
    site.revokeCredential("cred-ok");
    const stale = await configured({ [KEYS.id]: "cred-ok", [KEYS.secret]: "s3cret" });
    await expect(stale.delete!(id, outs)).rejects.toThrow(
      /refused application credential cred-ok \(HTTP 401.*\(the credential is the stack's sse-pt-platform:kvmTaccCredentialId \/ sse-pt-platform:kvmTaccCredentialSecret\)$/,
    );
  });
});

describe("a lease whose start has come is waited on until ACTIVE before anything boots on it", () => {
  test("diff reports an update for a started lease still PENDING in the state; update waits for ACTIVE", async () => {
    const { id, outs } = await create(gpuLease());
    // The window has begun since create recorded PENDING: Blazar's lease starts on its next reads.
    const lease = site.leases.get(id)!;
    lease.start_date = `${new Date(Date.now() - 60_000).toISOString().slice(0, 16)}:00.000000`;
    const state = { ...outs, startDate: lease.start_date.slice(0, 16).replace("T", " ") };
    expect(await leaseProvider.diff!(id, state, gpuLease())).toEqual({ changes: true });
    const { outs: updated } = await leaseProvider.update!(id, state, gpuLease());
    expect(updated!.status).toBe("ACTIVE");
    expect(site.requests.filter((r) => r.method === "PUT")).toEqual([]);
    expect(await leaseProvider.diff!(id, updated!, gpuLease())).toEqual({ changes: false });
  });

  test("a lease that does not start within the bound fails with a clear timeout", async () => {
    const { id, outs } = await create(gpuLease());
    site.stopAt("STARTING");
    const lease = site.leases.get(id)!;
    lease.start_date = `${new Date(Date.now() - 60_000).toISOString().slice(0, 16)}:00.000000`;
    const state = { ...outs, startDate: lease.start_date.slice(0, 16).replace("T", " ") };
    const news = gpuLease({ waitTimeoutSeconds: 0.3 });
    await expect(leaseProvider.update!(id, state, news)).rejects.toThrow(
      new RegExp(
        `^lease "production-gpu-0" at KVM@TACC \\(id ${id}\\) did not become ACTIVE within 0\\.3 s \\(last status STARTING\\)\\. Instances on its reservations cannot boot until it is ACTIVE\\.`,
      ),
    );
    // Not deleted: the lease is the project's reservation for the window; only the wait gave up.
    expect(site.leases.has(id)).toBe(true);
  });
});
