import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, loadConfig, PROJECT } from "../stacks/config";
import { PLAN_CLOCK, readStackFile, REPO_ROOT } from "./harness";

const NOW = PLAN_CLOCK;

/** A complete, valid chameleon-mode config (staging's file plus the secrets `pulumi config set --secret` adds). */
function base(): Record<string, string> {
  const { config } = readStackFile(path.join(REPO_ROOT, "Pulumi.staging.yaml"));
  return {
    ...config,
    // What a user puts in place of the committed placeholders before `pulumi up`.
    [`${PROJECT}:kvmTaccCredentialId`]: "5d1c0b0e9a6f4c3b8e7d2a1f0c9b8a7d",
    [`${PROJECT}:chiTaccCredentialId`]: "7e2d1c0b9a8f4e3d8c7b6a5f4e3d2c1b",
    [`${PROJECT}:kvmTaccCredentialSecret`]: "kvm-secret",
    [`${PROJECT}:chiTaccCredentialSecret`]: "tacc-secret",
    [`${PROJECT}:sshPrivateKey`]: "-----BEGIN OPENSSH PRIVATE KEY-----",
  };
}

function withKeys(changes: Record<string, string | null>): Record<string, string> {
  const raw = base();
  for (const [k, v] of Object.entries(changes)) {
    if (v === null) delete raw[`${PROJECT}:${k}`];
    else raw[`${PROJECT}:${k}`] = v;
  }
  return raw;
}

function problemsOf(changes: Record<string, string | null>): ConfigError {
  try {
    loadConfig(withKeys(changes), { now: NOW });
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error(`config ${JSON.stringify(changes)} was accepted`);
}

describe("valid config", () => {
  test("the secrets a stack needs follow its sites and mode", () => {
    expect([...loadConfig(base(), { now: NOW }).secretKeys].sort()).toEqual([
      "chiTaccCredentialSecret",
      "kvmTaccCredentialSecret",
      "sshPrivateKey",
    ]);
    const uc = withKeys({
      gpuSite: "chi-uc",
      chiUcCredentialId: "9f8e7d6c",
      chiUcCredentialSecret: "uc-secret",
    });
    expect(loadConfig(uc, { now: NOW }).secretKeys).toContain("chiUcCredentialSecret");
    const existing = withKeys({
      clusterMode: "existing",
      existingKubeconfig: "apiVersion: v1",
      existingS3Endpoint: "https://s3.lab.example.org",
      existingS3AccessKey: "access",
      existingS3SecretKey: "s3-secret",
      domain: "ml.lab.example.org",
    });
    expect([...loadConfig(existing, { now: NOW }).secretKeys].sort()).toEqual([
      "existingKubeconfig",
      "existingS3AccessKey",
      "existingS3SecretKey",
    ]);
  });

  test("flags that build nothing yet are off unless a stack turns them on", () => {
    const config = loadConfig(withKeys({ enableServing: null, enableSimulator: null }), { now: NOW });
    expect(config.features.serving).toBe(false);
    expect(config.features.simulator).toBe(false);
  });

  test("SU rates default to Chameleon's base rate, marked as not set, and are config", () => {
    const config = loadConfig(base(), { now: NOW });
    if (config.cluster.mode !== "chameleon") throw new Error("unreachable");
    expect(config.cluster.su).toEqual({
      bareMetalPerNodeHour: 1,
      kvmHostPerHour: 1,
      bareMetalRateSet: false,
    });
    const set = loadConfig(withKeys({ suPerBareMetalNodeHour: "2.5", suPerKvmHostHour: "1.5" }), {
      now: NOW,
    });
    if (set.cluster.mode !== "chameleon") throw new Error("unreachable");
    expect(set.cluster.su).toEqual({
      bareMetalPerNodeHour: 2.5,
      kvmHostPerHour: 1.5,
      bareMetalRateSet: true,
    });
    expect(problemsOf({ suPerBareMetalNodeHour: "-1" }).keys).toEqual(["suPerBareMetalNodeHour"]);
  });

  test("staging loads into a typed, frozen object", () => {
    const config = loadConfig(base(), { now: NOW });
    expect(config.environment).toBe("staging");
    expect(config.cluster.mode).toBe("chameleon");
    if (config.cluster.mode !== "chameleon") throw new Error("unreachable");
    expect(config.cluster.sites.compute.region).toBe("KVM@TACC");
    expect(config.cluster.gpu.reservation).toEqual({ kind: "flavor:instance", flavor: "g1.h100.pci.1" });
    expect(config.cluster.gpu.windows.map((w) => [w.start, w.end, w.hours])).toEqual([
      ["2027-01-05 14:00", "2027-01-05 18:00", 4],
      ["2027-01-07 14:00", "2027-01-07 18:00", 4],
      ["2027-01-09 14:00", "2027-01-09 18:00", 4],
    ]);
    expect(config.buckets["mlflow-artifacts"]).toBe("ssept-staging-mlflow-artifacts");
    expect(config.serving.triton).toEqual({
      requests: { cpu: "500m", memory: "1Gi" },
      limits: { cpu: "2", memory: "4Gi" },
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.cluster.adminCidrs)).toBe(true);
    expect(() => {
      (config as { environment: string }).environment = "production";
    }).toThrow(TypeError);
  });

  test("secrets come out as Pulumi secrets", async () => {
    const config = loadConfig(base(), { now: NOW });
    if (config.cluster.mode !== "chameleon") throw new Error("unreachable");
    expect(await pulumi.isSecret(config.cluster.sshPrivateKey)).toBe(true);
    expect(await pulumi.isSecret(config.cluster.credentials["kvm-tacc"]!.secret)).toBe(true);
  });

  test("a GPU window containing now is the active window", () => {
    const config = loadConfig(base(), { now: new Date("2027-01-05T15:30:00Z") });
    if (config.cluster.mode !== "chameleon") throw new Error("unreachable");
    expect(config.cluster.gpu.activeWindow?.index).toBe(0);
    expect(config.cluster.gpu.activeWindow?.key).toBe("20270105t1400");
  });

  test("an ended GPU window is set aside, not refused: the others keep their keys", () => {
    const config = loadConfig(base(), { now: new Date("2027-01-06T09:00:00Z") });
    if (config.cluster.mode !== "chameleon") throw new Error("unreachable");
    expect(config.cluster.gpu.endedWindows.map((w) => w.spec)).toEqual(["2027-01-05T14:00Z/4h"]);
    expect(config.cluster.gpu.windows.map((w) => w.key)).toEqual(["20270107t1400", "20270109t1400"]);
  });

  test("bare-metal GPU sites reserve hosts by node type", () => {
    const config = loadConfig(
      withKeys({ gpuSite: "chi-uc", chiUcCredentialId: "uc-id", chiUcCredentialSecret: "uc-secret" }),
      { now: NOW },
    );
    if (config.cluster.mode !== "chameleon") throw new Error("unreachable");
    expect(config.cluster.gpu.reservation).toEqual({ kind: "physical:host", nodeType: "gpu_a100_pcie" });
    expect(Object.keys(config.cluster.credentials).sort()).toEqual(["chi-tacc", "chi-uc", "kvm-tacc"]);
  });

  test("existing mode needs no Chameleon keys", () => {
    const config = loadConfig(
      {
        [`${PROJECT}:environment`]: "staging",
        [`${PROJECT}:clusterMode`]: "existing",
        [`${PROJECT}:existingKubeconfig`]: "apiVersion: v1",
        [`${PROJECT}:existingS3Endpoint`]: "http://minio.local:9000",
        [`${PROJECT}:existingS3AccessKey`]: "ak",
        [`${PROJECT}:existingS3SecretKey`]: "sk",
        [`${PROJECT}:domain`]: "ml.lab.example.org",
        ...Object.fromEntries(
          ["trainerImage", "mlflowImage", "tritonImage", "gatewayImage", "simulatorImage"].map((k) => [
            `${PROJECT}:${k}`,
            "ghcr.io/x/y:1.0.0",
          ]),
        ),
      },
      { now: NOW },
    );
    expect(config.cluster.mode).toBe("existing");
    expect(config.objectStore.endpoint).toBe("http://minio.local:9000");
  });

  test("keys of other namespaces (providers) are ignored", () => {
    expect(() => loadConfig({ ...base(), "openstack:region": "x" }, { now: NOW })).not.toThrow();
  });
});

/** One case per rule: the change, the key the error must name, and words of what is allowed. */
const BAD: [string, Record<string, string | null>, string, RegExp][] = [
  ["wrong type for an integer", { agentCount: "three" }, "agentCount", /"three": expected an integer$/],
  ["wrong type for a boolean", { sporadicFloatingIp: "yes" }, "sporadicFloatingIp", /expected a boolean/],
  ["an array that is not JSON", { adminCidrs: "10.0.0.0/8" }, "adminCidrs", /expected a JSON array/],
  [
    "an unknown key, with a suggestion",
    { agentCont: "2" },
    "agentCont",
    /not a known key \(did you mean agentCount\?\)/,
  ],
  ["a bad CIDR", { adminCidrs: '["10.0.0.300/8"]' }, "adminCidrs", /IPv4 CIDR.*item 0/],
  ["no admin CIDR", { adminCidrs: "[]" }, "adminCidrs", /at least one CIDR/],
  ["count 0 where 1+ is needed", { agentCount: "0" }, "agentCount", /from 1 to 20/],
  ["a missing required key", { environment: null }, "environment", /missing/],
  ["a missing secret", { kvmTaccCredentialSecret: null }, "kvmTaccCredentialSecret", /--secret/],
  ["a missing SSH key", { sshPrivateKey: null }, "sshPrivateKey", /missing/],
  ["an unknown site", { gpuSite: "chi-nu" }, "gpuSite", /one of kvm-tacc, chi-tacc, chi-uc/],
  ["object store on a site without one", { objectStoreSite: "kvm-tacc" }, "objectStoreSite", /object store/],
  ["VMs on a bare-metal site", { computeSite: "chi-tacc" }, "computeSite", /KVM site/],
  [
    "overlapping GPU windows",
    { gpuWindows: '["2027-01-05T14:00Z/4h","2027-01-05T16:00Z/4h"]' },
    "gpuWindows",
    /overlaps 2027-01-05T14:00Z\/4h/,
  ],
  [
    "a GPU window that is not a date",
    { gpuWindows: '["2027-02-30T14:00Z/4h"]' },
    "gpuWindows",
    /real calendar date/,
  ],
  ["a GPU window of 0 hours", { gpuWindows: '["2027-01-05T14:00Z/0h"]' }, "gpuWindows", /1 to 168 hours/],
  ["a malformed GPU window", { gpuWindows: '["next tuesday"]' }, "gpuWindows", /UTC window/],
  ["GPU nodes without windows", { gpuWindows: "[]" }, "gpuWindows", /at least one window/],
  ["an unpinned image", { tritonImage: "nvcr.io/nvidia/tritonserver:latest" }, "tritonImage", /not `latest`/],
  ["an untagged image", { gatewayImage: "ghcr.io/x/gateway" }, "gatewayImage", /pinned tag or digest/],
  ["canary weight out of range", { canaryWeight: "80" }, "canaryWeight", /from 0 to 50/],
  ["ACME without a domain", { tlsMode: "acme", acmeEmail: "ops@example.org" }, "domain", /tlsMode is acme/],
  ["a bad domain", { domain: "ML_Platform" }, "domain", /DNS name/],
  ["Argo without Ray", { enableRay: "false" }, "enableArgo", /enableRay and enableMlflow/],
  ["Ray without MLflow", { enableMlflow: "false", enableArgo: "false" }, "enableRay", /enableMlflow/],
  [
    "simulator without serving",
    { enableServing: "false", enableSimulator: "true" },
    "enableSimulator",
    /enableServing/,
  ],
  [
    "min above max",
    { rayCpuWorkersMin: "3", rayCpuWorkersMax: "2" },
    "rayCpuWorkersMin",
    /at most rayCpuWorkersMax/,
  ],
  ["requests above limits", { tritonResources: "4/1Gi:2/4Gi" }, "tritonResources", /no larger than limits/],
  ["malformed resources", { gatewayResources: "lots" }, "gatewayResources", /requests:limits/],
  ["a bad retention", { prometheusRetention: "15 days" }, "prometheusRetention", /Prometheus duration/],
  ["a bad bucket prefix", { bucketPrefix: "Staging_Data" }, "bucketPrefix", /a-z, 0-9/],
  ["a bad k3s version", { k3sVersion: "1.31" }, "k3sVersion", /k3s release/],
  [
    "a GPU subnet overlapping the node subnet",
    {
      gpuSite: "chi-uc",
      chiUcCredentialId: "id",
      chiUcCredentialSecret: "s",
      gpuSubnetCidr: "192.168.50.128/25",
    },
    "gpuSubnetCidr",
    /apart from subnetCidr/,
  ],
  ["a bad backup schedule", { mlflowBackupSchedule: "nightly" }, "mlflowBackupSchedule", /cron/],
];

describe("invalid config fails before any resource, naming the key", () => {
  test.each(BAD)("%s", (_why, change, key, allowed) => {
    const error = problemsOf(change);
    expect(error.keys).toContain(key);
    const line = error.problems.find((p) => p.key === key)!.message;
    expect(line).toContain(`${PROJECT}:${key}`);
    expect(line).toMatch(allowed);
  });

  test.each([
    ["staging", "0.0.0.0/0"],
    ["production", "0.0.0.0/0"],
    ["staging", "::/0"],
    ["production", "::/0"],
  ])("%s refuses %s for SSH and the Kubernetes API", (environment, open) => {
    const error = problemsOf({ environment, adminCidrs: JSON.stringify(["129.114.0.0/16", open]) });
    expect(error.keys).toEqual(["adminCidrs"]);
    expect(error.message).toContain(`${PROJECT}:adminCidrs`);
    expect(error.message).toContain(`not ${open}: SSH and the Kubernetes API are never open to all`);
  });

  test.each([
    ["adminCidrs", '["10.0.0.1/24"]', "10.0.0.0/24"],
    ["subnetCidr", "192.168.50.7/24", "192.168.50.0/24"],
    ["gpuSubnetCidr", "192.168.61.128/16", "192.168.0.0/16"],
  ])("%s with host bits set is refused, with the network it meant", (key, value, network) => {
    const error = problemsOf({ [key]: value });
    expect(error.keys).toEqual([key]);
    expect(error.message).toMatch(/has host bits set/);
    expect(error.message).toContain(`did you mean ${network}?`);
  });

  test("the committed placeholder credential ids are refused outside the offline plan", () => {
    const placeholders = {
      kvmTaccCredentialId: "replace-with-your-kvm-tacc-credential-id",
      chiTaccCredentialId: "replace-with-your-chi-tacc-credential-id",
    };
    const error = problemsOf(placeholders);
    expect(error.keys.sort()).toEqual(["chiTaccCredentialId", "kvmTaccCredentialId"]);
    expect(error.message).toMatch(/not the committed placeholder/);
    const offline = loadConfig(withKeys(placeholders), { now: NOW, allowPlaceholders: true });
    expect([...offline.placeholders].sort()).toEqual(["chiTaccCredentialId", "kvmTaccCredentialId"]);
    expect(loadConfig(base(), { now: NOW }).placeholders).toEqual([]);
  });

  test("existing mode without its kubeconfig and S3 names each missing key", () => {
    const error = problemsOf({ clusterMode: "existing" });
    expect(error.keys).toEqual(
      expect.arrayContaining([
        "existingKubeconfig",
        "existingS3Endpoint",
        "existingS3AccessKey",
        "existingS3SecretKey",
      ]),
    );
  });

  test("every problem is reported in one message", () => {
    const error = problemsOf({ agentCount: "0", canaryWeight: "99" });
    expect(error.keys.sort()).toEqual(["agentCount", "canaryWeight"]);
    expect(error.message).toMatch(/2 problems/);
  });

  test("a secret's value never appears in an error", () => {
    const error = problemsOf({ existingS3SecretKey: "", clusterMode: "existing" });
    expect(error.message).not.toContain("kvm-secret");
    expect(error.message).toMatch(/existingS3SecretKey = \[secret\]/);
  });
});
