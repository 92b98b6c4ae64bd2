import * as crypto from "crypto";
import { MockCallArgs, MockResourceArgs } from "@pulumi/pulumi/runtime/mocks";

/**
 * Realistic state for the resources the program declares: ids, addresses, a kubeconfig. Values are
 * derived from the resource's type and name, so two builds give identical state.
 */
export interface MockedResource {
  id: string;
  state: Record<string, unknown>;
  /** State values the real provider returns as secrets. */
  secrets: string[];
}

type StateFn = (
  args: MockResourceArgs,
  seed: string,
) => { state: Record<string, unknown>; secrets?: string[] };

export const MOCK_EXTERNAL_NETWORK_ID = "e7a5b8b2-0000-4000-8000-00000000public";

const STATE: Record<string, StateFn> = {
  "openstack:networking/floatingIp:FloatingIp": (_a, seed) => ({ state: { address: publicIp(seed) } }),
  "openstack:networking/router:Router": (_a, seed) => ({
    state: { externalFixedIps: [{ ipAddress: publicIp(seed) }] },
  }),
  "openstack:compute/instance:Instance": (a, seed) => {
    const ip = privateIp(seed);
    return {
      state: { accessIpV4: ip, networks: [{ ...((a.inputs.networks ?? [])[0] ?? {}), fixedIpV4: ip }] },
    };
  },
  "openstack:networking/port:Port": (_a, seed) => ({ state: { allFixedIps: [privateIp(seed)] } }),
  "openstack:identity/ec2CredentialV3:Ec2CredentialV3": (_a, seed) => {
    const access = `mockaccess${seed.slice(0, 22)}`;
    const secret = `mocksecret${seed.slice(22, 54)}`;
    return { state: { access, secret }, secrets: [secret] };
  },
  "random:index/randomPassword:RandomPassword": (a, seed) => {
    const result = `mockpw-${seed.slice(0, Math.max(8, Number(a.inputs.length ?? 24) - 7))}`;
    // The provider returns both as secrets: a bcrypt hash can be cracked offline.
    const bcryptHash = `$2a$10$${seed.slice(0, 53)}`;
    return { state: { result, bcryptHash }, secrets: [result, bcryptHash] };
  },
  "random:index/randomId:RandomId": (_a, seed) => ({
    state: { hex: seed.slice(0, 16), b64Url: seed.slice(0, 11) },
  }),
  "command:remote:Command": (a, seed) => {
    const name = a.name;
    if (/kubeconfig/i.test(name)) {
      const kubeconfig = mockKubeconfig(seed);
      return { state: { stdout: kubeconfig, stderr: "" }, secrets: [kubeconfig] };
    }
    return { state: { stdout: "", stderr: "" } };
  },
  "command:local:Command": () => ({ state: { stdout: "", stderr: "" } }),
  // Blazar leases (components/chameleon/blazar): what the dynamic provider returns once Blazar holds them.
  "pulumi-nodejs:dynamic/blazar:Lease": (a, seed) => ({ state: mockLease(a.inputs, seed) }),
};

function seedOf(type: string, name: string): string {
  return crypto.createHash("sha256").update(`${type}::${name}`).digest("hex");
}

/** The id the mocks give a resource, so that an id found in another resource's inputs can be traced back. */
export function mockIdOf(type: string, name: string): string {
  return uuidOf(seedOf(type, name));
}

export function mockState(args: MockResourceArgs): MockedResource {
  const seed = seedOf(args.type, args.name);
  const fn = STATE[args.type];
  const extra = fn ? fn(args, seed) : { state: {} };
  return {
    id: args.id || uuidOf(seed),
    state: { ...args.inputs, ...extra.state },
    secrets: extra.secrets ?? [],
  };
}

/** Answers the invokes the program makes; an unknown invoke fails loudly rather than answering empty. */
export function mockCall(args: MockCallArgs): Record<string, unknown> {
  switch (args.token) {
    case "openstack:networking/getNetwork:getNetwork":
      return { id: MOCK_EXTERNAL_NETWORK_ID, name: args.inputs.name, external: true };
    default:
      throw new Error(`harness: no mock answer for invoke ${args.token}; add one to tests/mockState.ts`);
  }
}

function uuidOf(seed: string): string {
  return `${seed.slice(0, 8)}-${seed.slice(8, 12)}-4${seed.slice(13, 16)}-8${seed.slice(17, 20)}-${seed.slice(20, 32)}`;
}

/** The moment mocked `now` leases start: the harness's PLAN_CLOCK, in Blazar's format. */
const MOCK_LEASE_NOW = "2026-11-26 12:00";

/**
 * A lease as Blazar reports it: ACTIVE when it has started by MOCK_LEASE_NOW, else PENDING; one
 * reservation id per requested reservation, and for flavor reservations the `reservation:<id>`
 * flavor Blazar makes. The lease id is the resource id.
 */
function mockLease(inputs: Record<string, unknown>, seed: string): Record<string, unknown> {
  const start = inputs.start === "now" ? MOCK_LEASE_NOW : String(inputs.start);
  const end =
    typeof inputs.end === "string"
      ? inputs.end
      : new Date(Date.parse(`${start.replace(" ", "T")}:00Z`) + Number(inputs.hours) * 3600_000)
          .toISOString()
          .slice(0, 16)
          .replace("T", " ");
  const started = start <= MOCK_LEASE_NOW;
  const requested = (inputs.reservations ?? []) as { resourceType: string }[];
  const ids = requested.map((_, i) =>
    uuidOf(crypto.createHash("sha256").update(`${seed}:${i}`).digest("hex")),
  );
  return {
    leaseId: uuidOf(seed),
    status: started ? "ACTIVE" : "PENDING",
    startDate: start,
    endDate: end,
    reservationIds: ids,
    reservationDetails: requested.map((r, i) => ({
      id: ids[i],
      resourceType: r.resourceType,
      status: started ? "active" : "pending",
      ...(r.resourceType === "flavor:instance"
        ? { reservedFlavorId: ids[i], reservedFlavorName: `reservation:${ids[i]}` }
        : {}),
    })),
  };
}

function byte(seed: string, at: number): number {
  return parseInt(seed.slice(at, at + 2), 16);
}

/** Addresses in 129.114.0.0/16 (TACC's public range), as Chameleon floating IPs are. */
function publicIp(seed: string): string {
  return `129.114.${(byte(seed, 0) % 254) + 1}.${(byte(seed, 2) % 254) + 1}`;
}

function privateIp(seed: string): string {
  return `192.168.50.${(byte(seed, 0) % 200) + 10}`;
}

function mockKubeconfig(seed: string): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: default",
    "  cluster:",
    `    certificate-authority-data: ${Buffer.from(`mock-ca-${seed.slice(0, 16)}`).toString("base64")}`,
    "    server: https://127.0.0.1:6443",
    "contexts:",
    "- name: default",
    "  context: {cluster: default, user: default}",
    "current-context: default",
    "users:",
    "- name: default",
    "  user:",
    `    client-certificate-data: ${Buffer.from(`mock-cert-${seed.slice(16, 32)}`).toString("base64")}`,
    `    client-key-data: ${Buffer.from(`mock-key-${seed.slice(32, 48)}`).toString("base64")}`,
    "",
  ].join("\n");
}
