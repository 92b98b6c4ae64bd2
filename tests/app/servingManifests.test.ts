/**
 * The serving objects' pure builders, without the Pulumi runtime: Triton's repository, version
 * pinning and hardware; the gateway's and loader's environment; Redis persistence; the simulator;
 * the network policies between them.
 */
import { Deployment, StatefulSet } from "kubernetes-models/apps/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { Job } from "kubernetes-models/batch/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { ConfigMap, Service } from "kubernetes-models/v1";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { GPU_NODE_LABEL, GPU_NODE_TAINT, NVIDIA_RUNTIME_CLASS } from "../../components/contracts";
import {
  BOOTSTRAP_COMMAND,
  bootstrapJob,
  gatewayDeployment,
  gatewayEnv,
  gatewayService,
  gatewayServiceMonitor,
  GatewaySpec,
} from "../../components/app/gatewayManifests";
import {
  redisArgs,
  redisService,
  redisStatefulSet,
  redisUrl,
} from "../../components/app/onlineStoreManifests";
import {
  GATEWAY,
  REDIS,
  SERVING_LABELS,
  SIMULATOR,
  TRITON,
  TRITON_LABELS,
} from "../../components/app/servingContracts";
import { servingPolicies, simulatorPolicies } from "../../components/app/servingPolicies";
import {
  simulatorDeployment,
  simulatorService,
  simulatorServiceMonitor,
} from "../../components/app/simulatorManifests";
import {
  fetchScriptConfigMap,
  servedVersions,
  TritonSpec,
  tritonArgs,
  tritonAutoscaler,
  tritonConfigSuffix,
  tritonDeployment,
  tritonDisruptionBudget,
  tritonService,
  tritonServiceMonitor,
} from "../../components/app/tritonManifests";
import { prometheusPeer } from "../../components/platform/trafficRules";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const NS = "serving";
const triton: TritonSpec = {
  namespace: NS,
  image: "nvcr.io/nvidia/tritonserver:24.12-py3",
  fetchImage: "ghcr.io/sse-pt-platform/trainer:0.1.0",
  modelName: "ssept-ml-1m",
  versions: { stable: 3, canary: 4 },
  repository: { bucket: "ssept-staging-models", prefix: "triton" },
  s3SecretName: "s3-credentials",
  gpu: false,
  resources: { requests: { cpu: "500m", memory: "1Gi" }, limits: { cpu: "2", memory: "4Gi" } },
  replicas: { min: 2, max: 4 },
};
const gateway: GatewaySpec = {
  namespace: NS,
  image: "ghcr.io/sse-pt-platform/gateway:0.1.0",
  replicas: 2,
  resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "500m", memory: "256Mi" } },
  modelName: "ssept-ml-1m",
  versions: { stable: 3, canary: 4 },
  canaryWeightPercent: 10,
  maxlen: 200,
  inferenceTimeoutMs: 200,
  s3SecretName: "s3-credentials",
};

const envOf = (container: Json): Record<string, string> =>
  Object.fromEntries(
    (container.env ?? []).filter((e: Json) => e.value !== undefined).map((e: Json) => [e.name, e.value]),
  );
const validates = (Model: new (d: Json) => { validate(): void }, object: unknown) =>
  expect(() => new Model(object as Json).validate()).not.toThrow();

describe("Triton (ModelServer)", () => {
  test("each track is pinned: the config allows exactly the tracks' versions", () => {
    expect(servedVersions({ stable: 4, canary: 3 })).toEqual([3, 4]);
    expect(servedVersions({ stable: 5, canary: 5 })).toEqual([5]);
    expect(servedVersions({ stable: 5 })).toEqual([5]);
    expect(() => servedVersions({ stable: 0 })).toThrow("model version 0: Triton versions are integers >= 1");
    expect(() => servedVersions({ stable: 1.5 })).toThrow(/model version 1\.5/);
    const suffix = tritonConfigSuffix({ versions: [3, 4], gpu: true, cpuLimit: "2" });
    expect(suffix).toBe("version_policy: { specific: { versions: [ 3, 4 ] } }\n");
    expect(() => tritonConfigSuffix({ versions: [], gpu: true, cpuLimit: "1" })).toThrow(/no model version/);
  });

  test("on CPU the ONNX Runtime thread pool is sized to the CPU limit, never below one thread", () => {
    const threads = (limit: string) =>
      /intra_op_thread_count" value: \{ string_value: "(\d+)" \}/.exec(
        tritonConfigSuffix({ versions: [1], gpu: false, cpuLimit: limit }),
      )?.[1];
    expect(threads("2")).toBe("2");
    expect(threads("3500m")).toBe("3");
    expect(threads("500m")).toBe("1");
    expect(threads("1.5")).toBe("1");
    expect(tritonConfigSuffix({ versions: [1], gpu: false, cpuLimit: "2" })).toContain(
      'parameters { key: "inter_op_thread_count" value: { string_value: "1" } }',
    );
    expect(() => tritonConfigSuffix({ versions: [1], gpu: false, cpuLimit: "two" })).toThrow(
      /cpu quantity two/,
    );
  });

  test("model control is fixed at start (none, never poll) and a failed load stops Triton", () => {
    const args = tritonArgs(false);
    expect(args).toContain("--model-control-mode=none");
    expect(args.join(" ")).not.toMatch(/poll|repository-poll/);
    expect(args).toEqual(
      expect.arrayContaining([
        `--model-repository=${TRITON.repositoryMount}`,
        "--exit-on-error=true",
        "--strict-readiness=true",
        "--http-port=8000",
        "--metrics-port=8002",
        "--allow-gpu-metrics=false",
      ]),
    );
    expect(tritonArgs(true)).toContain("--allow-gpu-metrics=true");
  });

  test("the init container copies the tracks' versions and the hardware's config from the models bucket", () => {
    const d = tritonDeployment(triton) as Json;
    validates(Deployment, { apiVersion: "apps/v1", kind: "Deployment", ...d });
    const pod = d.spec.template.spec;
    const [fetch] = pod.initContainers;
    expect(fetch.image).toBe(triton.fetchImage);
    expect(fetch.command).toEqual(["python3", "/opt/fetch/fetch-model.py"]);
    expect(fetch.envFrom).toEqual([{ secretRef: { name: "s3-credentials" } }]);
    expect(envOf(fetch)).toEqual({
      MODEL_BUCKET: "ssept-staging-models",
      MODEL_PREFIX: "triton",
      MODEL_NAME: "ssept-ml-1m",
      MODEL_VERSIONS: "3 4",
      MODEL_CONFIG: "cpu",
      MODEL_CONFIG_APPEND: tritonConfigSuffix({ versions: [3, 4], gpu: false, cpuLimit: "2" }),
      REPOSITORY: "/models",
    });
    const [server] = pod.containers;
    expect(server.volumeMounts).toEqual([{ name: "models", mountPath: "/models", readOnly: true }]);
    expect(pod.volumes).toEqual([
      { name: "models", emptyDir: { sizeLimit: "2Gi" } },
      { name: "fetch-script", configMap: { name: "triton-fetch-model", defaultMode: 0o555 } },
    ]);
    expect(d.metadata.annotations).toEqual({
      "ssept.io/model": "ssept-ml-1m",
      "ssept.io/stable-version": "3 (MLflow alias production)",
      "ssept.io/canary-version": "4 (MLflow alias canary)",
    });
  });

  test("probes use Triton's KServe v2 health endpoints; metrics on 8002", () => {
    const server = (tritonDeployment(triton) as Json).spec.template.spec.containers[0];
    expect(server.livenessProbe.httpGet).toEqual({ path: "/v2/health/live", port: "http" });
    expect(server.readinessProbe.httpGet).toEqual({ path: "/v2/health/ready", port: "http" });
    expect(server.startupProbe.httpGet).toEqual({ path: "/v2/health/live", port: "http" });
    expect(server.ports).toEqual([
      { name: "http", containerPort: 8000, protocol: "TCP" },
      { name: "grpc", containerPort: 8001, protocol: "TCP" },
      { name: "metrics", containerPort: 8002, protocol: "TCP" },
    ]);
    const monitor = tritonServiceMonitor(NS);
    validates(ServiceMonitor, { apiVersion: "monitoring.coreos.com/v1", kind: "ServiceMonitor", ...monitor });
    expect(monitor.spec.endpoints).toEqual([{ port: "metrics", path: "/metrics", interval: "15s" }]);
    const service = tritonService(NS) as Json;
    validates(Service, { apiVersion: "v1", kind: "Service", ...service });
    expect(service.spec.selector).toEqual(TRITON_LABELS);
    expect(service.spec.ports.find((p: Json) => p.name === "metrics")).toMatchObject({ port: 8002 });
  });

  test("on a GPU node: one nvidia.com/gpu, the GPU toleration, node selector and nvidia runtime; none on CPU", () => {
    const gpuPod = (tritonDeployment({ ...triton, gpu: true }) as Json).spec.template.spec;
    expect(gpuPod.runtimeClassName).toBe(NVIDIA_RUNTIME_CLASS);
    expect(gpuPod.nodeSelector).toEqual({ [GPU_NODE_LABEL.key]: GPU_NODE_LABEL.value });
    expect(gpuPod.tolerations).toEqual([
      {
        key: GPU_NODE_TAINT.key,
        operator: "Equal",
        value: GPU_NODE_TAINT.value,
        effect: GPU_NODE_TAINT.effect,
      },
    ]);
    expect(gpuPod.containers[0].resources).toEqual({
      requests: { cpu: "500m", memory: "1Gi", "nvidia.com/gpu": "1" },
      limits: { cpu: "2", memory: "4Gi", "nvidia.com/gpu": "1" },
    });
    expect(envOf(gpuPod.initContainers[0]).MODEL_CONFIG).toBe("gpu");
    // The GPU is held by the old pod: it must go before the new one can start.
    expect((tritonDeployment({ ...triton, gpu: true }) as Json).spec.strategy.rollingUpdate).toEqual({
      maxUnavailable: 1,
      maxSurge: 0,
    });
    expect((tritonDeployment(triton) as Json).spec.strategy.rollingUpdate).toEqual({
      maxUnavailable: 0,
      maxSurge: 1,
    });
    expect(envOf(gpuPod.initContainers[0]).MODEL_CONFIG_APPEND).not.toContain("intra_op_thread_count");

    const cpuPod = (tritonDeployment(triton) as Json).spec.template.spec;
    for (const field of ["runtimeClassName", "nodeSelector", "tolerations"])
      expect(cpuPod[field]).toBeUndefined();
    expect(cpuPod.containers[0].resources).toEqual(triton.resources);
  });

  test("the autoscaler owns the replica count; the disruption budget lets one pod go at a time", () => {
    const d = tritonDeployment(triton) as Json;
    expect(d.spec.replicas).toBeUndefined();
    const hpa = tritonAutoscaler(NS, { min: 2, max: 4 }) as Json;
    validates(HorizontalPodAutoscaler, {
      apiVersion: "autoscaling/v2",
      kind: "HorizontalPodAutoscaler",
      ...hpa,
    });
    expect(hpa.spec).toMatchObject({
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: d.metadata.name },
      minReplicas: 2,
      maxReplicas: 4,
      metrics: [
        {
          type: "Resource",
          resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } },
        },
      ],
    });
    expect(() => tritonAutoscaler(NS, { min: 3, max: 2 })).toThrow("Triton replicas 3..2");
    expect(() => tritonAutoscaler(NS, { min: 0, max: 2 })).toThrow(/1 <= min <= max/);
    const pdb = tritonDisruptionBudget(NS) as Json;
    validates(PodDisruptionBudget, { apiVersion: "policy/v1", kind: "PodDisruptionBudget", ...pdb });
    expect(pdb.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: TRITON_LABELS } });
    expect(d.spec.selector.matchLabels).toEqual(TRITON_LABELS);
  });

  test("the fetch script travels in a ConfigMap", () => {
    const cm = fetchScriptConfigMap(NS) as Json;
    validates(ConfigMap, { apiVersion: "v1", kind: "ConfigMap", ...cm });
    expect(cm.data["fetch-model.py"]).toContain("MODEL_VERSIONS");
    expect(cm.data["fetch-model.py"]).toContain('f"{base}/configs/{kind}.pbtxt"');
  });
});

describe("gateway", () => {
  test("the environment names Triton, both pinned versions and the canary weight as a fraction", () => {
    expect(envOf({ env: gatewayEnv(gateway) })).toEqual({
      PORT: "8080",
      BACKEND: "triton",
      TRITON_URL: "http://triton.serving.svc.cluster.local:8000",
      MODEL_NAME: "ssept-ml-1m",
      STABLE_VERSION: "3",
      CANARY_VERSION: "4",
      CANARY_WEIGHT: "0.1",
      MAXLEN: "200",
      INFERENCE_TIMEOUT_MS: "200",
      REDIS_URL: "redis://redis.serving.svc.cluster.local:6379",
      EVENT_SINK: "s3",
      EVENT_LOG_PREFIX: "gateway-events",
    });
    const secretRefs = gatewayEnv(gateway).filter((e) => e.valueFrom !== undefined) as Json[];
    expect(secretRefs.map((e) => [e.name, e.valueFrom.secretKeyRef ?? e.valueFrom.fieldRef])).toEqual([
      ["REDIS_PASSWORD", { name: "redis-auth", key: "password" }],
      ["POD_NAME", { fieldPath: "metadata.name" }],
    ]);
  });

  test("canary weight 0, or no canary version, leaves every user on stable", () => {
    for (const spec of [
      { ...gateway, canaryWeightPercent: 0 },
      { ...gateway, versions: { stable: 3 } },
    ]) {
      const env = envOf({ env: gatewayEnv(spec) });
      expect(env.CANARY_VERSION).toBeUndefined();
      expect(env.CANARY_WEIGHT).toBe("0");
    }
    expect(() => gatewayEnv({ ...gateway, canaryWeightPercent: 101 })).toThrow("canary weight 101%");
  });

  test("Deployment: probes on /readyz and /healthz, S3 from the Secret, no surge below capacity", () => {
    const d = gatewayDeployment(gateway) as Json;
    validates(Deployment, { apiVersion: "apps/v1", kind: "Deployment", ...d });
    expect(d.spec.replicas).toBe(2);
    expect(d.spec.strategy.rollingUpdate).toEqual({ maxUnavailable: 0, maxSurge: 1 });
    const [c] = d.spec.template.spec.containers;
    expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(c.envFrom).toEqual([{ secretRef: { name: "s3-credentials" } }]);
    expect(c.ports).toEqual([{ name: "http", containerPort: GATEWAY.port, protocol: "TCP" }]);
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, runAsNonRoot: true });
    expect(d.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(30);
    validates(Service, { apiVersion: "v1", kind: "Service", ...gatewayService(NS) });
    expect(gatewayServiceMonitor(NS).spec.endpoints).toEqual([
      { port: "http", path: "/metrics", interval: "15s" },
    ]);
  });

  test("the bootstrap Job runs the gateway image's loader on the configured features", () => {
    const job = bootstrapJob({
      namespace: NS,
      image: gateway.image,
      features: { dataset: "ml-1m", version: "2026-11-20" },
      maxlen: 200,
      s3SecretName: "s3-credentials",
    }) as Json;
    validates(Job, { apiVersion: "batch/v1", kind: "Job", ...job });
    const pod = job.spec.template.spec;
    expect(pod.restartPolicy).toBe("OnFailure");
    expect(pod.containers[0].command).toEqual(BOOTSTRAP_COMMAND);
    expect(envOf(pod.containers[0])).toEqual({
      REDIS_URL: redisUrl(NS),
      DATASET: "ml-1m",
      FEATURES_VERSION: "2026-11-20",
      MAXLEN: "200",
    });
    expect(job.spec.template.metadata.labels).toMatchObject(SERVING_LABELS.bootstrap);
    expect(() =>
      bootstrapJob({
        namespace: NS,
        image: gateway.image,
        features: { dataset: "ml-1m", version: "../x" },
        maxlen: 200,
        s3SecretName: "s3",
      }),
    ).toThrow('online features version "../x"');
  });
});

describe("Redis (OnlineStore)", () => {
  test("append-only persistence, no RDB, a memory cap below the limit, the password from the Secret", () => {
    expect(redisArgs("1Gi")).toEqual([
      "redis-server",
      "--appendonly",
      "yes",
      "--appendfsync",
      "everysec",
      "--save",
      "",
      "--dir",
      "/data",
      "--maxmemory",
      "768mb",
      "--maxmemory-policy",
      "allkeys-lru",
      "--requirepass",
      "$(REDIS_PASSWORD)",
    ]);
    const sts = redisStatefulSet({
      namespace: NS,
      resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "500m", memory: "1Gi" } },
      storageGi: 5,
      nodeSelector: { "ssept.io/data-volume": "cinder" },
    }) as Json;
    validates(StatefulSet, { apiVersion: "apps/v1", kind: "StatefulSet", ...sts });
    const pod = sts.spec.template.spec;
    expect(pod.nodeSelector).toEqual({ "ssept.io/data-volume": "cinder" });
    const [redis, exporter] = pod.containers;
    expect(redis.volumeMounts).toEqual([{ name: "data", mountPath: "/data" }]);
    expect(redis.env.map((e: Json) => [e.name, e.valueFrom?.secretKeyRef?.name])).toEqual([
      ["REDIS_PASSWORD", "redis-auth"],
      ["REDISCLI_AUTH", "redis-auth"],
    ]);
    expect(redis.readinessProbe.exec.command.join(" ")).toContain("PONG");
    expect(exporter.ports).toEqual([{ name: "metrics", containerPort: REDIS.exporterPort, protocol: "TCP" }]);
    expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe("5Gi");
    validates(Service, { apiVersion: "v1", kind: "Service", ...redisService(NS) });
    expect(() => redisArgs("1G")).toThrow(/memory quantity 1G/);
  });
});

describe("simulator", () => {
  test("0 replicas is off; the rate, think time and session length reach the container", () => {
    const spec = {
      namespace: "simulator",
      image: "ghcr.io/sse-pt-platform/simulator:0.1.0",
      replicas: 0,
      gatewayUrl: "http://gateway.serving.svc.cluster.local:8080",
      dataPrefix: "ml-1m/latest",
      usersPerSecond: 5,
      thinkTimeMs: 2000,
      sessionLength: 20,
      s3SecretName: "s3-credentials",
    };
    const d = simulatorDeployment(spec) as Json;
    validates(Deployment, { apiVersion: "apps/v1", kind: "Deployment", ...d });
    expect(d.spec.replicas).toBe(0);
    expect(envOf(d.spec.template.spec.containers[0])).toEqual({
      GATEWAY_URL: "http://gateway.serving.svc.cluster.local:8080",
      DATA_PREFIX: "ml-1m/latest",
      USERS_PER_SECOND: "5",
      THINK_TIME_MS: "2000",
      SESSION_LENGTH: "20",
      METRICS_PORT: String(SIMULATOR.metricsPort),
    });
    expect(() => simulatorDeployment({ ...spec, replicas: -1 })).toThrow("simulator replicas -1");
    validates(Service, { apiVersion: "v1", kind: "Service", ...simulatorService("simulator") });
    expect(simulatorServiceMonitor("simulator").spec.endpoints[0].port).toBe("metrics");
  });
});

describe("network policies", () => {
  const policies = servingPolicies({
    s3Endpoint: "https://chi.tacc.chameleoncloud.org:7480",
    simulatorNamespace: "simulator",
  });
  const byName = (name: string) => policies.find((p) => p.name === name)!.spec as Json;

  test("every policy validates and names both directions", () => {
    for (const p of [
      ...policies,
      ...simulatorPolicies({ s3Endpoint: "http://127.0.0.1:7480", servingNamespace: NS }),
    ]) {
      validates(NetworkPolicy, {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: p.name, namespace: NS },
        spec: p.spec,
      });
      expect(p.spec.policyTypes).toEqual(["Ingress", "Egress"]);
    }
  });

  test("Triton admits only the gateway (8000) and Prometheus (8002), and reaches only the object store", () => {
    const t = byName("triton");
    expect(t.podSelector.matchLabels).toEqual(TRITON_LABELS);
    expect(t.ingress).toEqual([
      {
        from: [{ podSelector: { matchLabels: SERVING_LABELS.gateway } }],
        ports: [{ protocol: "TCP", port: 8000 }],
      },
      { from: [prometheusPeer()], ports: [{ protocol: "TCP", port: 8002 }] },
    ]);
    expect(t.egress).toEqual([
      { to: [{ ipBlock: { cidr: "0.0.0.0/0" } }], ports: [{ protocol: "TCP", port: 7480 }] },
    ]);
  });

  test("the gateway: the simulator's pods and Prometheus in; Triton, Redis and S3 out", () => {
    const g = byName("gateway");
    expect(g.ingress[0].from[0]).toEqual({
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "simulator" } },
      podSelector: { matchLabels: SERVING_LABELS.simulator },
    });
    expect(g.egress.map((r: Json) => r.ports[0].port)).toEqual([TRITON.httpPort, REDIS.port, 7480]);
    const without = servingPolicies({ s3Endpoint: "https://x.example.org:7480" }).find(
      (p) => p.name === "gateway",
    )!;
    expect((without.spec.ingress as Json[]).length).toBe(1);
  });

  test("Redis admits the gateway and its loader only, and sends nowhere", () => {
    const r = byName("redis");
    expect(r.ingress[0].from).toEqual([
      { podSelector: { matchLabels: SERVING_LABELS.gateway } },
      { podSelector: { matchLabels: SERVING_LABELS.bootstrap } },
    ]);
    expect(r.egress).toEqual([]);
    expect(byName("redis-bootstrap").egress[0]).toEqual({
      to: [{ podSelector: { matchLabels: SERVING_LABELS.redis } }],
      ports: [{ protocol: "TCP", port: 6379 }],
    });
  });
});
