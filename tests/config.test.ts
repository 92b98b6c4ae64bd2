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
  ["wrong type for an integer", { agentCount: "three" }, "agentCount", /"three": expected a integer/],
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
  ["simulator without serving", { enableServing: "false" }, "enableSimulator", /enableServing/],
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

  test("production refuses 0.0.0.0/0 for SSH and the Kubernetes API", () => {
    const error = problemsOf({ environment: "production", adminCidrs: '["0.0.0.0/0"]' });
    expect(error.keys).toEqual(["adminCidrs"]);
    expect(error.message).toMatch(/no 0\.0\.0\.0\/0 in production/);
    expect(() => loadConfig(withKeys({ adminCidrs: '["0.0.0.0/0"]' }), { now: NOW })).not.toThrow();
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
