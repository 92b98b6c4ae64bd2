import { ChildProcess, spawn } from "child_process";
import * as net from "net";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import * as pulumi from "@pulumi/pulumi";
import { leaseProvider } from "../../components/chameleon/blazar/leaseProvider";
import { LeaseInputs } from "../../components/chameleon/blazar/leaseSpec";
import { addHours, formatBlazarDate } from "../../components/chameleon/blazar/dates";
import { FakeChameleon, startFakeChameleon } from "../fakes/chameleon";
import { A100_HOST_RESERVATION, STAGING_VM_RESERVATIONS } from "../chameleon/chameleonKit";

/* eslint-disable @typescript-eslint/no-require-imports */
// The generated stubs the Pulumi engine and the dynamic-provider host are built from.
const emptyproto = require("google-protobuf/google/protobuf/empty_pb");
const structproto = require("google-protobuf/google/protobuf/struct_pb");
const engrpc = require("@pulumi/pulumi/proto/engine_grpc_pb");
const engproto = require("@pulumi/pulumi/proto/engine_pb");
const provrpc = require("@pulumi/pulumi/proto/provider_grpc_pb");
const provproto = require("@pulumi/pulumi/proto/provider_pb");
const { version: SDK_VERSION } = require("@pulumi/pulumi/package.json") as { version: string };
/* eslint-enable @typescript-eslint/no-require-imports */

/**
 * The Blazar lease provider as the real Pulumi CLI runs it. `pulumi.dynamic.Resource` stores the
 * provider serialized by `runtime.serializeFunction` in the `__provider` input; the engine starts
 * `@pulumi/pulumi/cmd/dynamic-provider` with its own address, reads the port the host prints, and
 * calls it over gRPC with that text in every request. This test does the engine's part: it runs an
 * Engine service for the host, starts the real host as a child process, and drives Configure,
 * Check, Diff, Create, Read, Update and Delete against the local Keystone/Blazar/Nova fake.
 */

const REPO_ROOT = path.resolve(__dirname, "../..");
const HOST = path.join(REPO_ROOT, "node_modules/@pulumi/pulumi/cmd/dynamic-provider");
const TYPE = "pulumi-nodejs:dynamic/blazar:Lease";
const KEYS = { id: "sse-pt-platform:kvmTaccCredentialId", secret: "sse-pt-platform:kvmTaccCredentialSecret" };
/** How the Node SDK marks a secret on the wire (rpc.specialSigKey / specialSecretSig). */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE_SIG = "1b47061264138c4ac30d75fd1eb44270";

type Props = Record<string, unknown>;

interface Host {
  client: grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  process: ChildProcess;
  stderr: string[];
}

let site: FakeChameleon;
let serializedProvider: string;
let engine: grpc.Server;
let engineAddress: string;
const engineLogs: string[] = [];
const hosts: Host[] = [];

beforeAll(async () => {
  // The very call pulumi.dynamic.Resource makes (dynamic/index.js serializeFunctionMaybeSecret).
  const serialized = await pulumi.runtime.serializeFunction(() => leaseProvider, { allowSecrets: true });
  expect(serialized.containsSecrets).toBe(false);
  serializedProvider = serialized.text;

  engine = new grpc.Server();
  engine.addService(engrpc.EngineService, {
    log: (call: { request: { getMessage(): string } }, cb: grpc.sendUnaryData<unknown>) => {
      engineLogs.push(call.request.getMessage());
      cb(null, new emptyproto.Empty());
    },
    getRootResource: (_call: unknown, cb: grpc.sendUnaryData<unknown>) =>
      cb(null, new engproto.GetRootResourceResponse()),
    setRootResource: (_call: unknown, cb: grpc.sendUnaryData<unknown>) =>
      cb(null, new engproto.SetRootResourceResponse()),
    startDebugging: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, new emptyproto.Empty()),
  });
  const port = await new Promise<number>((resolve, reject) =>
    engine.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  engineAddress = `127.0.0.1:${port}`;

  site = await startFakeChameleon({
    credentials: {
      "cred-ok": { secret: "s3cret", unrestricted: true },
      "cred-restricted": { secret: "s3cret", unrestricted: false },
    },
  });
});

afterAll(async () => {
  for (const host of hosts) {
    host.client.close();
    host.process.kill();
  }
  await site?.close();
  await new Promise<void>((resolve) => engine.tryShutdown(() => resolve()));
});

/** Starts the real host as the engine does: `<host> <engine address>`, then reads the port it prints. */
async function startHost(): Promise<Host> {
  const child = spawn(process.execPath, [HOST, engineAddress], {
    cwd: REPO_ROOT,
    env: { ...process.env, PULUMI_NODEJS_PROJECT: "sse-pt-platform" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stderr: string[] = [];
  child.stderr!.on("data", (d: Buffer) => stderr.push(d.toString()));
  const port = await new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(
      () => reject(new Error(`host printed no port in 30 s: ${stderr.join("")}`)),
      30_000,
    );
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const line = /^(\d+)\s*$/m.exec(out);
      if (line) {
        clearTimeout(timer);
        resolve(line[1]);
      }
    });
    child.on("exit", (code) => reject(new Error(`host exited with ${code}: ${stderr.join("")}`)));
  });
  const client = new provrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const host = { client, process: child, stderr };
  hosts.push(host);
  return host;
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** One unary call; a gRPC error becomes a rejected promise carrying the host's message. */
function call<T>(host: Host, method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) =>
    host.client[method](request, (err: grpc.ServiceError | null, res: T) =>
      err ? reject(new Error(err.details || err.message)) : resolve(res),
    ),
  );
}

function struct(value: Props): unknown {
  // JSON drops undefined fields, as the engine's marshalling does.
  return structproto.Struct.fromJavaScript(JSON.parse(JSON.stringify(value)));
}

const secret = (value: string) => ({ [SECRET_SIG]: SECRET_VALUE_SIG, value });

/** Configure, as the engine configures the default `pulumi-nodejs` provider: with the stack's config. */
async function configure(host: Host, config: Record<string, unknown>): Promise<void> {
  const req = new provproto.ConfigureRequest();
  req.setArgs(struct(config));
  req.setAcceptsecrets(true);
  req.setAcceptresources(true);
  await call(host, "configure", req);
}

function urn(name: string): string {
  return `urn:pulumi:staging::sse-pt-platform::ssept:chameleon:Reservations$${TYPE}::${name}`;
}

/** The inputs the program registers: the lease's args plus the serialized provider. */
function inputs(overrides: Partial<LeaseInputs> = {}): Props {
  const lease: LeaseInputs = {
    authUrl: site.authUrl,
    region: site.region,
    credentialId: "cred-ok",
    credentialSecret: "s3cret",
    credentialKeys: KEYS,
    name: "staging-vm",
    start: "now",
    hours: 168,
    reservations: STAGING_VM_RESERVATIONS,
    waitTimeoutSeconds: 10,
    pollIntervalSeconds: 0.01,
    requestTimeoutSeconds: 2,
    ...overrides,
  };
  return { ...lease, __provider: serializedProvider };
}

async function check(host: Host, olds: Props, news: Props) {
  const req = new provproto.CheckRequest();
  req.setUrn(urn(String(news.name)));
  req.setOlds(struct(olds));
  req.setNews(struct(news));
  const res = await call<{
    getInputs(): { toJavaScript(): Props };
    getFailuresList(): { getProperty(): string; getReason(): string }[];
  }>(host, "check", req);
  return {
    inputs: res.getInputs().toJavaScript(),
    failures: res.getFailuresList().map((f) => ({ property: f.getProperty(), reason: f.getReason() })),
  };
}

async function diff(host: Host, id: string, olds: Props, news: Props) {
  const req = new provproto.DiffRequest();
  req.setId(id);
  req.setUrn(urn(String(news.name)));
  req.setOlds(struct(olds));
  req.setNews(struct(news));
  const res = await call<{
    getChanges(): number;
    getReplacesList(): string[];
    getDeletebeforereplace(): boolean;
  }>(host, "diff", req);
  const kinds = provproto.DiffResponse.DiffChanges;
  return {
    changes:
      res.getChanges() === kinds.DIFF_SOME
        ? "some"
        : res.getChanges() === kinds.DIFF_NONE
          ? "none"
          : "unknown",
    replaces: res.getReplacesList(),
    deleteBeforeReplace: res.getDeletebeforereplace(),
  };
}

async function create(host: Host, props: Props): Promise<{ id: string; props: Props }> {
  const req = new provproto.CreateRequest();
  req.setUrn(urn(String(props.name)));
  req.setProperties(struct(props));
  const res = await call<{ getId(): string; getProperties(): { toJavaScript(): Props } }>(
    host,
    "create",
    req,
  );
  return { id: res.getId(), props: res.getProperties().toJavaScript() };
}

async function read(host: Host, id: string, state: Props, ins: Props): Promise<{ id: string; props: Props }> {
  const req = new provproto.ReadRequest();
  req.setId(id);
  req.setUrn(urn(String(state.name)));
  req.setProperties(struct(state));
  req.setInputs(struct(ins));
  const res = await call<{ getId(): string; getProperties(): { toJavaScript(): Props } }>(host, "read", req);
  return { id: res.getId(), props: res.getProperties()?.toJavaScript() ?? {} };
}

async function update(host: Host, id: string, olds: Props, news: Props): Promise<Props> {
  const req = new provproto.UpdateRequest();
  req.setId(id);
  req.setUrn(urn(String(news.name)));
  req.setOlds(struct(olds));
  req.setNews(struct(news));
  const res = await call<{ getProperties(): { toJavaScript(): Props } }>(host, "update", req);
  return res.getProperties().toJavaScript();
}

async function remove(host: Host, id: string, state: Props): Promise<void> {
  const req = new provproto.DeleteRequest();
  req.setId(id);
  req.setUrn(urn(String(state.name)));
  req.setProperties(struct(state));
  await call(host, "delete", req);
}

/** Check, then Create with the checked inputs: the engine's path for a new resource. */
async function checkAndCreate(host: Host, news: Props): Promise<{ id: string; props: Props }> {
  const checked = await check(host, {}, news);
  expect(checked.failures).toEqual([]);
  return create(host, checked.inputs);
}

describe("the Blazar lease provider inside the real dynamic-provider host", () => {
  let host: Host;

  beforeAll(async () => {
    host = await startHost();
    await configure(host, { [KEYS.id]: "cred-ok", [KEYS.secret]: secret("s3cret") });
  });

  afterEach(() => {
    site.leases.clear();
  });

  test("GetPluginInfo answers the SDK's version", async () => {
    const info = await call<{ getVersion(): string }>(host, "getPluginInfo", new emptyproto.Empty());
    expect(info.getVersion()).toBe(SDK_VERSION);
  });

  test("create starting now: Check passes, Create waits for ACTIVE and keeps __provider in the state", async () => {
    const { id, props } = await checkAndCreate(host, inputs());
    expect(site.leases.get(id)?.status).toBe("ACTIVE");
    expect(props).toMatchObject({ leaseId: id, status: "ACTIVE", name: "staging-vm" });
    expect((props.reservationIds as string[]).length).toBe(2);
    expect(props.__provider).toBe(serializedProvider);
  });

  test("extend the end: Diff says update, not replace; Update moves the end in place", async () => {
    const { id, props: state } = await checkAndCreate(host, inputs({ hours: 2 }));
    const checked = await check(host, inputs({ hours: 2 }), inputs({ hours: 5 }));
    expect(await diff(host, id, state, checked.inputs)).toEqual({
      changes: "some",
      replaces: [],
      deleteBeforeReplace: false,
    });
    const updated = await update(host, id, state, checked.inputs);
    expect(updated.endDate).toBe(addHours(String(state.endDate), 3));
    expect(updated.leaseId).toBe(id);
    expect(site.leases.get(id)!.end_date.slice(0, 16).replace("T", " ")).toBe(updated.endDate);

    const refreshed = await read(host, id, updated, checked.inputs);
    expect([refreshed.id, refreshed.props.endDate, refreshed.props.status]).toEqual([
      id,
      updated.endDate,
      "ACTIVE",
    ]);
    expect(await diff(host, id, refreshed.props, checked.inputs)).toMatchObject({ changes: "none" });
  });

  test("delete twice: the second delete of a lease already gone succeeds", async () => {
    const { id, props } = await checkAndCreate(host, inputs());
    await remove(host, id, props);
    expect(site.leases.has(id)).toBe(false);
    await expect(remove(host, id, props)).resolves.toBeUndefined();
  });

  test("409, no hosts free in the window: one clear message", async () => {
    const reservations = [{ ...A100_HOST_RESERVATION, min: 3, max: 3 }];
    const start = formatBlazarDate(new Date(Math.floor(Date.now() / 3600_000 + 48) * 3600_000));
    const news = inputs({ name: "staging-gpu-x", start, hours: 4, reservations });
    await expect(checkAndCreate(host, news)).rejects.toThrow(
      `lease "staging-gpu-x" at KVM@TACC: creating it failed: no free resources for ${start} → ` +
        `${addHours(start, 4)} UTC (HTTP 409: Not enough hosts available). Pick another window`,
    );
    expect(site.leases.size).toBe(0);
  });

  test("403 for a restricted credential: the message says to use an unrestricted one", async () => {
    const news = inputs({ credentialId: "cred-restricted", credentialKeys: undefined });
    await expect(checkAndCreate(host, news)).rejects.toThrow(
      /not allowed \(HTTP 403: .*\)\. Leases can be managed only with an application credential created as "unrestricted".*openstack application credential create --unrestricted/,
    );
  });

  test("unreachable Keystone: the message names the URL and the reason", async () => {
    site.keystoneDown(true);
    try {
      await expect(checkAndCreate(host, inputs())).rejects.toThrow(
        `lease "staging-vm" at KVM@TACC: Keystone at ${site.authUrl} refused application credential cred-ok (HTTP 503: Service Unavailable)`,
      );
    } finally {
      site.keystoneDown(false);
    }
    const closed = `http://127.0.0.1:${await closedPort()}/identity/v3`;
    await expect(checkAndCreate(host, inputs({ authUrl: closed }))).rejects.toThrow(
      `lease "staging-vm" at KVM@TACC: cannot reach POST ${closed}/auth/tokens: ECONNREFUSED`,
    );
  });

  test("an expired lease on refresh reads back TERMINATED and Diff replaces it; a forgotten one reads back gone", async () => {
    const { id, props } = await checkAndCreate(host, inputs());
    site.expire(id);
    const refreshed = await read(host, id, props, inputs());
    expect([refreshed.id, refreshed.props.status]).toEqual([id, "TERMINATED"]);
    expect(await diff(host, id, refreshed.props, inputs())).toEqual({
      changes: "some",
      replaces: ["status"],
      deleteBeforeReplace: true,
    });

    site.forget(id);
    expect((await read(host, id, refreshed.props, inputs())).id).toBe("");
  });

  test("Check reports bad inputs property by property", async () => {
    const bad = { ...inputs({ start: "tomorrow", hours: -1 }) };
    const { failures } = await check(host, {}, bad);
    expect(failures).toEqual([
      { property: "start", reason: 'start "tomorrow": expected "now" or a UTC date YYYY-MM-DD HH:MM' },
      { property: "hours", reason: "hours -1: expected a positive number of whole minutes" },
    ]);
  });

  test("a create whose result was lost is finished by the next create: the lease is adopted", async () => {
    const first = await checkAndCreate(host, inputs());
    const again = await checkAndCreate(host, inputs());
    expect(again.id).toBe(first.id);
    expect(site.leases.size).toBe(1);
  });
});

describe("credential rotation through the host", () => {
  test("refresh and destroy after the old credential is revoked use the credential in the stack config now", async () => {
    site.addCredential("cred-old", { secret: "old-secret", unrestricted: true });
    site.addCredential("cred-new", { secret: "new-secret", unrestricted: true });
    const before = await startHost();
    await configure(before, { [KEYS.id]: "cred-old", [KEYS.secret]: secret("old-secret") });
    const news = inputs({ credentialId: "cred-old", credentialSecret: "old-secret" });
    const { id, props: state } = await checkAndCreate(before, news);
    expect(state.credentialId).toBe("cred-old");

    site.revokeCredential("cred-old");
    // `pulumi config set` the new credential, then `pulumi refresh` / `pulumi destroy`: a new
    // engine run, a new host, configured with the stack's config as it is now.
    const after = await startHost();
    await configure(after, { [KEYS.id]: "cred-new", [KEYS.secret]: secret("new-secret") });
    const refreshed = await read(after, id, state, news);
    expect([refreshed.id, refreshed.props.status]).toEqual([id, "ACTIVE"]);
    await remove(after, id, state);
    expect(site.leases.has(id)).toBe(false);

    // The state alone (no config) would have failed: the recorded credential is revoked.
    const bare = await startHost();
    await configure(bare, {});
    await expect(read(bare, id, state, news)).rejects.toThrow(
      /refused application credential cred-old .*the credential is the one recorded in the stack's state/,
    );
  });
});
