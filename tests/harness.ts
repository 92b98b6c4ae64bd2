import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import * as pulumi from "@pulumi/pulumi";
import { MockCallArgs, MockResourceArgs } from "@pulumi/pulumi/runtime/mocks";
import { KEYS } from "../stacks/configSchema";
import { loadConfig, PlatformConfig, PROJECT } from "../stacks/config";
import { BUILD_CACHE_ENV } from "./buildCache";
import { mockCall, mockState } from "./mockState";

/** One registered resource, as the offline plan and the tests see it. */
export interface ResourceRecord {
  urn: string;
  type: string;
  name: string;
  /** URN of the parent; undefined only for the stack itself. */
  parent?: string;
  /** URN of the explicit provider, when the resource has one. */
  provider?: string;
  custom: boolean;
  /** Inputs with secret wrappers removed. */
  inputs: Record<string, unknown>;
  /** Dotted paths of inputs that arrived as secrets. */
  secretPaths: string[];
  /** URNs this resource depends on: through its inputs and through dependsOn. */
  dependencies: string[];
}

/** The records of one type. */
export const byType = (build: { resources: ResourceRecord[] }, type: string): ResourceRecord[] =>
  build.resources.filter((r) => r.type === type);

/** The record of that type and name; throws naming the records there are. */
export function one(build: { resources: ResourceRecord[] }, type: string, name: string): ResourceRecord {
  const found = build.resources.find((r) => r.type === type && r.name === name);
  if (!found)
    throw new Error(`no ${type} named ${name}; have ${build.resources.map((r) => r.name).join(", ")}`);
  return found;
}

export interface StackOutput {
  value: unknown;
  secret: boolean;
}

export interface BuildResult {
  stack: string;
  resources: ResourceRecord[];
  outputs: Record<string, StackOutput>;
  /** Every secret value the build saw (config secrets and generated ones), for leak checks. */
  secretValues: string[];
  /** The validated config the program ran with (buildStack only). */
  config?: PlatformConfig;
  /** What the program told the user with `pulumi.log.warn` (e.g. ended GPU windows). */
  warnings?: string[];
}

export interface BuildOptions {
  /** Stack file to read; default Pulumi.<stack>.yaml at the repository root. */
  stackFile?: string;
  /** Keys to set (string) or remove (null), without the project prefix, on top of the stack file. */
  overrides?: Record<string, string | null>;
  /** Secret keys to set; these are marked secret, as `pulumi config set --secret` would. */
  secrets?: Record<string, string>;
  /**
   * Give every secret key the stack file lacks a visible placeholder, so that the plan runs with no
   * credentials. Tests of missing secrets turn this off.
   */
  fillSecrets?: boolean;
  /** The clock GPU windows are judged against. */
  now?: Date;
  /** Run the program even if this jest run already built the same inputs (the determinism test). */
  fresh?: boolean;
}

type CachedBuild = Pick<BuildResult, "resources" | "outputs" | "secretValues" | "warnings">;

/** Keyed by everything the program reads: the stack, the flat config, which keys are secret, the clock. */
function buildCacheFile(stack: string, inputs: unknown): string | undefined {
  const dir = process.env[BUILD_CACHE_ENV];
  if (!dir) return undefined;
  const key = crypto
    .createHash("sha256")
    .update(JSON.stringify([stack, inputs]))
    .digest("hex");
  return path.join(dir, `${stack}-${key.slice(0, 32)}.json`);
}

function readCachedBuild(file: string | undefined): CachedBuild | undefined {
  if (!file || !fs.existsSync(file)) return undefined;
  return JSON.parse(fs.readFileSync(file, "utf8")) as CachedBuild;
}

/**
 * Plain JSON data: what a cache hit can return exactly as the build did (an `undefined` property
 * reads the same when it is left out).
 */
function isPlainJson(value: unknown): boolean {
  if (value === null || ["string", "boolean"].includes(typeof value)) return true;
  if (typeof value === "number") return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((v) => v !== undefined && isPlainJson(v));
  if (typeof value !== "object") return false;
  // A plain object of any realm (jest runs each test file in its own): its prototype is Object.prototype.
  const proto = Object.getPrototypeOf(value);
  if (proto !== null && Object.getPrototypeOf(proto) !== null) return false;
  return Object.values(value as object).every((v) => v === undefined || isPlainJson(v));
}

/** Stores a build only if it is plain JSON, so that a cache hit reads what the build returned. */
function writeCachedBuild(file: string | undefined, build: CachedBuild): void {
  if (!file || !isPlainJson(build)) return;
  const text = JSON.stringify(build);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

export const REPO_ROOT = path.resolve(__dirname, "..");
/** The clock tests and the committed plans use: inside no committed GPU window. */
export const PLAN_CLOCK = new Date("2026-11-26T12:00:00Z");

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const DYNAMIC_PROVIDER_KEY = "__provider";

export class StackFileError extends Error {}

/** Reads a stack file into the flat string map the Pulumi engine hands the program. */
export function readStackFile(file: string): { config: Record<string, string>; secureKeys: string[] } {
  if (!fs.existsSync(file)) throw new StackFileError(`stack config file not found: ${file}`);
  let doc: { config?: Record<string, unknown> } | undefined;
  try {
    doc = yaml.load(fs.readFileSync(file, "utf8")) as typeof doc;
  } catch (e) {
    if (!(e instanceof yaml.YAMLException)) throw e;
    const at = e.mark ? `:${e.mark.line + 1}:${e.mark.column + 1}` : "";
    throw new StackFileError(
      `${path.relative(process.cwd(), file) || file}${at}: YAML syntax error: ${e.reason}`,
    );
  }
  const config: Record<string, string> = {};
  const secureKeys: string[] = [];
  for (const [k, value] of Object.entries(doc?.config ?? {})) {
    if (value && typeof value === "object" && !Array.isArray(value) && "secure" in value) {
      secureKeys.push(k);
      continue;
    }
    config[k] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return { config, secureKeys };
}

/**
 * Runs the whole program under Pulumi's mocks for one stack's config and records every resource.
 * No cloud, no credentials and no Pulumi CLI are involved.
 */
export async function buildStack(stack: string, options: BuildOptions = {}): Promise<BuildResult> {
  const file = options.stackFile ?? path.join(REPO_ROOT, `Pulumi.${stack}.yaml`);
  const { config, secureKeys } = readStackFile(file);
  const secretKeys: string[] = [];
  const secretValues: string[] = [];

  const setSecret = (k: string, value: string) => {
    config[`${PROJECT}:${k}`] = value;
    secretKeys.push(`${PROJECT}:${k}`);
    secretValues.push(value);
  };
  for (const [k, value] of Object.entries(options.overrides ?? {})) {
    if (value === null) delete config[`${PROJECT}:${k}`];
    else config[`${PROJECT}:${k}`] = value;
  }
  for (const [k, value] of Object.entries(options.secrets ?? {})) setSecret(k, value);
  if (options.fillSecrets ?? true) {
    for (const [k, spec] of Object.entries(KEYS)) {
      const full = `${PROJECT}:${k}`;
      if (spec.secret && (config[full] === undefined || secureKeys.includes(full))) {
        setSecret(k, placeholderSecret(k));
      }
    }
  }

  // The offline plan talks to no cloud, so the committed placeholder credential ids may stand.
  const load = { now: options.now ?? PLAN_CLOCK, allowPlaceholders: true };
  const cacheFile = buildCacheFile(stack, [config, secretKeys, load.now.toISOString()]);
  let run = options.fresh ? undefined : readCachedBuild(cacheFile);
  if (!run) {
    // Loaded lazily so that config is in place before the program reads it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { program } = require("../stacks/program") as typeof import("../stacks/program");
    const built = await runUnderMocks(() => program(load), { stack, config, secretKeys });
    run = {
      resources: built.resources,
      outputs: built.outputs,
      secretValues: built.secretValues,
      warnings: built.warnings,
    };
    writeCachedBuild(cacheFile, run);
  }
  return {
    stack,
    ...run,
    config: loadConfig(config, load),
    secretValues: [...new Set([...secretValues, ...run.secretValues])].filter((s) => s.length >= 6),
  };
}

export interface MockRunOptions {
  stack?: string;
  /** Flat config map, keys with the project prefix. */
  config?: Record<string, string>;
  secretKeys?: string[];
}

/**
 * Runs `fn` inside a mocked Pulumi stack and records every resource it registers. `buildStack`
 * uses it for the whole program; component tests use it to build one component alone.
 */
export async function runUnderMocks(
  fn: () => Record<string, pulumi.Output<unknown>> | void,
  options: MockRunOptions = {},
): Promise<Omit<BuildResult, "stack">> {
  const secretValues: string[] = [];
  const parents = new Map<string, string>();
  const dependencies = new Map<string, string[]>();
  await pulumi.runtime.setMocks(
    {
      newResource: (args: MockResourceArgs) => {
        const { id, state, secrets } = mockState(args);
        secretValues.push(...secrets);
        return { id, state };
      },
      call: (args: MockCallArgs) => mockCall(args),
    },
    PROJECT,
    options.stack ?? "test",
    false,
  );
  recordParents(parents, dependencies);
  pulumi.runtime.setAllConfig(options.config ?? {}, options.secretKeys ?? []);

  const captured: Omit<ResourceRecord, "dependencies">[] = [];
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    mocks: { newResource: (a: MockResourceArgs) => unknown };
  };
  const original = monitor.mocks.newResource.bind(monitor.mocks);
  monitor.mocks.newResource = (args: MockResourceArgs) => {
    const secretPaths: string[] = [];
    const inputs = unwrap(args.inputs, "", secretPaths) as Record<string, unknown>;
    delete inputs[DYNAMIC_PROVIDER_KEY];
    captured.push({
      urn: "",
      type: args.type,
      name: args.name,
      provider: args.provider ? args.provider.split("::").slice(0, -1).join("::") : undefined,
      custom: args.custom ?? true,
      inputs,
      secretPaths,
    });
    return original(args);
  };

  let programOutputs: Record<string, pulumi.Output<unknown>> = {};
  const warnings: string[] = [];
  const log = pulumi.log as { warn: typeof pulumi.log.warn };
  const warn = log.warn;
  log.warn = async (message: string) => void warnings.push(message);
  try {
    await pulumi.runtime.runInPulumiStack(async () => {
      programOutputs = fn() ?? {};
      return programOutputs;
    });
  } finally {
    log.warn = warn;
  }
  // Registrations run asynchronously; wait until every queued one has reached the mocks.
  await waitForRegistrations();

  const resources: ResourceRecord[] = captured.map((record) => {
    const urn = urnOf(parents, record);
    return {
      ...record,
      urn,
      parent: parents.get(urn) || undefined,
      dependencies: dependencies.get(urn) ?? [],
    };
  });
  const outputs: Record<string, StackOutput> = {};
  for (const [name, output] of Object.entries(programOutputs)) {
    outputs[name] = { value: await promiseOf(output), secret: await pulumi.isSecret(output) };
  }
  return { resources, outputs, secretValues, warnings };
}

function waitForRegistrations(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const settings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };
  return settings.waitForRPCs();
}

/**
 * A committed stack's config as `loadConfig` returns it, without running the program: the stack
 * file, a placeholder for every secret it lacks, then `overrides` (keys without the project
 * prefix), with GPU windows judged at `now`.
 */
export function stackConfig(
  stack: string,
  overrides: Record<string, string> = {},
  now: Date = PLAN_CLOCK,
): PlatformConfig {
  const { config } = readStackFile(path.join(REPO_ROOT, `Pulumi.${stack}.yaml`));
  for (const [k, spec] of Object.entries(KEYS)) {
    if (spec.secret && config[`${PROJECT}:${k}`] === undefined)
      config[`${PROJECT}:${k}`] = placeholderSecret(k);
  }
  for (const [k, v] of Object.entries(overrides)) config[`${PROJECT}:${k}`] = v;
  return loadConfig(config, { now, allowPlaceholders: true });
}

/** A visible, non-working stand-in for a secret the offline plan has no access to. */
export function placeholderSecret(k: string): string {
  return `offline-placeholder-${k}`;
}

/** Wraps the mock monitor so that each registration's parent URN is recorded. */
function recordParents(parents: Map<string, string>, dependencies: Map<string, string[]>): void {
  type Req = { getParent(): string; getType(): string; getName(): string; getDependenciesList(): string[] };
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource(req: Req, cb: (err: unknown, res: { getUrn(): string } | undefined) => void): void;
  };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) =>
    register(req, (err, res) => {
      if (res) {
        parents.set(res.getUrn(), req.getParent());
        dependencies.set(res.getUrn(), [...new Set(req.getDependenciesList())].sort());
      }
      cb(err, res);
    });
}

function urnOf(parents: Map<string, string>, record: { type: string; name: string }): string {
  const suffix = `::${record.name}`;
  for (const urn of parents.keys()) {
    const qualified = urn.split("::")[2] ?? "";
    if (urn.endsWith(suffix) && qualified.split("$").pop() === record.type) return urn;
  }
  throw new Error(`harness: no URN recorded for ${record.type} ${record.name}`);
}

function unwrap(value: unknown, at: string, secretPaths: string[]): unknown {
  if (Array.isArray(value)) return value.map((v, i) => unwrap(v, `${at}[${i}]`, secretPaths));
  if (value && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    if (obj[SECRET_SIG] === "1b47061264138c4ac30d75fd1eb44270") {
      secretPaths.push(at || "(root)");
      return unwrap(obj.value, at, []);
    }
    return Object.fromEntries(
      Object.entries(obj).map(([k, v]) => [k, unwrap(v, at ? `${at}.${k}` : k, secretPaths)]),
    );
  }
  return value;
}

function promiseOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((v) => resolve(v)));
}
