import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { gpuNodeSelector, gpuToleration } from "../../components/contracts";
import { TRAINER_UID } from "../../components/platform/containerSecurity";
import { Ray } from "../../components/platform/ray";
import {
  RAY_CLUSTER_NAME,
  RAY_LABELS,
  rayCluster,
  RayClusterInput,
  rayPodMonitor,
  sharedMemoryLimit,
} from "../../components/platform/rayCluster";
import {
  RAY_JOB_CONDITIONS,
  SUBMITTER_LABELS,
  TRAIN_DEADLINE_SECONDS,
  TRAIN_OPTIONS,
  trainingEntrypoint,
  trainingRayJob,
  TrainingRun,
} from "../../components/platform/rayJob";
import { rayPolicies } from "../../components/platform/rayPolicies";
import { WorkerGroupSpec } from "../../components/platform/rayTypes";
import { S3_SECRET_NAME } from "../../components/platform/s3Credentials";
import { PlatformConfig } from "../../stacks/config";
import { clusterEndpoints, rayArgs } from "../../stacks/estate";
import { REPO_ROOT, runUnderMocks } from "../harness";
import {
  Build,
  byType,
  estateViolations,
  expectHardened,
  expectKubernetesChildrenOf,
  hasModel,
  NETPOL,
  one,
  PodOf,
  RELEASE,
  SECRET,
  selects,
  SERVICE,
  stackConfig,
  testCluster,
  validatePodSpec,
  validateRecord,
} from "./workloadKit";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const RAY_CLUSTER = "kubernetes:ray.io/v1:RayCluster";
const POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor";

const ENDPOINTS = {
  mlflowTrackingUri: "http://mlflow.mlflow.svc.cluster.local:5000",
  grafanaHost: "http://kube-prometheus-stack-grafana.monitoring.svc.cluster.local:80",
  prometheusHost: "http://kube-prometheus-stack-prometheus.monitoring.svc.cluster.local:9090",
};

function input(config: PlatformConfig, gpu: boolean): RayClusterInput {
  return { namespace: "ray", image: config.images.trainer, ray: config.ray, gpu, ...ENDPOINTS };
}

/** Head and worker pod templates of a RayCluster spec, as PodOf for the shared checks. */
function rayPods(spec: Json): PodOf[] {
  return [
    {
      where: "head",
      spec: spec.headGroupSpec.template.spec,
      labels: spec.headGroupSpec.template.metadata.labels,
    },
    ...spec.workerGroupSpecs.map((g: Json) => ({
      where: g.groupName,
      spec: g.template.spec,
      labels: g.template.metadata.labels,
    })),
  ];
}

const group = (spec: Json, name: string): WorkerGroupSpec & Json =>
  spec.workerGroupSpecs.find((g: Json) => g.groupName === name);

const staging = stackConfig("staging");
const scaled = stackConfig("production", {
  rayCpuWorkersMin: "1",
  rayCpuWorkersMax: "3",
  rayGpuWorkersMin: "1",
  rayGpuWorkersMax: "2",
  rayGpuWorkerResources: "6/24Gi:12/48Gi",
});

describe("RayCluster spec (pure)", () => {
  test("the autoscaler is on and each group's min and max come from config", () => {
    const spec = rayCluster(input(scaled, true)).spec as Json;
    expect(spec.enableInTreeAutoscaling).toBe(true);
    expect(spec.autoscalerOptions.resources.limits).toEqual({ cpu: "500m", memory: "512Mi" });
    const bounds = spec.workerGroupSpecs.map((g: Json) => [
      g.groupName,
      g.minReplicas,
      g.replicas,
      g.maxReplicas,
    ]);
    expect(bounds).toEqual([
      ["cpu", 1, 1, 3],
      ["gpu", 1, 1, 2],
    ]);
    const stagingBounds = (rayCluster(input(staging, true)).spec as Json).workerGroupSpecs.map((g: Json) => [
      g.groupName,
      g.minReplicas,
      g.maxReplicas,
    ]);
    expect(stagingBounds).toEqual([
      ["cpu", staging.ray.cpuWorker.min, staging.ray.cpuWorker.max],
      ["gpu", staging.ray.gpuWorker.min, staging.ray.gpuWorker.max],
    ]);
  });

  test("the GPU group asks for one GPU, tolerates the GPU taint, selects GPU nodes and uses the nvidia runtime", () => {
    const gpu = group(rayCluster(input(scaled, true)).spec, "gpu");
    const pod = gpu.template.spec;
    const container = pod.containers[0];
    expect(container.resources).toEqual({
      requests: { cpu: "6", memory: "24Gi", "nvidia.com/gpu": "1" },
      limits: { cpu: "12", memory: "48Gi", "nvidia.com/gpu": "1" },
    });
    expect(pod.tolerations).toEqual([
      { key: "nvidia.com/gpu", operator: "Equal", value: "present", effect: "NoSchedule" },
    ]);
    expect(pod.tolerations).toEqual([gpuToleration()]);
    expect(pod.nodeSelector).toEqual({ "node-role": "gpu" });
    expect(pod.nodeSelector).toEqual(gpuNodeSelector());
    expect(pod.runtimeClassName).toBe("nvidia");
  });

  test("the head and the CPU group stay off GPU nodes and ask for no GPU", () => {
    const spec = rayCluster(input(scaled, true)).spec as Json;
    for (const pod of [spec.headGroupSpec.template.spec, group(spec, "cpu").template.spec]) {
      expect([pod.tolerations, pod.nodeSelector, pod.runtimeClassName]).toEqual([
        undefined,
        undefined,
        undefined,
      ]);
      expect(JSON.stringify(pod.containers[0].resources)).not.toContain("nvidia.com/gpu");
    }
  });

  test("without GPU nodes there is no GPU group", () => {
    const spec = rayCluster(input(staging, false)).spec as Json;
    expect(spec.workerGroupSpecs.map((g: Json) => g.groupName)).toEqual(["cpu"]);
  });

  test("the head serves the dashboard on 8265, exports metrics on 8080 and knows Grafana, Prometheus and MLflow", () => {
    const head = (rayCluster(input(staging, true)).spec as Json).headGroupSpec;
    expect(head.rayStartParams).toEqual({
      "dashboard-host": "0.0.0.0",
      "num-cpus": "0",
      "metrics-export-port": "8080",
    });
    const container = head.template.spec.containers[0];
    expect(container.ports).toEqual(
      expect.arrayContaining([
        { name: "dashboard", containerPort: 8265, protocol: "TCP" },
        { name: "metrics", containerPort: 8080, protocol: "TCP" },
      ]),
    );
    const env = Object.fromEntries(container.env.map((e: Json) => [e.name, e.value]));
    expect(env).toEqual({
      MLFLOW_TRACKING_URI: ENDPOINTS.mlflowTrackingUri,
      RAY_GRAFANA_HOST: ENDPOINTS.grafanaHost,
      RAY_PROMETHEUS_HOST: ENDPOINTS.prometheusHost,
    });
    const bare = rayCluster({ ...input(staging, true), grafanaHost: undefined, prometheusHost: undefined });
    expect(
      (bare.spec as Json).headGroupSpec.template.spec.containers[0].env.map((e: Json) => e.name),
    ).toEqual(["MLFLOW_TRACKING_URI"]);
    const withIframe = rayCluster({
      ...input(staging, true),
      grafanaIframeHost: "https://grafana.example.org",
    });
    expect((withIframe.spec as Json).headGroupSpec.template.spec.containers[0].env).toContainEqual({
      name: "RAY_GRAFANA_IFRAME_HOST",
      value: "https://grafana.example.org",
    });
  });

  test("every Ray node runs the trainer image, reads S3 from the s3-credentials Secret and is sized from config", () => {
    const spec = rayCluster(input(scaled, true)).spec as Json;
    const sizes: Record<string, Json> = {
      head: scaled.ray.head,
      cpu: scaled.ray.cpuWorker,
      gpu: scaled.ray.gpuWorker,
    };
    for (const pod of rayPods(spec)) {
      const c = pod.spec.containers[0];
      expect(c.image).toBe(scaled.images.trainer);
      expect(c.envFrom).toEqual([{ secretRef: { name: S3_SECRET_NAME } }]);
      expect(c.resources.requests).toMatchObject(sizes[pod.where].requests);
      expect(c.resources.limits).toMatchObject(sizes[pod.where].limits);
      expect(c.env).toContainEqual({ name: "MLFLOW_TRACKING_URI", value: ENDPOINTS.mlflowTrackingUri });
    }
    for (const g of spec.workerGroupSpecs) expect(g.rayStartParams["metrics-export-port"]).toBe("8080");
  });

  test("pod templates validate as Pods and are pinned, sized, unprivileged and probed", () => {
    for (const pod of rayPods(rayCluster(input(scaled, true)).spec)) {
      validatePodSpec(pod.spec, pod.where);
      expectHardened(pod, { probes: true });
    }
  });

  test("Ray pods run as the trainer image's own non-root user", () => {
    const dockerfile = fs.readFileSync(path.join(REPO_ROOT, "trainer-image", "Dockerfile"), "utf8");
    expect(dockerfile).toMatch(new RegExp(`^USER ${TRAINER_UID}$`, "m"));
    for (const pod of rayPods(rayCluster(input(staging, true)).spec)) {
      expect(pod.spec.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: TRAINER_UID,
        fsGroup: TRAINER_UID,
      });
    }
  });

  test("/dev/shm is a memory volume of 30 % of the container's memory limit", () => {
    expect(
      sharedMemoryLimit({ requests: { cpu: "1", memory: "2Gi" }, limits: { cpu: "2", memory: "4Gi" } }),
    ).toBe("1228Mi");
    const head = (rayCluster(input(staging, true)).spec as Json).headGroupSpec.template.spec;
    expect(head.volumes).toContainEqual({
      name: "shm",
      emptyDir: { medium: "Memory", sizeLimit: sharedMemoryLimit(staging.ray.head) },
    });
    expect(head.containers[0].volumeMounts).toContainEqual({ name: "shm", mountPath: "/dev/shm" });
  });

  test("the PodMonitor selects the head and every worker group, which all name a metrics port", () => {
    const monitor = rayPodMonitor("ray");
    const pods = rayPods(rayCluster(input(scaled, true)).spec);
    for (const pod of pods) {
      expect({ where: pod.where, selected: selects(monitor.spec.selector.matchLabels, pod.labels) }).toEqual({
        where: pod.where,
        selected: true,
      });
      const ports = pod.spec.containers[0].ports.map((p: Json) => p.name);
      for (const endpoint of monitor.spec.podMetricsEndpoints) expect(ports).toContain(endpoint.port);
    }
    expect(selects(monitor.spec.selector.matchLabels, SUBMITTER_LABELS)).toBe(false);
  });

  test("a misspelt RayCluster field fails the type check", () => {
    const template = { spec: { containers: [] } };
    const bad: WorkerGroupSpec = {
      groupName: "x",
      replicas: 0,
      minReplicas: 0,
      maxReplicas: 1,
      // @ts-expect-error maxReplica is not a WorkerGroupSpec field (maxReplicas is)
      maxReplica: 1,
      rayStartParams: {},
      template,
    };
    expect(bad.groupName).toBe("x");
  });
});

describe("Training RayJob (pure)", () => {
  const run: TrainingRun = {
    name: "training-pipeline-abcde",
    dataset: "wikipedia",
    dataVersion: "v3",
    preset: "dataset",
    epochs: "12",
    lr: "0.0005",
    maxlen: "50",
    itemDim: "64",
    userDim: "16",
    blocks: "3",
    dropout: "0.1",
    sseUser: "0.9",
    sseItem: "0.8",
    windowSampleProb: "default",
    numWorkers: "2",
    gpusPerWorker: "1",
    gitCommit: "0123abc",
  };
  const job = trainingRayJob({
    namespace: "ray",
    clusterName: RAY_CLUSTER_NAME,
    image: staging.images.trainer,
    run,
  });

  test("is submitted to the long-lived RayCluster and runs `ssept train` with every run setting", () => {
    expect(job.apiVersion).toBe("ray.io/v1");
    expect(job.metadata).toMatchObject({ name: run.name, namespace: "ray" });
    expect(job.spec.clusterSelector).toEqual({ "ray.io/cluster": "ssept" });
    expect(job.spec.entrypoint).toBe(
      "ssept train --dataset wikipedia --data-version v3 --run-name training-pipeline-abcde --preset dataset" +
        " --epochs 12 --lr 0.0005 --maxlen 50 --item-dim 64 --user-dim 16 --num-blocks 3 --dropout 0.1" +
        " --sse-user-keep 0.9 --sse-item-keep 0.8 --window-sample-prob default" +
        " --ray-workers 2 --ray-gpus-per-worker 1 --tracking mlflow",
    );
    expect(trainingEntrypoint(run)).toBe(job.spec.entrypoint);
    const fields = new Set(TRAIN_OPTIONS.map(([, field]) => field));
    const runFields = Object.keys(run).filter((k) => k !== "gitCommit");
    expect([...fields].sort()).toEqual(runFields.sort());
  });

  test("carries the code version in its runtime environment and fails on a deadline without retries", () => {
    expect(yaml.load(job.spec.runtimeEnvYAML!)).toEqual({ env_vars: { GIT_COMMIT: "0123abc" } });
    expect(job.spec.activeDeadlineSeconds).toBe(TRAIN_DEADLINE_SECONDS);
    expect(job.spec.backoffLimit).toBe(0);
    expect(job.spec.submissionMode).toBe("K8sJobMode");
  });

  test("the submitter pod is pinned, sized and unprivileged", () => {
    const pod = job.spec.submitterPodTemplate as Json;
    validatePodSpec(pod.spec, "submitter");
    expectHardened({ where: "submitter", spec: pod.spec, labels: pod.metadata.labels }, { probes: false });
    expect(pod.spec.restartPolicy).toBe("Never");
  });

  test("success and failure are read from status.jobStatus", () => {
    expect(RAY_JOB_CONDITIONS).toEqual({
      success: "status.jobStatus == SUCCEEDED",
      failure: "status.jobStatus in (FAILED, STOPPED)",
    });
  });
});

describe("Ray network policies (pure)", () => {
  const byName = Object.fromEntries(
    rayPolicies(clusterEndpoints(staging)).map((p) => [p.name, p.spec as Json]),
  );

  test("the dashboard admits only the ingress controller, the metrics port only Prometheus", () => {
    expect(byName["ray-dashboard"].podSelector.matchLabels).toEqual(RAY_LABELS.head);
    expect(byName["ray-dashboard"].ingress).toEqual([
      {
        from: [
          {
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
            podSelector: { matchLabels: { "app.kubernetes.io/name": "traefik" } },
          },
        ],
        ports: [{ protocol: "TCP", port: 8265 }],
      },
    ]);
    expect(byName["ray-metrics"].ingress[0].ports).toEqual([{ protocol: "TCP", port: 8080 }]);
    expect(byName["ray-metrics"].ingress[0].from[0].namespaceSelector.matchLabels).toEqual({
      "kubernetes.io/metadata.name": "monitoring",
    });
  });

  test("Ray nodes reach MLflow on 5000 and the object store on its port; the head and operator the API server", () => {
    const egress = byName["ray-nodes-egress"].egress;
    expect(egress[0].ports).toEqual([{ protocol: "TCP", port: 5000 }]);
    expect(egress[0].to[0].namespaceSelector.matchLabels).toEqual({
      "kubernetes.io/metadata.name": "mlflow",
    });
    expect(egress[1]).toEqual({
      to: [{ ipBlock: { cidr: "0.0.0.0/0" } }],
      ports: [{ protocol: "TCP", port: 7480 }],
    });
    for (const name of ["ray-head-egress", "kuberay-operator"]) {
      const api = byName[name].egress.find((r: Json) => r.ports.some((p: Json) => p.port === 6443));
      expect(api.to).toContainEqual({ ipBlock: { cidr: "192.168.50.0/24" } });
    }
  });
});

describe("Ray component (under mocks)", () => {
  async function buildRay(config: PlatformConfig, gpu: boolean) {
    let out: Json = {};
    const build = await runUnderMocks(() => {
      const ray = new Ray("ray", rayArgs(config, testCluster(config), { gpu, ...ENDPOINTS }));
      out = { ui: ray.ui, clusterName: ray.clusterName, dashboardUrl: ray.dashboardUrl };
    });
    return { build, out };
  }
  let build: Build;
  let out: Json;
  beforeAll(async () => {
    ({ build, out } = await buildRay(staging, true));
  });

  test("installs the pinned KubeRay operator chart watching the ray namespace", () => {
    const release = one(build, RELEASE, "ray-kuberay-operator").inputs as Json;
    expect(release).toMatchObject({
      chart: "kuberay-operator",
      version: "1.4.2",
      repositoryOpts: { repo: "https://ray-project.github.io/kuberay-helm/" },
      namespace: "ray",
    });
    expect(release.values.image).toEqual({
      repository: "quay.io/kuberay/operator",
      tag: "v1.4.2",
      pullPolicy: "IfNotPresent",
    });
    expect(release.values.watchNamespace).toEqual(["ray"]);
    expect(release.values.metrics.serviceMonitor.enabled).toBe(true);
    expect(Object.keys(release.values.resources).sort()).toEqual(["limits", "requests"]);
  });

  test("declares the RayCluster after the operator (its CRDs) and the S3 Secret", () => {
    const cluster = one(build, RAY_CLUSTER, "ray-cluster");
    const release = one(build, RELEASE, "ray-kuberay-operator");
    const secret = one(build, SECRET, "ray-s3-credentials");
    expect(cluster.dependencies).toEqual(expect.arrayContaining([release.urn, secret.urn]));
    expect((cluster.inputs.metadata as Json).namespace).toBe("ray");
    expect((secret.inputs.metadata as Json).name).toBe(S3_SECRET_NAME);
    expect(secret.secretPaths).toContain("stringData");
    expect((cluster.inputs.spec as Json).workerGroupSpecs).toHaveLength(2);
  });

  test("passes the estate-wide Kubernetes rules, the RayCluster included", () => {
    expect(estateViolations(build)).toEqual([]);
  });

  test("every core object and the PodMonitor validate; every Kubernetes child uses the explicit provider", () => {
    const component = one(build, "ssept:platform:Ray", "ray");
    for (const r of build.resources.filter((x) => hasModel(x.type))) validateRecord(r);
    expectKubernetesChildrenOf(build, component);
  });

  test("the dashboard Service selects the head pod and targets its dashboard port", () => {
    const service = one(build, SERVICE, "ray-dashboard").inputs as Json;
    const spec = one(build, RAY_CLUSTER, "ray-cluster").inputs.spec as Json;
    const pods = rayPods(spec);
    expect(pods.filter((p) => selects(service.spec.selector, p.labels)).map((p) => p.where)).toEqual([
      "head",
    ]);
    const headPorts = pods[0].spec.containers[0].ports.map((p: Json) => p.name);
    expect(headPorts).toContain(service.spec.ports[0].targetPort);
    expect(out.ui).toEqual({ namespace: "ray", name: "ray-dashboard", port: 8265 });
    expect(out.clusterName).toBe(RAY_CLUSTER_NAME);
    expect(out.dashboardUrl).toBe("http://ray-dashboard.ray.svc.cluster.local:8265");
  });

  test("the PodMonitor in the cluster selects every Ray node", () => {
    const monitor = one(build, POD_MONITOR, "ray-pod-monitor").inputs as Json;
    const pods = rayPods(one(build, RAY_CLUSTER, "ray-cluster").inputs.spec);
    expect(pods.every((p) => selects(monitor.spec.selector.matchLabels, p.labels))).toBe(true);
    expect(monitor.spec.namespaceSelector).toEqual({ matchNames: ["ray"] });
  });

  test("the namespace starts closed and every policy is in it", () => {
    const policies = byType(build, NETPOL).map((r) => r.inputs as Json);
    expect(policies.map((p) => p.metadata.name).sort()).toEqual([
      "allow-dns",
      "default-deny",
      "kuberay-operator",
      "ray-dashboard",
      "ray-head-egress",
      "ray-metrics",
      "ray-nodes-egress",
      "ray-within-namespace",
    ]);
    for (const p of policies) expect(p.metadata.namespace).toBe("ray");
  });

  test("without GPU nodes or monitoring: one worker group, no PodMonitor, no operator ServiceMonitor", async () => {
    const { build: bare } = await buildRay(stackConfig("staging", { enableMonitoring: "false" }), false);
    const spec = one(bare, RAY_CLUSTER, "ray-cluster").inputs.spec as Json;
    expect(spec.workerGroupSpecs.map((g: Json) => g.groupName)).toEqual(["cpu"]);
    expect(byType(bare, POD_MONITOR)).toEqual([]);
    expect(
      (one(bare, RELEASE, "ray-kuberay-operator").inputs as Json).values.metrics.serviceMonitor.enabled,
    ).toBe(false);
  });
});
