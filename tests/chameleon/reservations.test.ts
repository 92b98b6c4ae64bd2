import * as pulumi from "@pulumi/pulumi";
import { credentialFor, Reservations } from "../../components/chameleon/reservations";
import { ChameleonCluster } from "../../stacks/config";
import { ResourceRecord, runUnderMocks } from "../harness";
import { A100_HOST_RESERVATION, stackCluster, STAGING_VM_RESERVATIONS, TEST_SECRETS } from "./chameleonKit";

const LEASE = "pulumi-nodejs:dynamic/blazar:Lease";

interface Built {
  resources: ResourceRecord[];
  outputs: Record<string, unknown>;
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
      activeWindow: pulumi.output(r.activeGpu?.window.index ?? -1),
    };
  });
  return {
    resources: run.resources,
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
      ["ssept-gpu-0", "staging-gpu-0"],
      ["ssept-gpu-1", "staging-gpu-1"],
      ["ssept-gpu-2", "staging-gpu-2"],
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
      name: "staging-vm",
      start: "now",
      hours: 168,
      reservations: STAGING_VM_RESERVATIONS,
      // 3 × m1.medium (2 of 48 vCPUs of a host) × 168 h
      suEstimate: 21,
    });
  });

  test("each GPU window reserves the H100 flavor for its hours", () => {
    expect(lease(b, "ssept-gpu-1").inputs).toMatchObject({
      region: "KVM@TACC",
      name: "staging-gpu-1",
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
    expect(b.outputs.activeWindow).toBe(-1);
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
      name: "production-gpu-0",
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

  test("leaseEnds lists every GPU lease's end for the lease-ending alert", () => {
    expect(b.outputs.leaseEnds).toEqual(
      ["04", "06", "08", "11", "13", "15"].map((day, i) => ({
        name: `production-gpu-${i}`,
        site: "chi-uc",
        end: `2027-01-${day} 18:00`,
      })),
    );
  });
});

describe("inside a GPU window", () => {
  // Ended windows fail config validation, so the windows here are the current one and a later one.
  const windows = JSON.stringify(["2027-01-08T14:00Z/4h", "2027-01-06T14:00Z/4h"]);

  test("bare metal: the active reservation id is the reservation's, not the lease's, and there is no flavor", async () => {
    const now = new Date("2027-01-06T15:30:00Z");
    const b = await build(() => stackCluster("production", { gpuWindows: windows }, now), "production");
    const open = (b.outputs.gpuLeases as { window: string; leaseId: string; reservationId: string }[])[1];
    expect(open.window).toBe("2027-01-06T14:00Z/4h");
    expect(b.outputs.activeWindow).toBe(1);
    expect(b.outputs.activeReservationId).toBe(open.reservationId);
    expect(b.outputs.activeReservationId).not.toBe(open.leaseId);
    expect(b.outputs.activeFlavorName).toBe("none");
  });

  test("KVM GPU flavor: the active reservation also names its reserved flavor", async () => {
    const now = new Date("2027-01-06T17:59:00Z");
    const b = await build(() => stackCluster("staging", { gpuWindows: windows }, now), "staging");
    const open = (b.outputs.gpuLeases as { reservationId: string }[])[1];
    expect(b.outputs.activeWindow).toBe(1);
    expect(b.outputs.activeReservationId).toBe(open.reservationId);
    expect(b.outputs.activeFlavorName).toBe(`reservation:${open.reservationId}`);
  });
});

describe("without GPU nodes", () => {
  test("gpuNodeCount 0 declares the VM lease only", async () => {
    const b = await build(() => stackCluster("production", { gpuNodeCount: "0" }), "production");
    expect(leases(b).map((r) => r.name)).toEqual(["ssept-vm"]);
    expect(b.outputs.gpuLeases).toEqual([]);
    expect(b.outputs.leaseEnds).toEqual([]);
    expect(b.outputs.activeWindow).toBe(-1);
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
