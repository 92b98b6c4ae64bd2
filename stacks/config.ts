import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { ConfigKey, DEFAULTS, GPU_WINDOW, KEYS, RawConfig, RESOURCES } from "./configSchema";
import { s3EndpointOf, site, SiteId, SITES } from "../components/chameleon/sites";
import {
  ChameleonCluster,
  GpuReservation,
  GpuWindow,
  Secret,
  SiteCredential,
} from "../components/chameleon/clusterSpec";
import { BUCKET_ROLES, BucketRole, FeatureSwitches, PROJECT, ResourceSpec } from "../components/contracts";

export type { ChameleonCluster, GpuReservation, GpuWindow, Secret, SiteCredential };
export { BUCKET_ROLES, PROJECT };
export type { BucketRole, ResourceSpec };

/** A config value that failed a rule. The message names the key, the bad value and what is allowed. */
export class ConfigError extends Error {
  constructor(readonly problems: { key: string; message: string }[]) {
    super(
      problems.length === 1
        ? `Invalid stack config: ${problems[0].message}`
        : `Invalid stack config (${problems.length} problems):\n` +
            problems.map((p) => `  - ${p.message}`).join("\n"),
    );
    this.name = "ConfigError";
  }
  get keys(): string[] {
    return this.problems.map((p) => p.key);
  }
}

export interface ExistingCluster {
  mode: "existing";
  kubeconfig: Secret;
}

export interface ObjectStore {
  endpoint: string;
  /** In chameleon mode the keys are EC2 credentials made by the estate; in existing mode they come from config. */
  credentials?: { accessKey: Secret; secretKey: Secret };
}

export interface PlatformConfig {
  project: string;
  environment: "staging" | "production";
  cluster: ChameleonCluster | ExistingCluster;
  objectStore: ObjectStore;
  buckets: Readonly<Record<BucketRole, string>>;
  images: { trainer: string; mlflow: string; triton: string; gateway: string; simulator: string };
  serving: {
    replicas: number;
    gatewayReplicas: number;
    canaryWeight: number;
    p95SloMs: number;
    triton: ResourceSpec;
    gateway: ResourceSpec;
    /** The served model is `ssept-<dataset>`; its online features are at `<dataset>/<featuresVersion>`. */
    dataset: string;
    featuresVersion: string;
    maxlen: number;
    maxReplicas: number;
    redis: ResourceSpec;
    redisStorageGi: number;
  };
  simulator: { replicas: number; usersPerSecond: number; thinkTimeMs: number; sessionLength: number };
  monitoring: { retention: string; storageGi: number };
  mlflow: { backupSchedule: string; postgresStorageGi: number; server: ResourceSpec; postgres: ResourceSpec };
  ray: {
    head: ResourceSpec;
    cpuWorker: ResourceSpec & { min: number; max: number };
    gpuWorker: ResourceSpec & { min: number; max: number };
  };
  ingress: { domain?: string; tlsMode: "self-signed" | "acme"; acmeEmail?: string };
  /** The secret keys this stack reads, given its mode and sites: what a user must set with --secret. */
  secretKeys: readonly ConfigKey[];
  /** Keys still holding a committed placeholder (only with allowPlaceholders, i.e. the offline plan). */
  placeholders: readonly ConfigKey[];
  /** Model versions per serving track; written by tools/promote.ts. */
  models: { stable?: string; canary?: string };
  /** Thresholds of tools/promote.ts. */
  promotion: {
    ndcgMargin: number;
    soakMinutes: number;
    minRequests: number;
    maxHrDrop: number;
    maxLatencyRatio: number;
    maxErrorRatio: number;
  };
  features: FeatureSwitches;
}

const CREDENTIAL_KEYS: Record<SiteId, { id: ConfigKey; secret: ConfigKey }> = {
  "kvm-tacc": { id: "kvmTaccCredentialId", secret: "kvmTaccCredentialSecret" },
  "chi-tacc": { id: "chiTaccCredentialId", secret: "chiTaccCredentialSecret" },
  "chi-uc": { id: "chiUcCredentialId", secret: "chiUcCredentialSecret" },
};

export interface LoadOptions {
  /** The moment GPU windows are judged against; tests pin it. */
  now?: Date;
  /**
   * Accept the committed placeholder credential ids (`replace-with-your-...`) and list them in
   * `placeholders`: only the offline plan, which talks to no cloud, does this.
   */
  allowPlaceholders?: boolean;
}

/** How the committed stack files spell a credential id the user has not filled in yet. */
export const PLACEHOLDER_PREFIX = "replace-with-your-";

/**
 * Validates raw stack config (keys with or without the `sse-pt-platform:` prefix, values as the
 * Pulumi engine passes them: strings, arrays as JSON) and returns one frozen, typed object.
 * Every problem is collected, so one run names them all.
 */
export function loadConfig(raw: Record<string, string>, options: LoadOptions = {}): PlatformConfig {
  const now = options.now ?? new Date();
  const problems: { key: string; message: string }[] = [];
  const fail = (k: string, value: unknown, allowed: string) =>
    problems.push({ key: k, message: `${PROJECT}:${k} = ${show(k, value)}: expected ${allowed}` });

  const values: RawConfig = {};
  for (const [fullKey, text] of Object.entries(raw)) {
    const [namespace, k] = splitKey(fullKey);
    if (namespace !== PROJECT) continue;
    if (!(k in KEYS)) {
      const hint = closestKey(k);
      problems.push({
        key: k,
        message: `${PROJECT}:${k} is not a known key${hint ? ` (did you mean ${hint}?)` : ""}; see Pulumi.yaml for every key`,
      });
      continue;
    }
    const spec = KEYS[k as ConfigKey];
    const coerced = coerce(spec.type, text);
    if (!coerced.ok) {
      fail(
        k,
        text,
        { string: "a string", integer: "an integer", boolean: "a boolean", array: "a JSON array" }[spec.type],
      );
      continue;
    }
    const parsed = spec.schema.safeParse(coerced.value);
    if (!parsed.success) {
      fail(k, coerced.value, describeIssue(parsed.error));
      continue;
    }
    (values as Record<string, unknown>)[k] = parsed.data;
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const v = { ...DEFAULTS, ...values } as Required<RawConfig>;
  const has = (k: ConfigKey) => values[k] !== undefined;
  const require = (k: ConfigKey, why: string) => {
    if (!has(k)) problems.push({ key: k, message: `${PROJECT}:${k} is missing: required ${why}` });
  };
  const secretKeys = new Set<ConfigKey>();
  const placeholders: ConfigKey[] = [];
  const secret = (k: ConfigKey): Secret => {
    secretKeys.add(k);
    return pulumi.secret(String(values[k]));
  };

  for (const k of ALWAYS_REQUIRED) require(k, "in every stack");

  let cluster: ChameleonCluster | ExistingCluster;
  let objectStore: ObjectStore;
  if (v.clusterMode === "existing") {
    require("existingKubeconfig", "when clusterMode is existing (set it with --secret)");
    require("existingS3Endpoint", "when clusterMode is existing");
    require("existingS3AccessKey", "when clusterMode is existing (set it with --secret)");
    require("existingS3SecretKey", "when clusterMode is existing (set it with --secret)");
    require("domain", "when clusterMode is existing: there is no floating IP to derive UI hostnames from");
    cluster = {
      mode: "existing",
      kubeconfig: has("existingKubeconfig") ? secret("existingKubeconfig") : pulumi.secret(""),
    };
    objectStore = {
      endpoint: v.existingS3Endpoint,
      credentials: has("existingS3SecretKey")
        ? { accessKey: secret("existingS3AccessKey"), secretKey: secret("existingS3SecretKey") }
        : undefined,
    };
  } else {
    const sites = {
      compute: site(v.computeSite as SiteId),
      gpu: site(v.gpuSite as SiteId),
      objectStore: site(v.objectStoreSite as SiteId),
    };
    if (sites.compute.bareMetal) {
      fail("computeSite", v.computeSite, "a KVM site (kvm-tacc): the k3s VMs boot from reserved flavors");
    }
    if (!sites.objectStore.hasObjectStore) {
      fail(
        "objectStoreSite",
        v.objectStoreSite,
        `a site with an object store (${objectStoreSites().join(" or ")})`,
      );
    }
    const used = new Set<SiteId>([sites.compute.id, sites.objectStore.id]);
    if (v.gpuNodeCount > 0) used.add(sites.gpu.id);
    const credentials: Partial<Record<SiteId, SiteCredential>> = {};
    for (const id of used) {
      const keys = CREDENTIAL_KEYS[id];
      require(keys.id, `because site ${id} is in use`);
      require(keys.secret, `because site ${id} is in use (set it with --secret)`);
      if (String(values[keys.id] ?? "").startsWith(PLACEHOLDER_PREFIX)) {
        if (options.allowPlaceholders) placeholders.push(keys.id);
        else {
          fail(
            keys.id,
            values[keys.id],
            `your application credential id at ${id}, not the committed placeholder (pulumi config set ${keys.id} <id>)`,
          );
        }
      }
      if (has(keys.id) && has(keys.secret)) {
        credentials[id] = {
          site: site(id),
          id: String(values[keys.id]),
          secret: secret(keys.secret),
          keys: { id: `${PROJECT}:${keys.id}`, secret: `${PROJECT}:${keys.secret}` },
        };
      }
    }
    require("adminCidrs", "in chameleon mode: who may reach SSH and the Kubernetes API");
    require("keyPairName", "in chameleon mode");
    require("sshPrivateKey", "in chameleon mode (set it with --secret)");

    if (sites.gpu.id !== sites.compute.id && cidrsOverlap(v.subnetCidr, v.gpuSubnetCidr)) {
      fail(
        "gpuSubnetCidr",
        v.gpuSubnetCidr,
        `a range apart from subnetCidr (${v.subnetCidr}): k3s needs unique node addresses`,
      );
    }
    const { windows, ended: endedWindows } = parseWindows(v.gpuWindows, now, fail);
    if (v.gpuNodeCount > 0 && v.gpuWindows.length === 0) {
      fail("gpuWindows", v.gpuWindows, `at least one window while gpuNodeCount is ${v.gpuNodeCount}`);
    }
    cluster = {
      mode: "chameleon",
      sites,
      credentials,
      adminCidrs: v.adminCidrs ?? [],
      keyPairName: v.keyPairName,
      sshPrivateKey: has("sshPrivateKey") ? secret("sshPrivateKey") : pulumi.secret(""),
      network: {
        externalNetwork: v.externalNetwork,
        subnetCidr: v.subnetCidr,
        gpuSubnetCidr: v.gpuSubnetCidr,
        sporadicFloatingIp: v.sporadicFloatingIp,
      },
      k3sVersion: v.k3sVersion,
      nodes: {
        vmImage: v.vmImage,
        serverFlavor: v.serverFlavor,
        agentFlavor: v.agentFlavor,
        agentCount: v.agentCount,
        vmLeaseHours: v.vmLeaseHours,
      },
      dataVolumeGb: v.dataVolumeGb,
      su: {
        bareMetalPerNodeHour: Number(v.suPerBareMetalNodeHour),
        kvmHostPerHour: Number(v.suPerKvmHostHour),
        bareMetalRateSet: has("suPerBareMetalNodeHour"),
      },
      gpu: {
        nodeCount: v.gpuNodeCount,
        image: v.gpuImage,
        reservation: sites.gpu.bareMetal
          ? { kind: "physical:host", nodeType: v.gpuNodeType }
          : { kind: "flavor:instance", flavor: v.gpuFlavor },
        windows,
        endedWindows,
        activeWindow: windows.find((w) => w.startsAt <= now && now < w.endsAt),
      },
    };
    objectStore = { endpoint: s3EndpointOf(sites.objectStore.id) };
  }

  if (v.tlsMode === "acme") {
    require("domain", "when tlsMode is acme (ACME needs a public DNS name)");
    require("acmeEmail", "when tlsMode is acme");
  }
  if (v.enableArgo && !(v.enableRay && v.enableMlflow)) {
    fail(
      "enableArgo",
      true,
      "enableRay and enableMlflow to be true too: the pipeline trains on Ray and registers in MLflow",
    );
  }
  if (v.enableRay && !v.enableMlflow) {
    fail("enableRay", true, "enableMlflow to be true too: Ray jobs log runs and models to MLflow");
  }
  if (v.enableSimulator && !v.enableServing) {
    fail(
      "enableSimulator",
      true,
      "enableServing to be true too: the simulator sends requests to the gateway",
    );
  }
  if (v.enableServing && v.stableModelVersion === undefined) {
    require("stableModelVersion", "when enableServing is true: the version the stable track serves");
  }
  if (v.servingReplicas > v.tritonMaxReplicas) {
    fail("servingReplicas", v.servingReplicas, `at most tritonMaxReplicas (${v.tritonMaxReplicas})`);
  }
  if (v.rayCpuWorkersMin > v.rayCpuWorkersMax) {
    fail("rayCpuWorkersMin", v.rayCpuWorkersMin, `at most rayCpuWorkersMax (${v.rayCpuWorkersMax})`);
  }
  if (v.rayGpuWorkersMin > v.rayGpuWorkersMax) {
    fail("rayGpuWorkersMin", v.rayGpuWorkersMin, `at most rayGpuWorkersMax (${v.rayGpuWorkersMax})`);
  }
  for (const k of RESOURCE_KEYS) {
    const spec = parseResources(v[k]);
    if (!fits(spec)) fail(k, v[k], "requests no larger than limits");
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const prefix = v.bucketPrefix ?? `ssept-${v.environment}`;
  const buckets = Object.fromEntries(BUCKET_ROLES.map((r) => [r, `${prefix}-${r}`])) as Record<
    BucketRole,
    string
  >;

  return deepFreeze({
    project: PROJECT,
    environment: v.environment,
    cluster,
    objectStore,
    buckets,
    images: {
      trainer: v.trainerImage,
      mlflow: v.mlflowImage,
      triton: v.tritonImage,
      gateway: v.gatewayImage,
      simulator: v.simulatorImage,
    },
    serving: {
      replicas: v.servingReplicas,
      gatewayReplicas: v.gatewayReplicas,
      canaryWeight: v.canaryWeight,
      p95SloMs: v.inferenceP95SloMs,
      triton: parseResources(v.tritonResources),
      gateway: parseResources(v.gatewayResources),
      dataset: v.servingDataset,
      featuresVersion: v.onlineFeaturesVersion,
      maxlen: v.servingMaxlen,
      maxReplicas: v.tritonMaxReplicas,
      redis: parseResources(v.redisResources),
      redisStorageGi: v.redisStorageGi,
    },
    simulator: {
      replicas: v.simulatorReplicas,
      usersPerSecond: v.simulatorUsersPerSecond,
      thinkTimeMs: v.simulatorThinkTimeMs,
      sessionLength: v.simulatorSessionLength,
    },
    monitoring: { retention: v.prometheusRetention, storageGi: v.prometheusStorageGi },
    mlflow: {
      backupSchedule: v.mlflowBackupSchedule,
      postgresStorageGi: v.postgresStorageGi,
      server: parseResources(v.mlflowResources),
      postgres: parseResources(v.postgresResources),
    },
    ray: {
      head: parseResources(v.rayHeadResources),
      cpuWorker: {
        ...parseResources(v.rayCpuWorkerResources),
        min: v.rayCpuWorkersMin,
        max: v.rayCpuWorkersMax,
      },
      gpuWorker: {
        ...parseResources(v.rayGpuWorkerResources),
        min: v.rayGpuWorkersMin,
        max: v.rayGpuWorkersMax,
      },
    },
    ingress: { domain: v.domain, tlsMode: v.tlsMode, acmeEmail: v.acmeEmail },
    secretKeys: [...secretKeys],
    placeholders,
    models: { stable: v.stableModelVersion, canary: v.canaryModelVersion },
    promotion: {
      ndcgMargin: Number(v.promotionNdcgMargin),
      soakMinutes: v.promotionSoakMinutes,
      minRequests: v.promotionMinRequests,
      maxHrDrop: Number(v.promotionMaxHrDrop),
      maxLatencyRatio: Number(v.promotionMaxLatencyRatio),
      maxErrorRatio: Number(v.promotionMaxErrorRatio),
    },
    features: {
      monitoring: v.enableMonitoring,
      mlflow: v.enableMlflow,
      ray: v.enableRay,
      argo: v.enableArgo,
      serving: v.enableServing,
      simulator: v.enableSimulator,
    },
  } as PlatformConfig);
}

/** Reads this stack's config from the Pulumi engine. */
export function readStackConfig(options: LoadOptions = {}): PlatformConfig {
  return loadConfig(pulumi.runtime.allConfig(), options);
}

const REQUIRED_IMAGES: ConfigKey[] = [
  "trainerImage",
  "mlflowImage",
  "tritonImage",
  "gatewayImage",
  "simulatorImage",
];
const RESOURCE_KEYS = [
  "mlflowResources",
  "postgresResources",
  "rayHeadResources",
  "rayCpuWorkerResources",
  "rayGpuWorkerResources",
  "tritonResources",
  "gatewayResources",
  "redisResources",
] as const satisfies readonly ConfigKey[];

/** Keys every stack must set (besides those the rules above require). */
export const ALWAYS_REQUIRED: readonly ConfigKey[] = ["environment", ...REQUIRED_IMAGES];

function splitKey(fullKey: string): [string, string] {
  const cleaned = fullKey.replace(":config:", ":");
  const i = cleaned.indexOf(":");
  return i < 0 ? [PROJECT, cleaned] : [cleaned.slice(0, i), cleaned.slice(i + 1)];
}

function coerce(type: string, text: string): { ok: true; value: unknown } | { ok: false } {
  switch (type) {
    case "string":
      return { ok: true, value: text };
    case "integer":
      return /^-?\d+$/.test(text.trim()) ? { ok: true, value: Number(text) } : { ok: false };
    case "boolean":
      return text === "true" || text === "false" ? { ok: true, value: text === "true" } : { ok: false };
    case "array":
      try {
        const value = JSON.parse(text);
        return Array.isArray(value) ? { ok: true, value } : { ok: false };
      } catch {
        return { ok: false };
      }
    default:
      return { ok: false };
  }
}

function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue.path.length > 0 ? ` (item ${issue.path.join(".")})` : "";
  if (issue.code === "invalid_enum_value") return `one of ${issue.options.join(", ")}${where}`;
  return `${issue.message}${where}`;
}

function show(k: string, value: unknown): string {
  if (KEYS[k as ConfigKey]?.secret) return "[secret]";
  return JSON.stringify(value);
}

function closestKey(k: string): string | undefined {
  let best: { key: string; d: number } | undefined;
  for (const candidate of Object.keys(KEYS)) {
    const d = editDistance(k.toLowerCase(), candidate.toLowerCase());
    if (!best || d < best.d) best = { key: candidate, d };
  }
  return best && best.d <= 3 ? best.key : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}

function objectStoreSites(): string[] {
  return (Object.keys(SITES) as SiteId[]).filter((id) => SITES[id].hasObjectStore);
}

function parseWindows(
  specs: readonly string[],
  now: Date,
  fail: (k: string, value: unknown, allowed: string) => void,
): { windows: GpuWindow[]; ended: GpuWindow[] } {
  const windows: GpuWindow[] = [];
  const ended: GpuWindow[] = [];
  specs.forEach((spec, index) => {
    const m = GPU_WINDOW.exec(spec)!;
    const startsAt = new Date(`${m[1]}T${m[2]}:00Z`);
    const hours = Number(m[3]);
    if (Number.isNaN(startsAt.getTime()) || startsAt.toISOString().slice(0, 16) !== `${m[1]}T${m[2]}`) {
      fail("gpuWindows", spec, `a real calendar date and time (item ${index})`);
      return;
    }
    if (hours < 1 || hours > 168) {
      fail("gpuWindows", spec, `a length of 1 to 168 hours (item ${index})`);
      return;
    }
    const endsAt = new Date(startsAt.getTime() + hours * 3600_000);
    (endsAt <= now ? ended : windows).push({
      index,
      key: windowKey(startsAt),
      spec,
      start: blazarDate(startsAt),
      end: blazarDate(endsAt),
      hours,
      startsAt,
      endsAt,
    });
  });
  const sorted = [...windows].sort((a, b) => a.startsAt.getTime() - b.startsAt.getTime());
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].startsAt < sorted[i - 1].endsAt) {
      fail("gpuWindows", sorted[i].spec, `windows that do not overlap (it overlaps ${sorted[i - 1].spec})`);
    }
  }
  return { windows, ended };
}

/** `20270105t1400`: a window's start as a name part (lower case, DNS-label safe). */
export function windowKey(startsAt: Date): string {
  return startsAt.toISOString().slice(0, 16).replace(/[-:]/g, "").replace("T", "t");
}

function cidrsOverlap(a: string, b: string): boolean {
  const range = (c: string) => {
    const [ip, bits] = c.split("/");
    const n = ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
    const size = 2 ** (32 - Number(bits));
    const start = n - (n % size);
    return [start, start + size - 1];
  };
  const [a0, a1] = range(a);
  const [b0, b1] = range(b);
  return a0 <= b1 && b0 <= a1;
}

/** Blazar's date format: `YYYY-MM-DD HH:MM`, UTC. */
export function blazarDate(d: Date): string {
  return d.toISOString().slice(0, 16).replace("T", " ");
}

export function parseResources(text: string): ResourceSpec {
  const m = RESOURCES.exec(text)!;
  return { requests: { cpu: m[1], memory: m[2] }, limits: { cpu: m[3], memory: m[4] } };
}

function fits(spec: ResourceSpec): boolean {
  return (
    cpu(spec.requests.cpu) <= cpu(spec.limits.cpu) && mem(spec.requests.memory) <= mem(spec.limits.memory)
  );
}

function cpu(q: string): number {
  return q.endsWith("m") ? Number(q.slice(0, -1)) / 1000 : Number(q);
}

function mem(q: string): number {
  return Number(q.slice(0, -2)) * (q.endsWith("Gi") ? 1024 : 1);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !pulumi.Output.isInstance(value) && !(value instanceof Date)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
