import { spawn } from "child_process";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import * as engineRpc from "@pulumi/pulumi/proto/engine_grpc_pb";
import * as enginePb from "@pulumi/pulumi/proto/engine_pb";
import * as providerPb from "@pulumi/pulumi/proto/provider_pb";
import * as resourceRpc from "@pulumi/pulumi/proto/resource_grpc_pb";
import * as resourcePb from "@pulumi/pulumi/proto/resource_pb";
import { mockCall, mockState } from "../mockState";

/**
 * Runs the program the way `pulumi up` does: the real language-host entry point
 * (`@pulumi/pulumi/cmd/run`) in a child process, with the flags and environment that
 * pulumi-language-nodejs gives it (`constructArguments`, `constructConfig` and the `typescript`
 * runtime option), against an in-process gRPC ResourceMonitor and Engine. The monitor answers as
 * the engine does after a successful update: each resource's inputs plus the state
 * tests/mockState.ts derives for it, secret outputs wrapped as secrets.
 */

export const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const OUTPUT_VALUE_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4";

/** What the engine advertises; the SDK asks for each of these before it registers anything. */
const FEATURES = new Set([
  "secrets",
  "resourceReferences",
  "outputValues",
  "deletedWith",
  "aliasSpecs",
  "transforms",
  "invokeTransforms",
  "parameterization",
]);

export interface HostRegistration {
  urn: string;
  type: string;
  name: string;
  /** URN of the parent; empty for the stack. */
  parent: string;
  custom: boolean;
  provider: string;
  /** The request as the monitor received it: properties still carry their secret wrappers. */
  object: Record<string, unknown>;
  /** Every other field of the request, as protobuf's toObject gives it. */
  request: Record<string, unknown>;
}

export interface HostRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr of the child, interleaved. */
  output: string;
  logs: { severity: "debug" | "info" | "warning" | "error"; message: string; urn: string }[];
  registrations: HostRegistration[];
  invokes: { token: string; args: Record<string, unknown> }[];
  stackOutputs?: Record<string, unknown>;
  /** Values the monitor returned as secrets (generated passwords, keys, kubeconfigs). */
  returnedSecrets: string[];
  rootResource?: string;
  wallMs: number;
}

export interface HostOptions {
  project: string;
  stack: string;
  /** The program directory (where Pulumi.yaml and tsconfig.json are). */
  programDir: string;
  /** Flat config as the engine passes it: `project:key` → string (arrays and objects as JSON). */
  config: Record<string, string>;
  /** Keys of `config` that hold secrets, `project:key`. */
  secretKeys: string[];
  /** Pulumi.yaml's `runtime.options.typescript`. */
  typescript: boolean;
  timeoutMs: number;
}

const SEVERITY = ["debug", "info", "warning", "error"] as const;

/** Starts the monitor, runs the language host to completion and returns what it registered. */
export async function runLanguageHost(options: HostOptions): Promise<HostRun> {
  const started = Date.now();
  const run: HostRun = {
    exitCode: null,
    signal: null,
    output: "",
    logs: [],
    registrations: [],
    invokes: [],
    returnedSecrets: [],
    wallMs: 0,
  };
  const server = new grpc.Server();
  server.addService(resourceRpc.ResourceMonitorService, monitor(options, run));
  server.addService(engineRpc.EngineService, engine(run));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const address = `127.0.0.1:${port}`;

  // pulumi-language-nodejs's constructArguments: flags, then the entry point ("." = package.json main).
  const runPath = require.resolve("@pulumi/pulumi/cmd/run", { paths: [options.programDir] });
  const args = [
    runPath,
    "--monitor",
    address,
    "--engine",
    address,
    "--organization",
    "organization",
    "--project",
    options.project,
    "--stack",
    options.stack,
    "--pwd",
    options.programDir,
    "--query-mode",
    "false",
    "--parallel",
    "4",
    ".",
  ];
  // constructConfig rewrites `project:key` to the older `project:config:key` the SDK also reads.
  const config = Object.fromEntries(
    Object.entries(options.config).map(([k, v]) => {
      const i = k.indexOf(":");
      return [`${k.slice(0, i)}:config:${k.slice(i + 1)}`, v];
    }),
  );
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PULUMI_CONFIG: JSON.stringify(config),
    PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(options.secretKeys),
    ...(options.typescript ? { PULUMI_NODEJS_TYPESCRIPT: "true" } : {}),
  };

  try {
    await new Promise<void>((resolve) => {
      const child = spawn(process.execPath, args, { cwd: options.programDir, env });
      const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
      child.stdout.on("data", (d: Buffer) => (run.output += d.toString()));
      child.stderr.on("data", (d: Buffer) => (run.output += d.toString()));
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        run.exitCode = code;
        run.signal = signal;
        resolve();
      });
    });
  } finally {
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  }
  run.wallMs = Date.now() - started;
  return run;
}

type Callback<T> = (err: grpc.ServiceError | null, value?: T) => void;
type Unary<Req, Res> = (call: { request: Req }, callback: Callback<Res>) => void;

function fail<T>(callback: Callback<T>, e: unknown): void {
  callback({
    code: grpc.status.UNKNOWN,
    details: e instanceof Error ? e.message : String(e),
    metadata: new grpc.Metadata(),
    name: "Error",
    message: e instanceof Error ? e.message : String(e),
  });
}

function monitor(options: HostOptions, run: HostRun) {
  const qualifiedTypes = new Map<string, string>();
  const handlers: Record<string, Unary<never, unknown>> = {
    supportsFeature: ((call: { request: resourcePb.SupportsFeatureRequest }, cb: Callback<unknown>) =>
      cb(
        null,
        new resourcePb.SupportsFeatureResponse().setHassupport(FEATURES.has(call.request.getId())),
      )) as Unary<never, unknown>,

    registerResource: ((call: { request: resourcePb.RegisterResourceRequest }, cb: Callback<unknown>) => {
      try {
        const req = call.request;
        const type = req.getType();
        const name = req.getName();
        const parent = req.getParent();
        // The engine's URN: the parent's qualified type chain, except for the root stack.
        const parentQualified = parent ? qualifiedTypes.get(parent) : undefined;
        if (parent && parentQualified === undefined) throw new Error(`unknown parent ${parent}`);
        const qualified =
          parentQualified && parentQualified !== "pulumi:pulumi:Stack" ? `${parentQualified}$${type}` : type;
        const urn = `urn:pulumi:${options.stack}::${options.project}::${qualified}::${name}`;
        if (qualifiedTypes.has(urn)) throw new Error(`duplicate URN ${urn}`);
        qualifiedTypes.set(urn, qualified);

        const object = (req.getObject()?.toJavaScript() ?? {}) as Record<string, unknown>;
        const request = req.toObject() as unknown as Record<string, unknown>;
        delete request.object;
        run.registrations.push({
          urn,
          type,
          name,
          parent,
          custom: req.getCustom(),
          provider: req.getProvider(),
          object,
          request,
        });

        const res = new resourcePb.RegisterResourceResponse().setUrn(urn);
        if (req.getCustom() || req.getRemote()) {
          const inputs = unwrapSecrets(object) as Record<string, unknown>;
          const mocked = mockState({
            type,
            name,
            inputs,
            provider: req.getProvider(),
            id: req.getImportid() || undefined,
            custom: req.getCustom(),
          });
          const secretOutputs = new Set(req.getAdditionalsecretoutputsList());
          const state: Record<string, unknown> = {};
          for (const [k, v] of Object.entries(mocked.state)) {
            // Echoed inputs keep the secrecy they arrived with, as the engine keeps it.
            const echoed = k in object && JSON.stringify(v) === JSON.stringify(inputs[k]);
            const value = echoed ? object[k] : v;
            const secret = secretOutputs.has(k) || (typeof v === "string" && mocked.secrets.includes(v));
            if (secret && typeof v === "string") run.returnedSecrets.push(v);
            state[k] = secret && !isSecret(value) ? { [SECRET_SIG_KEY]: SECRET_SIG, value } : value;
          }
          res.setId(mocked.id).setObject(Struct.fromJavaScript(state as never));
        } else {
          res.setObject(Struct.fromJavaScript({}));
        }
        cb(null, res);
      } catch (e) {
        fail(cb, e);
      }
    }) as Unary<never, unknown>,

    registerResourceOutputs: ((
      call: { request: resourcePb.RegisterResourceOutputsRequest },
      cb: Callback<unknown>,
    ) => {
      if (call.request.getUrn() === run.rootResource) {
        run.stackOutputs = (call.request.getOutputs()?.toJavaScript() ?? {}) as Record<string, unknown>;
      }
      cb(null, new Empty());
    }) as Unary<never, unknown>,

    invoke: ((call: { request: resourcePb.ResourceInvokeRequest }, cb: Callback<unknown>) => {
      try {
        const token = call.request.getTok();
        const args = (call.request.getArgs()?.toJavaScript() ?? {}) as Record<string, unknown>;
        run.invokes.push({ token, args });
        const result = mockCall({ token, inputs: unwrapSecrets(args) as Record<string, unknown> });
        cb(null, new providerPb.InvokeResponse().setReturn(Struct.fromJavaScript(result as never)));
      } catch (e) {
        fail(cb, e);
      }
    }) as Unary<never, unknown>,

    call: ((_call: unknown, cb: Callback<unknown>) =>
      fail(cb, new Error("the program calls no component methods"))) as Unary<never, unknown>,
    readResource: ((call: { request: resourcePb.ReadResourceRequest }, cb: Callback<unknown>) =>
      fail(cb, new Error(`unexpected read of ${call.request.getType()} ${call.request.getName()}`))) as Unary<
      never,
      unknown
    >,
    registerPackage: ((call: { request: resourcePb.RegisterPackageRequest }, cb: Callback<unknown>) =>
      cb(
        null,
        new resourcePb.RegisterPackageResponse().setRef(
          `${call.request.getName()}@${call.request.getVersion()}`,
        ),
      )) as Unary<never, unknown>,
    signalAndWaitForShutdown: ((_call: unknown, cb: Callback<unknown>) => cb(null, new Empty())) as Unary<
      never,
      unknown
    >,
  };
  return handlers as unknown as grpc.UntypedServiceImplementation;
}

function engine(run: HostRun) {
  return {
    log: (call: { request: enginePb.LogRequest }, cb: Callback<unknown>) => {
      run.logs.push({
        severity: SEVERITY[call.request.getSeverity()] ?? "error",
        message: call.request.getMessage(),
        urn: call.request.getUrn(),
      });
      cb(null, new Empty());
    },
    getRootResource: (_call: unknown, cb: Callback<unknown>) =>
      cb(null, new enginePb.GetRootResourceResponse().setUrn(run.rootResource ?? "")),
    setRootResource: (call: { request: enginePb.SetRootResourceRequest }, cb: Callback<unknown>) => {
      run.rootResource = call.request.getUrn();
      cb(null, new enginePb.SetRootResourceResponse());
    },
    requirePulumiVersion: (_call: unknown, cb: Callback<unknown>) =>
      cb(null, new enginePb.RequirePulumiVersionResponse()),
  } as unknown as grpc.UntypedServiceImplementation;
}

export function isSecret(value: unknown): boolean {
  if (!value || typeof value !== "object") return false;
  const obj = value as Record<string, unknown>;
  return (
    obj[SECRET_SIG_KEY] === SECRET_SIG || (obj[SECRET_SIG_KEY] === OUTPUT_VALUE_SIG && obj.secret === true)
  );
}

/** The value with secret wrappers replaced by what they hold. */
export function unwrapSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    if (obj[SECRET_SIG_KEY] === SECRET_SIG) return unwrapSecrets(obj.value);
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, unwrapSecrets(v)]));
  }
  return value;
}

/** The contents of every secret in the value. */
export function secretParts(value: unknown): unknown[] {
  if (Array.isArray(value)) return value.flatMap(secretParts);
  if (value && typeof value === "object") {
    if (isSecret(value)) return [(value as Record<string, unknown>).value];
    return Object.values(value).flatMap(secretParts);
  }
  return [];
}

/** The value with every secret (and its contents) removed: what would be stored or shown in clear. */
export function withoutSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSecrets);
  if (value && typeof value === "object") {
    if (isSecret(value)) return "[secret]";
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutSecrets(v)]));
  }
  return value;
}

/** Type and name of the resource a URN names (the engine's and the mocks' URNs differ in the type chain). */
export function typeAndName(urn: string): string {
  if (!urn) return "";
  const parts = urn.split("::");
  return `${parts[2].split("$").pop()}::${parts.slice(3).join("::")}`;
}

export const REPO_ROOT = path.resolve(__dirname, "..", "..");
