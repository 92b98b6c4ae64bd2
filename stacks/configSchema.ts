import { z } from "zod";
import { SITE_IDS } from "../components/chameleon/sites";
import { hasPinnedTagOrDigest, isLatestTag } from "../components/contracts";

/**
 * Every config key of the project, flat, as `pulumi config set <key>` spells it. Pulumi.yaml
 * declares the same keys (a test keeps the two in step); this file adds the rules.
 *
 * Each key is a zod type plus a description and a secrecy flag. Raw values arrive as strings
 * (arrays as JSON); `coerce` turns them into the declared Pulumi type first, so a wrong type gets
 * its own message before any rule runs.
 */
export type PulumiConfigType = "string" | "integer" | "boolean" | "array";

export interface KeySpec {
  type: PulumiConfigType;
  description: string;
  secret: boolean;
  schema: z.ZodTypeAny;
}

function key(type: PulumiConfigType, schema: z.ZodTypeAny, description: string, secret = false): KeySpec {
  return { type, schema, description, secret };
}

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

export function isCidr(value: string): boolean {
  const m = CIDR.exec(value);
  if (!m) return false;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  return octets.every((o) => o <= 255) && prefix <= 32;
}

/** What is wrong with a CIDR, or undefined: not a CIDR, or host bits set (10.0.0.1/24 for 10.0.0.0/24). */
export function cidrProblem(value: string): string | undefined {
  if (!isCidr(value)) return "an IPv4 CIDR such as 203.0.113.0/24";
  const [ip, bits] = value.split("/");
  const n = ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits));
  if (n % size === 0) return undefined;
  const network = [24, 16, 8, 0].map((shift) => Math.floor((n - (n % size)) / 2 ** shift) % 256).join(".");
  return `a network address without host bits (${value} has host bits set; did you mean ${network}/${bits}?)`;
}

/** Rules that open SSH and the Kubernetes API to the whole Internet; refused in every environment. */
export const OPEN_TO_ALL = ["0.0.0.0/0", "::/0"];

const cidr = z.string().superRefine((value, ctx) => {
  const problem = cidrProblem(value);
  if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
});
const adminCidr = z.string().superRefine((value, ctx) => {
  const problem = OPEN_TO_ALL.includes(value)
    ? `known networks, not ${value}: SSH and the Kubernetes API are never open to all, in any environment`
    : cidrProblem(value);
  if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
});
const suRate = z.string().regex(/^\d{1,3}(\.\d{1,3})?$/, "SUs per hour as a decimal such as 1 or 1.5");
const nonEmpty = z.string().min(1, "a non-empty string");
const siteId = z.enum(SITE_IDS as [string, ...string[]]);
const count = (min: number, max: number) =>
  z.number().int().min(min, `an integer from ${min} to ${max}`).max(max, `an integer from ${min} to ${max}`);

/** Image references must be pinned: a tag other than `latest`, or a digest. */
export const pinnedImage = z
  .string()
  .refine(hasPinnedTagOrDigest, "an image reference with a pinned tag or digest (registry/name:1.2.3)")
  .refine((ref) => !isLatestTag(ref), "a pinned tag, not `latest`");

/** Kubernetes resources as `cpu/memory` requests, `:`, `cpu/memory` limits, e.g. `250m/512Mi:1/1Gi`. */
export const RESOURCES = /^(\d+m?|\d+\.\d+)\/(\d+(?:Mi|Gi))(?::(\d+m?|\d+\.\d+)\/(\d+(?:Mi|Gi)))$/;
const resources = z.string().regex(RESOURCES, "requests:limits as cpu/memory, e.g. 250m/512Mi:1/1Gi");

/** A GPU reservation window: UTC start and length, e.g. `2027-01-05T14:00Z/4h`. */
export const GPU_WINDOW = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})Z\/(\d{1,3})h$/;
const gpuWindow = z.string().regex(GPU_WINDOW, "a UTC window such as 2027-01-05T14:00Z/4h");

const modelVersion = z.string().regex(/^[1-9]\d*$/, "an MLflow model version number such as 3");
const fraction = z.string().regex(/^(0(\.\d+)?|1(\.0+)?)$/, "a decimal from 0 to 1 such as 0.01");
const retention = z.string().regex(/^\d+[hdw]$/, "a Prometheus duration such as 15d");
const cron = z.string().regex(/^(\S+\s+){4}\S+$/, "a five-field cron schedule such as '0 3 * * *'");
const dnsName = z
  .string()
  .regex(
    /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,}$/,
    "a lower-case DNS name such as ml.example.org",
  );

export const KEYS = {
  environment: key("string", z.enum(["staging", "production"]), "Which environment this stack is."),
  clusterMode: key(
    "string",
    z.enum(["chameleon", "existing"]),
    "`chameleon` builds VMs, GPU nodes and storage on Chameleon; `existing` deploys onto the cluster in existingKubeconfig.",
  ),

  // Chameleon sites and credentials
  computeSite: key(
    "string",
    siteId,
    "Site of the k3s server and agent VMs (kvm-tacc needs flavor reservations).",
  ),
  gpuSite: key(
    "string",
    siteId,
    "Site of the GPU node(s): chi-uc or chi-tacc (bare metal) or kvm-tacc (GPU flavors).",
  ),
  objectStoreSite: key(
    "string",
    siteId,
    "Site of the Ceph object store (chi-tacc or chi-uc; kvm-tacc has none).",
  ),
  kvmTaccCredentialId: key("string", nonEmpty, "Application credential id at KVM@TACC."),
  kvmTaccCredentialSecret: key("string", nonEmpty, "Application credential secret at KVM@TACC.", true),
  chiTaccCredentialId: key("string", nonEmpty, "Application credential id at CHI@TACC."),
  chiTaccCredentialSecret: key("string", nonEmpty, "Application credential secret at CHI@TACC.", true),
  chiUcCredentialId: key("string", nonEmpty, "Application credential id at CHI@UC."),
  chiUcCredentialSecret: key("string", nonEmpty, "Application credential secret at CHI@UC.", true),

  // Access and network
  adminCidrs: key(
    "array",
    z.array(adminCidr).min(1, "at least one CIDR"),
    "CIDRs allowed to SSH (22) and the Kubernetes API (6443).",
  ),
  keyPairName: key("string", nonEmpty, "Name of the key pair registered at every site in use."),
  sshPrivateKey: key("string", nonEmpty, "Private key of keyPairName, used to install k3s over SSH.", true),
  externalNetwork: key("string", nonEmpty, "Name of the external network routers attach to."),
  subnetCidr: key("string", cidr, "CIDR of the private subnet the nodes share."),
  gpuSubnetCidr: key(
    "string",
    cidr,
    "CIDR of the private subnet at the GPU site, when it is not the compute site.",
  ),
  sporadicFloatingIp: key("boolean", z.boolean(), "Allocate the optional second (sporadic) floating IP."),

  // Nodes
  k3sVersion: key(
    "string",
    z.string().regex(/^v\d+\.\d+\.\d+\+k3s\d+$/, "a k3s release such as v1.31.6+k3s1"),
    "Pinned k3s release.",
  ),
  vmImage: key("string", nonEmpty, "Image of the server and agent VMs."),
  serverFlavor: key("string", nonEmpty, "Flavor reserved for the k3s server."),
  agentFlavor: key("string", nonEmpty, "Flavor reserved for the k3s agents."),
  agentCount: key("integer", count(1, 20), "Number of k3s agent VMs."),
  vmLeaseHours: key(
    "integer",
    count(1, 4380),
    "Length of the VM flavor reservation from its creation; raise it to extend in place (KVM@TACC allows up to 6 months).",
  ),
  dataVolumeGb: key("integer", count(10, 2000), "Size of the Cinder volume that holds persistent volumes."),
  gpuNodeCount: key("integer", count(0, 4), "GPU nodes booted in each GPU window (0: no GPU)."),
  gpuImage: key("string", nonEmpty, "Image of the GPU nodes (CUDA drivers preinstalled)."),
  gpuNodeType: key("string", nonEmpty, "Blazar node_type of bare-metal GPU hosts, e.g. gpu_a100_pcie."),
  gpuFlavor: key("string", nonEmpty, "GPU flavor at kvm-tacc, e.g. g1.h100.pci.1."),
  gpuWindows: key("array", z.array(gpuWindow), "GPU reservation windows in UTC, e.g. 2027-01-05T14:00Z/4h."),
  suPerBareMetalNodeHour: key(
    "string",
    suRate,
    "SUs Chameleon charges per hour of one bare-metal GPU host (plan estimates only). Default 1, the base rate; some GPU node types are charged more (Chameleon FAQ), so until you set your node type's rate the plan marks GPU estimates as lower bounds.",
  ),
  suPerKvmHostHour: key(
    "string",
    suRate,
    "SUs per hour of a whole KVM host (plan estimates only); a VM is charged its flavor's share of the host's vCPUs.",
  ),

  // Object storage
  bucketPrefix: key(
    "string",
    z.string().regex(/^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$/, "3-32 characters of a-z, 0-9 and -"),
    "Prefix of every bucket name.",
  ),
  existingKubeconfig: key("string", nonEmpty, "Kubeconfig of the cluster used in existing mode.", true),
  existingS3Endpoint: key("string", z.string().url("an http(s) URL"), "S3 endpoint used in existing mode."),
  existingS3AccessKey: key("string", nonEmpty, "S3 access key used in existing mode.", true),
  existingS3SecretKey: key("string", nonEmpty, "S3 secret key used in existing mode.", true),

  // Images
  trainerImage: key("string", pinnedImage, "Trainer image (pipeline, Ray Train, Ray Tune)."),
  mlflowImage: key("string", pinnedImage, "MLflow server image with psycopg2 and boto3 baked in."),
  tritonImage: key("string", pinnedImage, "Triton Inference Server image."),
  gatewayImage: key("string", pinnedImage, "Inference gateway image."),
  simulatorImage: key("string", pinnedImage, "User simulator image."),

  // Serving
  servingReplicas: key("integer", count(1, 20), "Triton replicas on the stable track."),
  gatewayReplicas: key("integer", count(1, 20), "Gateway replicas."),
  canaryWeight: key("integer", count(0, 50), "Percent of traffic sent to the canary track."),
  inferenceP95SloMs: key(
    "integer",
    count(1, 10000),
    "Inference p95 latency SLO in milliseconds; the alert fires above it.",
  ),
  servingDataset: key(
    "string",
    z.enum(["ml-1m", "wikipedia"]),
    "Dataset whose model is served: Triton serves ssept-<dataset>, Redis holds its online features.",
  ),
  onlineFeaturesVersion: key(
    "string",
    z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "a features version such as 2026-11-20, or latest"),
    "Version of features/<dataset>/<version>/online/ the bootstrap Job loads into Redis (latest: the newest).",
  ),
  servingMaxlen: key(
    "integer",
    count(1, 4096),
    "Longest item sequence the served model reads (its maxlen); Redis keeps this many recent items per user.",
  ),
  tritonMaxReplicas: key("integer", count(1, 20), "Most Triton replicas the CPU autoscaler may run."),
  redisResources: key("string", resources, "Redis (online feature store) requests:limits."),
  redisStorageGi: key("integer", count(1, 200), "Redis volume size in GiB (append-only file)."),
  simulatorReplicas: key("integer", count(0, 20), "Simulator replicas (0: deployed but off)."),
  simulatorUsersPerSecond: key(
    "integer",
    count(1, 1000),
    "New simulated user sessions per second per replica.",
  ),
  simulatorThinkTimeMs: key("integer", count(0, 600000), "Pause of a simulated user between two requests."),
  simulatorSessionLength: key("integer", count(1, 1000), "Events a simulated user sends before leaving."),
  stableModelVersion: key(
    "string",
    modelVersion,
    "Registered model version (ssept-<dataset> in MLflow) served on the stable track; tools/promote.ts writes it.",
  ),
  canaryModelVersion: key(
    "string",
    modelVersion,
    "Registered model version served on the canary track; unset: no canary. tools/promote.ts writes it.",
  ),

  // Model promotion (tools/promote.ts)
  promotionNdcgMargin: key(
    "string",
    fraction,
    "A new model version becomes the staging candidate only if its offline test NDCG@10 beats production's by this much.",
  ),
  promotionSoakMinutes: key(
    "integer",
    count(5, 10080),
    "Soak window: how far back the canary gate compares canary with stable in Prometheus.",
  ),
  promotionMinRequests: key(
    "integer",
    count(1, 10000000),
    "Fewest requests (and scored recommendations) per track in the soak window; fewer means hold.",
  ),
  promotionMaxHrDrop: key(
    "string",
    fraction,
    "Largest drop of the canary's online HR@10 below stable's that still promotes.",
  ),
  promotionMaxLatencyRatio: key(
    "string",
    z
      .string()
      .regex(/^\d+(\.\d+)?$/, "a decimal such as 1.2")
      .refine((t) => Number(t) >= 1, "at least 1"),
    "Largest canary p95 latency as a multiple of stable's that still promotes (the p95 SLO applies too).",
  ),
  promotionMaxErrorRatio: key(
    "string",
    fraction,
    "Largest share of canary requests answered 5xx that still promotes.",
  ),

  // Platform sizing
  prometheusRetention: key("string", retention, "How long Prometheus keeps samples."),
  prometheusStorageGi: key("integer", count(1, 500), "Prometheus volume size in GiB."),
  postgresStorageGi: key("integer", count(1, 500), "MLflow Postgres volume size in GiB."),
  mlflowBackupSchedule: key("string", cron, "Cron schedule of the Postgres backup to the logs bucket."),
  mlflowResources: key("string", resources, "MLflow server requests:limits."),
  postgresResources: key("string", resources, "Postgres requests:limits."),
  rayHeadResources: key("string", resources, "Ray head requests:limits."),
  rayCpuWorkerResources: key("string", resources, "Ray CPU worker requests:limits."),
  rayGpuWorkerResources: key(
    "string",
    resources,
    "Ray GPU worker requests:limits (plus one nvidia.com/gpu).",
  ),
  rayCpuWorkersMin: key("integer", count(0, 50), "Minimum Ray CPU workers."),
  rayCpuWorkersMax: key("integer", count(1, 50), "Maximum Ray CPU workers."),
  rayGpuWorkersMin: key("integer", count(0, 8), "Minimum Ray GPU workers."),
  rayGpuWorkersMax: key("integer", count(0, 8), "Maximum Ray GPU workers."),
  tritonResources: key("string", resources, "Triton requests:limits."),
  gatewayResources: key("string", resources, "Gateway requests:limits."),

  // Domain and TLS
  domain: key("string", dnsName, "DNS name the UIs live under; unset: <floating-ip>.sslip.io."),
  tlsMode: key(
    "string",
    z.enum(["self-signed", "acme"]),
    "TLS certificates: self-signed issuer, or ACME (needs domain).",
  ),
  acmeEmail: key("string", z.string().email("an e-mail address"), "Contact e-mail for ACME."),

  // Feature switches
  enableMonitoring: key("boolean", z.boolean(), "Deploy Prometheus, Alertmanager and Grafana."),
  enableMlflow: key("boolean", z.boolean(), "Deploy MLflow and its Postgres."),
  enableRay: key("boolean", z.boolean(), "Deploy the KubeRay operator and the RayCluster."),
  enableArgo: key("boolean", z.boolean(), "Deploy Argo Workflows and the training pipeline."),
  enableServing: key("boolean", z.boolean(), "Deploy Triton and the gateway."),
  enableSimulator: key("boolean", z.boolean(), "Deploy the user simulator."),
} satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof KEYS;
export type RawConfig = { [K in ConfigKey]?: z.infer<(typeof KEYS)[K]["schema"]> };

/** Values used when a stack file leaves a key out. Keys without a default are optional or required by a rule. */
export const DEFAULTS: RawConfig = {
  clusterMode: "chameleon",
  computeSite: "kvm-tacc",
  gpuSite: "chi-uc",
  objectStoreSite: "chi-tacc",
  externalNetwork: "public",
  subnetCidr: "192.168.50.0/24",
  gpuSubnetCidr: "192.168.61.0/24",
  sporadicFloatingIp: false,
  k3sVersion: "v1.31.6+k3s1",
  vmImage: "CC-Ubuntu24.04",
  serverFlavor: "m1.medium",
  agentFlavor: "m1.medium",
  agentCount: 2,
  vmLeaseHours: 168,
  dataVolumeGb: 100,
  gpuNodeCount: 1,
  gpuImage: "CC-Ubuntu24.04-CUDA",
  gpuNodeType: "gpu_a100_pcie",
  gpuFlavor: "g1.h100.pci.1",
  gpuWindows: [],
  suPerBareMetalNodeHour: "1",
  suPerKvmHostHour: "1",
  servingReplicas: 1,
  gatewayReplicas: 1,
  canaryWeight: 10,
  inferenceP95SloMs: 200,
  servingDataset: "ml-1m",
  onlineFeaturesVersion: "latest",
  servingMaxlen: 200,
  tritonMaxReplicas: 4,
  redisResources: "100m/256Mi:500m/1Gi",
  redisStorageGi: 5,
  simulatorReplicas: 1,
  simulatorUsersPerSecond: 2,
  simulatorThinkTimeMs: 2000,
  simulatorSessionLength: 20,
  promotionNdcgMargin: "0.005",
  promotionSoakMinutes: 60,
  promotionMinRequests: 500,
  promotionMaxHrDrop: "0.01",
  promotionMaxLatencyRatio: "1.2",
  promotionMaxErrorRatio: "0.01",
  prometheusRetention: "15d",
  prometheusStorageGi: 20,
  postgresStorageGi: 10,
  mlflowBackupSchedule: "0 3 * * *",
  mlflowResources: "250m/512Mi:1/2Gi",
  postgresResources: "250m/512Mi:1/1Gi",
  rayHeadResources: "500m/2Gi:2/4Gi",
  rayCpuWorkerResources: "1/2Gi:2/4Gi",
  rayGpuWorkerResources: "4/16Gi:8/32Gi",
  rayCpuWorkersMin: 0,
  rayCpuWorkersMax: 2,
  rayGpuWorkersMin: 0,
  rayGpuWorkersMax: 1,
  tritonResources: "500m/1Gi:2/4Gi",
  gatewayResources: "100m/128Mi:500m/256Mi",
  tlsMode: "self-signed",
  enableMonitoring: true,
  enableMlflow: true,
  enableRay: true,
  enableArgo: true,
  enableServing: false,
  enableSimulator: false,
};
