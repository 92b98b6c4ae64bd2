import {
  addHours,
  formatBlazarDate,
  isBlazarDate,
  normalizeBlazarDate,
  parseBlazarDate,
} from "../../components/chameleon/blazar/dates";
import { explainRefusal } from "../../components/chameleon/blazar/blazarApi";
import { HttpResponse } from "../../components/chameleon/blazar/http";
import { Lease } from "../../components/chameleon/blazar/lease";
import {
  diffLease,
  LeaseInputs,
  leaseInputProblems,
  LeaseOutputs,
  leaseRequestBody,
  matchReservations,
  plannedEnd,
  waitsForActive,
} from "../../components/chameleon/blazar/leaseSpec";
import { planLeases } from "../../components/chameleon/blazar/plan";
import { suEstimate } from "../../components/chameleon/blazar/su";
import {
  A100_HOST_REQUEST,
  A100_HOST_RESERVATION,
  stackCluster,
  STAGING_VM_RESERVATIONS,
} from "./chameleonKit";

/** Pure parts of the Blazar lease: dates, validation, the request, the diff, SU estimates, the lease plan. */

const NOW = new Date("2026-11-26T12:00:30Z");

const vm: LeaseInputs = {
  authUrl: "https://kvm.tacc.chameleoncloud.org:5000/v3",
  region: "KVM@TACC",
  credentialId: "cred",
  credentialSecret: "secret",
  name: "staging-vm",
  start: "now",
  hours: 168,
  reservations: STAGING_VM_RESERVATIONS,
};

const created: LeaseOutputs = {
  ...vm,
  leaseId: "lease-1",
  status: "ACTIVE",
  startDate: "2026-11-26 12:00",
  endDate: "2026-12-03 12:00",
  reservationIds: ["r-1", "r-2"],
  reservationDetails: [],
};

describe("dates", () => {
  test("requests use YYYY-MM-DD HH:MM in UTC; responses are read with or without seconds", () => {
    expect(formatBlazarDate(new Date("2027-01-05T14:00:59Z"))).toBe("2027-01-05 14:00");
    expect(normalizeBlazarDate("2017-12-26T12:00:00.000000")).toBe("2017-12-26 12:00");
    expect(parseBlazarDate("2027-01-05 14:00").toISOString()).toBe("2027-01-05T14:00:00.000Z");
    expect(addHours("2027-01-05 22:00", 4)).toBe("2027-01-06 02:00");
  });

  test("only real dates in request form pass", () => {
    expect(isBlazarDate("2027-01-05 14:00")).toBe(true);
    expect(isBlazarDate("2027-02-30 14:00")).toBe(false);
    expect(isBlazarDate("2027-01-05T14:00")).toBe(false);
    expect(isBlazarDate("now")).toBe(false);
    expect(() => parseBlazarDate("tomorrow")).toThrow('not a Blazar date: "tomorrow"');
  });
});

describe("leaseInputProblems", () => {
  const problems = (overrides: Record<string, unknown>) =>
    leaseInputProblems({ ...vm, ...overrides } as Record<string, unknown>, NOW);

  test("good inputs have none", () => {
    expect(problems({})).toEqual([]);
    expect(problems({ start: "2027-01-05 14:00", hours: 4 })).toEqual([]);
    expect(
      problems({
        credentialKeys: {
          id: "sse-pt-platform:kvmTaccCredentialId",
          secret: "sse-pt-platform:kvmTaccCredentialSecret",
        },
      }),
    ).toEqual([]);
  });

  test.each([
    [
      { end: "2027-01-01 00:00" },
      "hours",
      "exactly one of end (a date) and hours (a length from the start) is required",
    ],
    [
      { hours: undefined },
      "end",
      "exactly one of end (a date) and hours (a length from the start) is required",
    ],
    [{ hours: 1.01 }, "hours", "hours 1.01: expected a positive number of whole minutes"],
    [{ hours: 0 }, "hours", "hours 0: expected a positive number of whole minutes"],
    [
      { start: "2027-01-05 14:00", hours: undefined, end: "2027-01-05 13:00" },
      "end",
      "end 2027-01-05 13:00: must be after start 2027-01-05 14:00",
    ],
    [
      { hours: undefined, end: "2026-11-26 11:00" },
      "end",
      "end 2026-11-26 11:00: already passed (now is 2026-11-26 12:00 UTC)",
    ],
    [
      { start: "2026-11-25 12:00", hours: 4 },
      "hours",
      "2026-11-25 12:00 + 4 h: already over (now is 2026-11-26 12:00 UTC)",
    ],
    [{ authUrl: "kvm.tacc" }, "authUrl", 'Keystone URL "kvm.tacc": expected http(s)://host[:port]/v3'],
    [
      { credentialSecret: "" },
      "credentialSecret",
      "application credential secret: expected a non-empty string",
    ],
    [{ name: "x".repeat(81) }, "name", `lease name ${"x".repeat(81)}: at most 80 characters`],
    [
      { credentialKeys: { id: "kvmTaccCredentialId", secret: "sse-pt-platform:kvmTaccCredentialSecret" } },
      "credentialKeys.id",
      '"kvmTaccCredentialId": expected a stack config key with its namespace, e.g. sse-pt-platform:kvmTaccCredentialId',
    ],
    [
      { credentialKeys: { id: "sse-pt-platform:kvmTaccCredentialId" } },
      "credentialKeys.secret",
      "undefined: expected a stack config key with its namespace, e.g. sse-pt-platform:kvmTaccCredentialId",
    ],
    [
      { pollIntervalSeconds: -1 },
      "pollIntervalSeconds",
      "pollIntervalSeconds -1: expected a positive number of seconds",
    ],
    [
      { reservations: [] },
      "reservations",
      "at least one reservation (physical:host or flavor:instance) is required",
    ],
    [
      { reservations: [{ resourceType: "virtual:instance", amount: 1 }] },
      "reservations[0].resourceType",
      'resourceType "virtual:instance": expected physical:host or flavor:instance',
    ],
    [
      {
        reservations: [
          { resourceType: "flavor:instance", flavorId: "3", flavorName: "m1.medium", amount: 1 },
        ],
      },
      "reservations[0].flavorId",
      "exactly one of flavorId and flavorName is required",
    ],
    [
      { reservations: [{ resourceType: "flavor:instance", flavorName: "m1.medium", amount: 0 }] },
      "reservations[0].amount",
      "amount 0: expected an integer of at least 1",
    ],
    [
      {
        reservations: [
          { resourceType: "physical:host", resourceProperties: '["==","$node_type"', min: 1, max: 1 },
        ],
      },
      "reservations[0].resourceProperties",
      'resourceProperties "[\\"==\\",\\"$node_type\\"": expected a JSON-encoded filter such as ["=","$node_type","gpu_a100_pcie"]',
    ],
  ])("%j is refused at %s", (overrides, property, reason) => {
    expect(problems(overrides)).toEqual([{ property, reason }]);
  });

  test("values the engine does not know yet are left for later", () => {
    const later = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
    expect(problems({ credentialSecret: later, credentialId: later, reservations: later })).toEqual([]);
  });
});

describe("the Lease resource validates what it can before the engine runs", () => {
  test("a bad lease fails at construction with every problem named", () => {
    expect(
      () =>
        new Lease("bad", {
          site: { authUrl: "https://chi.uc.chameleoncloud.org:5000/v3", region: "CHI@UC" },
          credentialId: "cred",
          credentialSecret: "secret",
          leaseName: "production-gpu-0",
          start: "2027-01-05",
          hours: 4,
          reservations: [
            {
              resourceType: "physical:host",
              resourceProperties: '["=","$node_type","gpu_a100_pcie"]',
              min: 2,
              max: 1,
            },
          ],
        }),
    ).toThrow(
      "Blazar lease production-gpu-0 (bad) is invalid:\n" +
        '  - start: start "2027-01-05": expected "now" or a UTC date YYYY-MM-DD HH:MM\n' +
        "  - reservations[0].min: min 2 is larger than max 1",
    );
  });
});

describe("plannedEnd", () => {
  test("an end is taken as given; a dated start adds the hours", () => {
    expect(plannedEnd({ ...vm, hours: undefined, end: "2027-01-01 00:00" }, undefined, NOW)).toBe(
      "2027-01-01 00:00",
    );
    expect(plannedEnd({ ...vm, start: "2027-01-05 14:00", hours: 4 }, undefined, NOW)).toBe(
      "2027-01-05 18:00",
    );
  });

  test("a `now` lease ends hours after create, and a change of hours moves that end", () => {
    expect(plannedEnd(vm, undefined, NOW)).toBe("2026-12-03 12:00");
    const later = new Date("2026-11-30T08:00:00Z");
    expect(plannedEnd(vm, created, later)).toBe("2026-12-03 12:00");
    expect(plannedEnd({ ...vm, hours: 170 }, created, later)).toBe("2026-12-03 14:00");
    expect(plannedEnd({ ...vm, hours: 100 }, created, later)).toBe("2026-11-30 16:00");
  });

  test("a `now` lease whose start Blazar stamped a minute later does not drift", () => {
    // The end was computed from the client's clock at create; Blazar's own `now` fell in the next minute.
    const stamped = { ...created, startDate: "2026-11-26 12:01" };
    expect(plannedEnd(vm, stamped, NOW)).toBe("2026-12-03 12:00");
    expect(diffLease(stamped, vm, NOW).changes).toBe(false);
    expect(plannedEnd({ ...vm, hours: 169 }, stamped, NOW)).toBe("2026-12-03 13:00");
  });

  test("a `now` lease that had an end counts new hours from its start", () => {
    const prev = { ...created, hours: undefined, end: "2026-12-01 00:00", endDate: "2026-12-01 00:00" };
    expect(plannedEnd({ ...vm, hours: 48 }, prev, NOW)).toBe("2026-11-28 12:00");
  });
});

describe("diffLease", () => {
  const later = new Date("2026-11-30T08:00:00Z");

  test("nothing changed: no changes", () => {
    expect(diffLease(created, vm, later)).toEqual({ changes: false, replaces: [], newEnd: undefined });
  });

  test("only the end moves: an in-place update with the new end", () => {
    expect(diffLease(created, { ...vm, hours: 200 }, later)).toEqual({
      changes: true,
      replaces: [],
      newEnd: "2026-12-04 20:00",
    });
  });

  test("a new credential or wait setting is recorded in place without moving the end", () => {
    expect(diffLease(created, { ...vm, credentialSecret: "rotated" }, later)).toEqual({
      changes: true,
      replaces: [],
      newEnd: undefined,
    });
    expect(diffLease(created, { ...vm, waitTimeoutSeconds: 60 }, later).changes).toBe(true);
  });

  test.each([
    [{ region: "CHI@UC" }, ["region"]],
    [{ name: "staging-vm-2" }, ["name"]],
    [{ start: "2027-01-05 14:00" }, ["start"]],
    [
      {
        reservations: [
          { resourceType: "flavor:instance", flavorName: "m1.medium", amount: 1 },
          { resourceType: "flavor:instance", flavorName: "m1.medium", amount: 3 },
        ],
      },
      ["reservations"],
    ],
    [
      { reservations: [{ resourceType: "flavor:instance", flavorName: "m1.large", amount: 1 }] },
      ["reservations"],
    ],
  ])("%j replaces the lease", (change, replaces) => {
    expect(diffLease(created, { ...vm, ...change } as LeaseInputs, later)).toEqual({
      changes: true,
      replaces,
    });
  });

  test("a lease that is over is replaced even with unchanged inputs", () => {
    const afterEnd = new Date("2026-12-03T12:00:00Z");
    expect(diffLease(created, vm, afterEnd).replaces).toEqual(["status"]);
    expect(diffLease({ ...created, status: "ERROR" }, vm, later).replaces).toEqual(["status"]);
    expect(diffLease({ ...created, status: "TERMINATED" }, vm, later).replaces).toEqual(["status"]);
  });

  test("equivalent JSON in resourceProperties is no change", () => {
    const host = (props: string) =>
      ({
        ...vm,
        start: "2027-01-05 14:00",
        hours: 4,
        reservations: [{ resourceType: "physical:host", resourceProperties: props, min: 1, max: 1 }],
      }) as LeaseInputs;
    const olds = {
      ...created,
      ...host('["=", "$node_type", "gpu_a100_pcie"]'),
      endDate: "2027-01-05 18:00",
    };
    expect(diffLease(olds, host('["=","$node_type","gpu_a100_pcie"]'), NOW).changes).toBe(false);
  });
});

describe("the create request", () => {
  test("a future window keeps its dates; a host reservation carries its filter as a JSON string", () => {
    const gpu: LeaseInputs = {
      ...vm,
      name: "production-gpu-0",
      start: "2027-01-04 14:00",
      hours: 4,
      reservations: [A100_HOST_RESERVATION],
    };
    expect(leaseRequestBody(gpu, [undefined], NOW)).toEqual({
      name: "production-gpu-0",
      start_date: "2027-01-04 14:00",
      end_date: "2027-01-04 18:00",
      reservations: [A100_HOST_REQUEST],
      events: [],
    });
  });

  test("flavor reservations take the resolved flavor ids", () => {
    expect(leaseRequestBody(vm, ["3", "3"], NOW).reservations).toEqual([
      { resource_type: "flavor:instance", flavor_id: "3", amount: 1, affinity: "None" },
      { resource_type: "flavor:instance", flavor_id: "3", amount: 2, affinity: "None" },
    ]);
  });

  test("create waits for ACTIVE only when the lease starts within the wait bound", () => {
    expect(waitsForActive({ start_date: "now" }, 900, NOW)).toBe(true);
    expect(waitsForActive({ start_date: "2026-11-26 12:10" }, 900, NOW)).toBe(true);
    expect(waitsForActive({ start_date: "2026-11-26 12:20" }, 900, NOW)).toBe(false);
    expect(waitsForActive({ start_date: "2027-01-04 14:00" }, 900, NOW)).toBe(false);
  });
});

describe("matchReservations", () => {
  const flavor = (id: string, amount: number, source: string) => ({
    id,
    resource_type: "flavor:instance",
    status: "active",
    amount,
    flavor_id: id,
    resource_properties: JSON.stringify({ id: source, name: "m1.medium" }),
  });

  test("pairs answers with requests by what they asked for, whatever Blazar's order", () => {
    const states = matchReservations(
      vm.reservations,
      [flavor("r-agents", 2, "3"), flavor("r-server", 1, "3")],
      ["3", "3"],
    );
    expect(states.map((s) => s.id)).toEqual(["r-server", "r-agents"]);
    expect(states[0]).toEqual({
      id: "r-server",
      resourceType: "flavor:instance",
      status: "active",
      flavorId: "3",
      reservedFlavorId: "r-server",
      reservedFlavorName: "reservation:r-server",
    });
  });

  test("tells flavors apart when the amounts are equal", () => {
    const specs: LeaseInputs["reservations"] = [
      { resourceType: "flavor:instance", flavorId: "3", amount: 1 },
      { resourceType: "flavor:instance", flavorId: "4", amount: 1 },
    ];
    const states = matchReservations(
      specs,
      [flavor("r-large", 1, "4"), flavor("r-medium", 1, "3")],
      [undefined, undefined],
    );
    expect(states.map((s) => s.id)).toEqual(["r-medium", "r-large"]);
  });

  test("an answer missing a reservation is an error", () => {
    expect(() => matchReservations(vm.reservations, [flavor("r-1", 1, "3")], ["3", "3"])).toThrow(
      "Blazar's answer has no flavor:instance reservation for reservations[1]",
    );
  });
});

describe("explainRefusal", () => {
  const res = (status: number, message: string): HttpResponse => ({
    status,
    headers: { get: () => null },
    json: { error_code: status, error_message: message, error_name: status },
    text: "",
  });

  test("a lease longer than the site allows", () => {
    expect(explainRefusal("x: creating it", res(400, "Lease duration must not exceed 7 days"))).toBe(
      "x: creating it failed: the lease is longer than the site allows (HTTP 400: Lease duration must not exceed 7 days). " +
        "Chameleon caps bare-metal and GPU-flavor leases at 7 days; shorten it and extend later.",
    );
  });

  test("anything else keeps Blazar's words", () => {
    expect(explainRefusal("x: creating it", res(500, "Internal error"))).toBe(
      "x: creating it failed (HTTP 500: Internal error).",
    );
  });
});

describe("suEstimate", () => {
  test("bare metal: 1 SU per node-hour", () => {
    expect(suEstimate({ kind: "physical:host" }, 4, 1)).toBe(4);
    expect(suEstimate({ kind: "physical:host" }, 4, 3)).toBe(12);
  });

  test("KVM: a flavor's share of its host's vCPUs per hour", () => {
    expect(suEstimate({ kind: "flavor:instance", flavor: "m1.medium" }, 168, 3)).toBe(21);
    expect(suEstimate({ kind: "flavor:instance", flavor: "g1.h100.pci.1" }, 4, 1)).toBe(1);
    expect(suEstimate({ kind: "flavor:instance", flavor: "m1.small" }, 10, 1)).toBe(0.21);
  });

  test("an unknown flavor has no estimate rather than a guessed one", () => {
    expect(suEstimate({ kind: "flavor:instance", flavor: "m9.huge" }, 4, 1)).toBeUndefined();
    expect(() => suEstimate({ kind: "physical:host" }, -1, 1)).toThrow("must be zero or more");
  });
});

describe("planLeases", () => {
  test("production: the VM lease, then one bare-metal lease per window with its hours and SUs", () => {
    const plan = planLeases(stackCluster("production"), "production");
    expect(
      plan.map((p) => [p.role, p.leaseName, p.site.id, p.start, p.hours, p.kind, p.nodes, p.su]),
    ).toEqual([
      ["vm", "production-vm", "kvm-tacc", "now", 168, "flavor:instance", 3, 21],
      [
        "gpu-20270104t1400",
        "production-gpu-20270104t1400",
        "chi-uc",
        "2027-01-04 14:00",
        4,
        "physical:host",
        1,
        4,
      ],
      [
        "gpu-20270106t1400",
        "production-gpu-20270106t1400",
        "chi-uc",
        "2027-01-06 14:00",
        4,
        "physical:host",
        1,
        4,
      ],
      [
        "gpu-20270108t1400",
        "production-gpu-20270108t1400",
        "chi-uc",
        "2027-01-08 14:00",
        4,
        "physical:host",
        1,
        4,
      ],
      [
        "gpu-20270111t1400",
        "production-gpu-20270111t1400",
        "chi-uc",
        "2027-01-11 14:00",
        4,
        "physical:host",
        1,
        4,
      ],
      [
        "gpu-20270113t1400",
        "production-gpu-20270113t1400",
        "chi-uc",
        "2027-01-13 14:00",
        4,
        "physical:host",
        1,
        4,
      ],
      [
        "gpu-20270115t1400",
        "production-gpu-20270115t1400",
        "chi-uc",
        "2027-01-15 14:00",
        4,
        "physical:host",
        1,
        4,
      ],
    ]);
    expect(plan[1].window?.spec).toBe("2027-01-04T14:00Z/4h");
  });

  test("two GPU nodes for 6 hours cost 12 SUs; a flavor without a rate has no estimate", () => {
    const plan = planLeases(
      stackCluster("production", {
        gpuNodeCount: "2",
        gpuWindows: '["2027-02-01T08:00Z/6h"]',
        agentFlavor: "m9.custom",
      }),
      "production",
    );
    expect(plan[1].reservations).toEqual([
      {
        resourceType: "physical:host",
        resourceProperties: '["=","$node_type","gpu_a100_pcie"]',
        min: 2,
        max: 2,
      },
    ]);
    expect(plan[1].su).toBe(12);
    expect(plan[0].su).toBeUndefined();
  });

  test("no GPU nodes, no GPU leases", () => {
    expect(planLeases(stackCluster("staging", { gpuNodeCount: "0" }), "staging").map((p) => p.role)).toEqual([
      "vm",
    ]);
  });
});
