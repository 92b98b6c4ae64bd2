import * as pulumi from "@pulumi/pulumi";
import { credentialFor, endedWindowsWarning, Reservations } from "../../components/chameleon/reservations";
import { ChameleonCluster } from "../../stacks/config";
import { planMarkdown } from "../../tools/planMarkdown";
import { planModel } from "../../tools/planModel";
import { BuildResult, buildStack, ResourceRecord, runUnderMocks } from "../harness";
import { A100_HOST_RESERVATION, stackCluster, STAGING_VM_RESERVATIONS, TEST_SECRETS } from "./chameleonKit";

const LEASE = "pulumi-nodejs:dynamic/blazar:Lease";

interface Built {
  resources: ResourceRecord[];
  outputs: Record<string, unknown>;
  warnings: string[];
}

/** Builds Reservations alone under the mocks; `make` builds the cluster inside the mocked stack. */
async function build(make: () => ChameleonCluster, environment: string): Promise<Built> {
  const run = await runUnderMocks(() => {
    const r = new Reservations("ssept", { cluster: make(), environment });
    return {
      serverFlavorName: r.serverFlavorName,
      agentFlavorName: r.agentFlavorName,
      vmLease: r.vmLeaseSummary,
      gpuLeases: r.gpuLeaseSummary,
      leaseEnds: r.leaseEnds,
      activeReservationId: r.activeGpu?.reservationId ?? pulumi.output("none"),
      activeFlavorName: r.activeGpu?.flavorName ?? pulumi.output("none"),
      activeWindow: pulumi.output(r.activeGpu?.window.key ?? "none"),
    };
  });
  return {
    resources: run.resources,
    warnings: run.warnings ?? [],
    outputs: Object.fromEntries(Object.entries(run.outputs).map(([k, o]) => [k, o.value])),
  };
}

const leases = (b: Built) => b.resources.filter((r) => r.type === LEASE);
const lease = (b: Built, name: string) => leases(b).find((r) => r.name === name)!;

describe("staging: VMs and an H100 flavor at KVM@TACC", () => {
  let b: Built;
  beforeAll(async () => {
    b = await build(() => stackCluster("staging"), "staging");
  });

  test("one VM lease and one GPU lease per window, under the component", () => {
    const component = b.resources.find((r) => r.type === "ssept:chameleon:Reservations")!;
    expect(component.name).toBe("ssept");
    expect(
      leases(b)
        .map((r) => [r.name, r.inputs.name])
        .sort(),
    ).toEqual([
      ["ssept-gpu-20270105t1400", "staging-gpu-20270105t1400"],
      ["ssept-gpu-20270107t1400", "staging-gpu-20270107t1400"],
      ["ssept-gpu-20270109t1400", "staging-gpu-20270109t1400"],
      ["ssept-vm", "staging-vm"],
    ]);
    for (const r of leases(b)) expect(r.parent).toBe(component.urn);
  });

  test("the VM lease reserves the server and agent flavors from now, for vmLeaseHours", () => {
    const vm = lease(b, "ssept-vm");
    expect(vm.inputs).toEqual({
      authUrl: "https://kvm.tacc.chameleoncloud.org:5000/v3",
      region: "KVM@TACC",
      credentialId: "replace-with-your-kvm-tacc-credential-id",
      credentialSecret: TEST_SECRETS.kvmTaccCredentialSecret,
      credentialKeys: {
        id: "sse-pt-platform:kvmTaccCredentialId",
        secret: "sse-pt-platform:kvmTaccCredentialSecret",
      },
      name: "staging-vm",
      start: "now",
      hours: 168,
      reservations: STAGING_VM_RESERVATIONS,
      // 3 × m1.medium (2 of 48 vCPUs of a host) × 168 h
      suEstimate: 21,
    });
  });

  test("each GPU window reserves the H100 flavor for its hours", () => {
    expect(lease(b, "ssept-gpu-20270107t1400").inputs).toMatchObject({
      region: "KVM@TACC",
      name: "staging-gpu-20270107t1400",
      start: "2027-01-07 14:00",
      hours: 4,
      reservations: [{ resourceType: "flavor:instance", flavorName: "g1.h100.pci.1", amount: 1 }],
      suEstimate: 1,
    });
  });

  test("the credential secret stays a secret in every lease's inputs", () => {
    for (const r of leases(b)) expect(r.secretPaths).toEqual(["credentialSecret"]);
  });

  test("server and agents boot from the flavors Blazar made for their reservations", () => {
    const vm = b.outputs.vmLease as { leaseId: string; reservationIds: string[] };
    expect(vm.reservationIds).toHaveLength(2);
    expect(b.outputs.serverFlavorName).toBe(`reservation:${vm.reservationIds[0]}`);
    expect(b.outputs.agentFlavorName).toBe(`reservation:${vm.reservationIds[1]}`);
    expect(vm.reservationIds).not.toContain(vm.leaseId);
  });

  test("stack outputs summarise each lease; future windows are PENDING", () => {
    expect(b.outputs.vmLease).toEqual({
      leaseId: expect.stringMatching(/^[0-9a-f]{8}-/),
      reservationIds: [expect.any(String), expect.any(String)],
      start: "2026-11-26 12:00",
      end: "2026-12-03 12:00",
      status: "ACTIVE",
    });
    expect(b.outputs.gpuLeases).toEqual(
      ["2027-01-05", "2027-01-07", "2027-01-09"].map((day) => ({
        window: `${day}T14:00Z/4h`,
        leaseId: expect.any(String),
        reservationId: expect.any(String),
        start: `${day} 14:00`,
        end: `${day} 18:00`,
        status: "PENDING",
      })),
    );
  });

  test("no window is open at the plan clock, so no active GPU", () => {
    expect(b.outputs.activeWindow).toBe("none");
  });
});

describe("production: bare-metal A100 hosts at CHI@UC", () => {
  let b: Built;
  beforeAll(async () => {
    b = await build(() => stackCluster("production"), "production");
  });

  test("GPU leases reserve physical hosts by node type, min = max = gpuNodeCount", () => {
    const gpu = leases(b)
      .filter((r) => r.name.startsWith("ssept-gpu-"))
      .sort((x, y) => x.name.localeCompare(y.name));
    expect(gpu).toHaveLength(6);
    expect(gpu[0].inputs).toMatchObject({
      authUrl: "https://chi.uc.chameleoncloud.org:5000/v3",
      region: "CHI@UC",
      credentialId: "replace-with-your-chi-uc-credential-id",
      credentialSecret: TEST_SECRETS.chiUcCredentialSecret,
      credentialKeys: {
        id: "sse-pt-platform:chiUcCredentialId",
        secret: "sse-pt-platform:chiUcCredentialSecret",
      },
      name: "production-gpu-20270104t1400",
      start: "2027-01-04 14:00",
      hours: 4,
      reservations: [A100_HOST_RESERVATION],
      suEstimate: 4,
    });
    for (const r of gpu) expect(r.secretPaths).toEqual(["credentialSecret"]);
  });

  test("the VM lease stays at KVM@TACC with its own credential", () => {
    expect(lease(b, "ssept-vm").inputs).toMatchObject({
      region: "KVM@TACC",
      credentialSecret: TEST_SECRETS.kvmTaccCredentialSecret,
    });
  });

  test("leaseEnds lists the VM lease's end and every GPU lease's, for the lease-ending alerts", () => {
    expect(b.outputs.leaseEnds).toEqual([
      { name: "production-vm", site: "kvm-tacc", end: "2026-12-03 12:00", kind: "vm" },
      ...["04", "06", "08", "11", "13", "15"].map((day) => ({
        name: `production-gpu-202701${day}t1400`,
        site: "chi-uc",
        end: `2027-01-${day} 18:00`,
        kind: "gpu",
      })),
    ]);
  });
});

describe("inside a GPU window", () => {
  // The current window and a later one, listed out of order: the window's start, not its place, counts.
  const windows = JSON.stringify(["2027-01-08T14:00Z/4h", "2027-01-06T14:00Z/4h"]);

  test("bare metal: the active reservation id is the reservation's, not the lease's, and there is no flavor", async () => {
    const now = new Date("2027-01-06T15:30:00Z");
    const b = await build(() => stackCluster("production", { gpuWindows: windows }, now), "production");
    const open = (b.outputs.gpuLeases as { window: string; leaseId: string; reservationId: string }[])[1];
    expect(open.window).toBe("2027-01-06T14:00Z/4h");
    expect(b.outputs.activeWindow).toBe("20270106t1400");
    expect(b.outputs.activeReservationId).toBe(open.reservationId);
    expect(b.outputs.activeReservationId).not.toBe(open.leaseId);
    expect(b.outputs.activeFlavorName).toBe("none");
  });

  test("KVM GPU flavor: the active reservation also names its reserved flavor", async () => {
    const now = new Date("2027-01-06T17:59:00Z");
    const b = await build(() => stackCluster("staging", { gpuWindows: windows }, now), "staging");
    const open = (b.outputs.gpuLeases as { reservationId: string }[])[1];
    expect(b.outputs.activeWindow).toBe("20270106t1400");
    expect(b.outputs.activeReservationId).toBe(open.reservationId);
    expect(b.outputs.activeFlavorName).toBe(`reservation:${open.reservationId}`);
  });
});

describe("without GPU nodes", () => {
  test("gpuNodeCount 0 declares the VM lease only", async () => {
    const b = await build(() => stackCluster("production", { gpuNodeCount: "0" }), "production");
    expect(leases(b).map((r) => r.name)).toEqual(["ssept-vm"]);
    expect(b.outputs.gpuLeases).toEqual([]);
    expect(b.outputs.leaseEnds).toEqual([expect.objectContaining({ name: "production-vm", kind: "vm" })]);
    expect(b.outputs.activeWindow).toBe("none");
  });
});

describe("windows over time", () => {
  // Production's committed windows, judged just after the first one (2027-01-04 14:00-18:00) ended.
  const after = new Date("2027-01-05T09:00:00Z");
  const committed = stackCluster("production").gpu.windows.map((w) => w.spec);
  const urnsAndInputs = (b: Built) =>
    b.resources
      .filter((r) => r.type === LEASE)
      .map((r) => [r.urn, r.inputs] as const)
      .sort(([x], [y]) => x.localeCompare(y));

  test("an ended window no longer stops the stack: it gets no lease, and a warning says to remove it", async () => {
    const b = await build(() => stackCluster("production", {}, after), "production");
    expect(leases(b).map((r) => r.inputs.name)).not.toContain("production-gpu-20270104t1400");
    expect(leases(b)).toHaveLength(6);
    expect(b.warnings).toEqual([
      "gpuWindows: 2027-01-04T14:00Z/4h has ended and is ignored (no lease; a lease still in the state is deleted). " +
        "Remove it from the list; nothing else changes, since leases and GPU nodes are named by their window's start.",
    ]);
  });

  test("removing the ended window changes nothing else: same URNs and inputs for every other lease", async () => {
    const kept = await build(() => stackCluster("production", {}, after), "production");
    const removed = await build(
      () => stackCluster("production", { gpuWindows: JSON.stringify(committed.slice(1)) }, after),
      "production",
    );
    expect(urnsAndInputs(removed)).toEqual(urnsAndInputs(kept));
    expect(urnsAndInputs(removed)).toHaveLength(6);
  });

  test("inside a later window, removing an earlier one keeps the active lease and its reservation", async () => {
    const during = new Date("2027-01-06T15:00:00Z");
    const kept = await build(() => stackCluster("production", {}, during), "production");
    const removed = await build(
      () => stackCluster("production", { gpuWindows: JSON.stringify(committed.slice(1)) }, during),
      "production",
    );
    expect([kept.outputs.activeWindow, removed.outputs.activeWindow]).toEqual([
      "20270106t1400",
      "20270106t1400",
    ]);
    expect(urnsAndInputs(removed)).toEqual(urnsAndInputs(kept));
  });
});

describe("credentials", () => {
  test("each lease is made with its site's credential", () => {
    const cluster = stackCluster("production");
    expect(credentialFor(cluster, "chi-uc").id).toBe("replace-with-your-chi-uc-credential-id");
    expect(credentialFor(cluster, "kvm-tacc").id).toBe("replace-with-your-kvm-tacc-credential-id");
  });

  test("a site without a credential names the config keys", () => {
    const cluster = { ...stackCluster("staging"), credentials: {} };
    expect(() => credentialFor(cluster, "kvm-tacc")).toThrow(
      "sse-pt-platform:kvmTaccCredentialId and sse-pt-platform:kvmTaccCredentialSecret are required: site kvm-tacc holds a Blazar lease",
    );
    expect(() => credentialFor(cluster, "chi-uc")).toThrow("sse-pt-platform:chiUcCredentialId and");
  });
});

describe("the whole production stack inside a window", () => {
  test("removing an ended window leaves every resource (leases, GPU nodes, their commands) as it was; the plan warns until then", async () => {
    const during = new Date("2027-01-06T15:00:00Z");
    const committed = stackCluster("production").gpu.windows.map((w) => w.spec);
    const build = (overrides: Record<string, string>) =>
      buildStack("production", { overrides, secrets: TEST_SECRETS, now: during });
    const sorted = (b: BuildResult) =>
      b.resources.map((r) => [r.urn, r.inputs] as const).sort(([x], [y]) => x.localeCompare(y));
    const kept = await build({});
    const removed = await build({ gpuWindows: JSON.stringify(committed.slice(1)) });
    expect(kept.resources.some((r) => r.name.endsWith("-gpu-0"))).toBe(true);
    expect(sorted(removed)).toEqual(sorted(kept));

    const warning = endedWindowsWarning(["2027-01-04T14:00Z/4h"]);
    expect(planMarkdown(planModel(kept), { clock: during })).toContain(`## Warnings\n\n- ${warning}`);
    expect(planMarkdown(planModel(removed), { clock: during })).not.toContain("## Warnings");
  }, 180_000);
});
