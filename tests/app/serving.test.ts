/**
 * The Serving and Simulator components under Pulumi's mocks: every object passes the estate's
 * Kubernetes checks, is hardened and parented, each pod is admitted by a policy of its namespace,
 * and the tracks, GPU placement and monitoring follow the Args.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { Serving, ServingArgs } from "../../components/app/serving";
import { Simulator } from "../../components/app/simulator";
import { NVIDIA_RUNTIME_CLASS } from "../../components/contracts";
import { S3_SECRET_NAME } from "../../components/platform/s3Credentials";
import { ResourceRecord, runUnderMocks } from "../harness";
import {
  byType,
  DEPLOYMENT,
  estateViolations,
  expectHardened,
  NETPOL,
  one,
  plainEnv,
  podsOf,
  SECRET,
  selects,
  SERVICE_MONITOR,
  STATEFULSET,
  TEST_ACCESS_KEY,
  TEST_SECRET_KEY,
} from "../platform/workloadKit";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const JOB = "kubernetes:batch/v1:Job";
const CONFIGMAP = "kubernetes:core/v1:ConfigMap";
const BUCKETS = {
  "raw-data": "t-raw-data",
  "processed-data": "t-processed-data",
  features: "t-features",
  models: "t-models",
  logs: "t-logs",
  "mlflow-artifacts": "t-mlflow-artifacts",
  "ray-checkpoints": "t-ray-checkpoints",
};
const resources = (cpu: string, memory: string) => ({
  requests: { cpu: "100m", memory: "128Mi" },
  limits: { cpu, memory },
});

function servingArgs(provider: k8s.Provider, overrides: Partial<ServingArgs> = {}): ServingArgs {
  return {
    provider,
    s3: {
      endpoint: "https://chi.tacc.chameleoncloud.org:7480",
      accessKey: pulumi.secret(TEST_ACCESS_KEY),
      secretKey: pulumi.secret(TEST_SECRET_KEY),
    },
    buckets: BUCKETS,
    images: {
      triton: "nvcr.io/nvidia/tritonserver:24.12-py3",
      gateway: "ghcr.io/sse-pt-platform/gateway:0.1.0",
      modelFetch: "ghcr.io/sse-pt-platform/trainer:0.1.0",
    },
    model: { name: "ssept-ml-1m", maxlen: 200, stableVersion: 3, canaryVersion: 4 },
    canaryWeightPercent: 10,
    gpu: false,
    triton: { resources: resources("2", "4Gi"), replicas: { min: 2, max: 4 } },
    gateway: { resources: resources("500m", "256Mi"), replicas: 2, inferenceTimeoutMs: 200 },
    redis: { resources: resources("500m", "1Gi"), storageGi: 5 },
    features: { dataset: "ml-1m", version: "latest" },
    simulatorNamespace: "simulator",
    monitoring: true,
    ...overrides,
  };
}

async function build(overrides: Partial<ServingArgs> = {}, simulator = true) {
  let modelVersions: unknown;
  const result = await runUnderMocks(() => {
    const provider = new k8s.Provider("test-k8s", {
      kubeconfig: pulumi.secret("apiVersion: v1\nkind: Config\n"),
    });
    // Stands for what installs the ServiceMonitor CRD (the Monitoring component in the estate).
    const crds = new random.RandomId("crd-stand-in", { byteLength: 4 });
    const serving = new Serving("serving", servingArgs(provider, { monitoringCrds: crds, ...overrides }));
    modelVersions = serving.modelVersions;
    if (simulator) {
      new Simulator("simulator", {
        provider,
        s3: servingArgs(provider).s3,
        buckets: BUCKETS,
        image: "ghcr.io/sse-pt-platform/simulator:0.1.0",
        replicas: 1,
        dataPrefix: "ml-1m/latest",
        usersPerSecond: 2,
        thinkTimeMs: 2000,
        sessionLength: 20,
        gateway: { url: serving.gatewayInternalUrl, namespace: serving.namespace },
        monitoring: true,
        monitoringCrds: crds,
      });
    }
  });
  return { ...result, modelVersions };
}

const triton = (b: { resources: ResourceRecord[] }) =>
  one(b, DEPLOYMENT, "serving-triton-deployment").inputs as Json;
const gatewayEnv = (b: { resources: ResourceRecord[] }) =>
  plainEnv(podsOf(one(b, DEPLOYMENT, "serving-gateway-deployment"))[0]);

describe("Serving and Simulator", () => {
  let full: Awaited<ReturnType<typeof build>>;
  beforeAll(async () => {
    full = await build();
  });

  test("every object passes the estate's Kubernetes checks (schemas, images, resources, probes, secrets, default deny)", () => {
    expect(estateViolations(full)).toEqual([]);
  });

  test("components nest as declared and every Kubernetes object uses the explicit provider", () => {
    const component = (type: string) => full.resources.find((r) => r.type === type)!;
    const serving = component("ssept:app:Serving");
    for (const type of ["ssept:app:ModelServer", "ssept:app:OnlineStore", "ssept:app:Gateway"]) {
      expect([type, component(type).parent]).toEqual([type, serving.urn]);
    }
    const componentUrns = new Set(
      full.resources.filter((r) => r.type.startsWith("ssept:app:")).map((r) => r.urn),
    );
    for (const r of full.resources.filter((x) => x.type.startsWith("kubernetes:"))) {
      expect({ name: r.name, provider: r.provider, parented: componentUrns.has(r.parent ?? "") }).toEqual({
        name: r.name,
        provider: expect.stringContaining("test-k8s"),
        parented: true,
      });
    }
  });

  test("every container is hardened: pinned image, requests and limits, non-root, probes on long-running pods", () => {
    for (const type of [DEPLOYMENT, STATEFULSET]) {
      for (const r of byType(full, type)) for (const pod of podsOf(r)) expectHardened(pod, { probes: true });
    }
    for (const pod of podsOf(one(full, JOB, "serving-gateway-bootstrap")))
      expectHardened(pod, { probes: false });
  });

  test("each namespace is closed and every pod is admitted by a policy that selects it", () => {
    const namespaces = byType(full, "kubernetes:core/v1:Namespace").map(
      (r) => (r.inputs.metadata as Json).name,
    );
    expect(namespaces.sort()).toEqual(["serving", "simulator"]);
    const policies = byType(full, NETPOL).map((r) => r.inputs as Json);
    for (const ns of namespaces) {
      expect(policies.filter((p) => p.metadata.namespace === ns).map((p) => p.metadata.name)).toEqual(
        expect.arrayContaining(["default-deny", "allow-dns"]),
      );
    }
    const workloads = [...byType(full, DEPLOYMENT), ...byType(full, STATEFULSET), ...byType(full, JOB)];
    for (const w of workloads) {
      const ns = (w.inputs.metadata as Json).namespace;
      const [pod] = podsOf(w);
      const own = policies.filter(
        (p) =>
          p.metadata.namespace === ns &&
          Object.keys(p.spec.podSelector.matchLabels ?? {}).length > 0 &&
          selects(p.spec.podSelector.matchLabels, pod.labels),
      );
      expect([w.name, own.length]).toEqual([w.name, 1]);
    }
  });

  test("the S3 credentials and the Redis password reach pods only through Secrets", () => {
    const secrets = byType(full, SECRET).map((r) => r.inputs as Json);
    expect(secrets.map((s) => `${s.metadata.namespace}/${s.metadata.name}`).sort()).toEqual([
      "serving/redis-auth",
      `serving/${S3_SECRET_NAME}`,
      `simulator/${S3_SECRET_NAME}`,
    ]);
    const s3 = byType(full, SECRET).find((r) => (r.inputs.metadata as Json).name === S3_SECRET_NAME)!;
    expect((s3.inputs.stringData as Json).BUCKET_MODELS).toBe("t-models");
    expect(s3.secretPaths).toEqual(["stringData"]);
    expect(byType(full, "random:index/randomPassword:RandomPassword").map((r) => r.inputs)).toEqual([
      { length: 32, special: false },
    ]);
  });

  test("two tracks: Triton loads both pinned versions; the gateway splits users by the canary weight", () => {
    const env = plainEnv(podsOf(one(full, DEPLOYMENT, "serving-triton-deployment"))[0]);
    expect(env.MODEL_VERSIONS).toBe("3 4");
    expect(env.MODEL_CONFIG_APPEND).toContain("versions: [ 3, 4 ]");
    expect(gatewayEnv(full)).toMatchObject({
      STABLE_VERSION: "3",
      CANARY_VERSION: "4",
      CANARY_WEIGHT: "0.1",
    });
    expect(full.modelVersions).toEqual({
      stable: { model: "ssept-ml-1m", version: 3, alias: "production" },
      canary: { model: "ssept-ml-1m", version: 4, alias: "canary" },
    });
  });

  test("the gateway waits for Redis and its loaded features; Triton for its fetch script", () => {
    const deps = (type: string, name: string) => one(full, type, name).dependencies;
    const urn = (type: string, name: string) => one(full, type, name).urn;
    expect(deps(DEPLOYMENT, "serving-gateway-deployment")).toEqual(
      expect.arrayContaining([
        urn(JOB, "serving-gateway-bootstrap"),
        urn(STATEFULSET, "serving-online-store-redis"),
        urn(SECRET, "serving-online-store-auth"),
      ]),
    );
    expect(deps(JOB, "serving-gateway-bootstrap")).toContain(urn(STATEFULSET, "serving-online-store-redis"));
    expect(deps(DEPLOYMENT, "serving-triton-deployment")).toContain(
      urn(CONFIGMAP, "serving-triton-fetch-script"),
    );
  });

  test("ServiceMonitors for Triton, the gateway, Redis and the simulator, each after the CRD; three dashboards", () => {
    const crds = one(full, "random:index/randomId:RandomId", "crd-stand-in").urn;
    for (const monitor of byType(full, SERVICE_MONITOR))
      expect([monitor.name, monitor.dependencies]).toEqual([monitor.name, expect.arrayContaining([crds])]);
    expect(
      byType(full, SERVICE_MONITOR)
        .map((r) => (r.inputs.metadata as Json).name)
        .sort(),
    ).toEqual(["gateway", "redis", "simulator", "triton"]);
    const dashboards = byType(full, CONFIGMAP).filter(
      (r) => (r.inputs.metadata as Json).labels?.grafana_dashboard,
    );
    expect(dashboards.map((r) => (r.inputs.metadata as Json).name).sort()).toEqual([
      "dashboard-ssept-recommendations",
      "dashboard-ssept-serving",
      "dashboard-ssept-user-activity",
    ]);
  });
});

describe("Serving variants", () => {
  test("canary weight 0 removes the canary track; without the simulator no namespace may call the gateway", async () => {
    const b = await build({ canaryWeightPercent: 0, simulatorNamespace: undefined }, false);
    expect(plainEnv(podsOf(one(b, DEPLOYMENT, "serving-triton-deployment"))[0]).MODEL_VERSIONS).toBe("3");
    expect(gatewayEnv(b).CANARY_VERSION).toBeUndefined();
    expect(gatewayEnv(b).CANARY_WEIGHT).toBe("0");
    expect(b.modelVersions).toEqual({ stable: { model: "ssept-ml-1m", version: 3, alias: "production" } });
    const gatewayPolicy = byType(b, NETPOL).find((r) => (r.inputs.metadata as Json).name === "gateway")!;
    expect(JSON.stringify(gatewayPolicy.inputs)).not.toContain("simulator");
    expect(estateViolations(b)).toEqual([]);
  });

  test("with a GPU node Triton runs on it; without monitoring no ServiceMonitor or dashboard is declared", async () => {
    const b = await build({ gpu: true, monitoring: false }, false);
    const pod = triton(b).spec.template.spec;
    expect(pod.runtimeClassName).toBe(NVIDIA_RUNTIME_CLASS);
    expect(pod.containers[0].resources.limits["nvidia.com/gpu"]).toBe("1");
    expect(byType(b, SERVICE_MONITOR)).toEqual([]);
    expect(byType(b, CONFIGMAP).map((r) => r.name)).toEqual(["serving-triton-fetch-script"]);
    expect(estateViolations(b)).toEqual([]);
  });
});
