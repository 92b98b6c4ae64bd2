import * as k8s from "@pulumi/kubernetes";
import { gpuNodeSelector, gpuToleration, NVIDIA_RUNTIME_CLASS, ResourceSpec } from "../contracts";
import {
  containerResources,
  mebibytes,
  nonRootPod,
  restrictedContainer,
  TRAINER_UID,
} from "./containerSecurity";
import { httpProbe } from "./probes";
import { RAY_API_VERSION, RayCluster, RayStartParams, WorkerGroupSpec } from "./rayTypes";
import { S3_SECRET_NAME } from "./s3Credentials";

type Container = k8s.types.input.core.v1.Container;
type PodTemplateSpec = k8s.types.input.core.v1.PodTemplateSpec;
type Service = k8s.types.input.core.v1.Service;

/** The one long-lived RayCluster; RayJobs find it by `ray.io/cluster: <name>`. */
export const RAY_CLUSTER_NAME = "ssept";
/** Ray in the trainer image; KubeRay reads it to pick autoscaler behaviour. */
export const RAY_VERSION = "2.40.0";

export const RAY_PORTS = {
  gcs: 6379,
  dashboard: 8265,
  client: 10001,
  /** `--metrics-export-port`: Prometheus metrics of every Ray node. */
  metrics: 8080,
  /** The dashboard agent of every node; serves the raylet health check. */
  dashboardAgent: 52365,
} as const;

export const DASHBOARD_SERVICE = { name: "ray-dashboard", port: RAY_PORTS.dashboard } as const;

const BASE_LABELS = {
  "app.kubernetes.io/name": "ray",
  "app.kubernetes.io/instance": RAY_CLUSTER_NAME,
  "app.kubernetes.io/part-of": "sse-pt-platform",
} as const;
/** Labels of the Ray pods, on top of KubeRay's own `ray.io/*` labels. */
export const RAY_LABELS = {
  /** Every Ray node of the cluster, head and workers: what the PodMonitor selects. */
  node: BASE_LABELS,
  head: { ...BASE_LABELS, "app.kubernetes.io/component": "head" },
  cpuWorker: { ...BASE_LABELS, "app.kubernetes.io/component": "cpu-worker" },
  gpuWorker: { ...BASE_LABELS, "app.kubernetes.io/component": "gpu-worker" },
} as const;

export const WORKER_GROUPS = { cpu: "cpu", gpu: "gpu" } as const;

/** Where the dashboard and head find Grafana and Prometheus (optional: no monitoring, no charts), and MLflow. */
export interface RayEndpoints {
  mlflowTrackingUri: string;
  grafanaHost?: string;
  prometheusHost?: string;
  /** Grafana as the browser reaches it, for the dashboard's embedded panels. */
  grafanaIframeHost?: string;
}

/** A worker group's resources and autoscaling bounds. */
export type WorkerSizing = ResourceSpec & { min: number; max: number };

/** Sizes of the head and the worker groups (config ray*). */
export interface RaySizing {
  head: ResourceSpec;
  cpuWorker: WorkerSizing;
  gpuWorker: WorkerSizing;
}

export interface RayClusterInput extends RayEndpoints {
  namespace: string;
  image: string;
  ray: RaySizing;
  /** Whether the estate has GPU nodes; without them the GPU group is left out. */
  gpu: boolean;
}

/**
 * Ray keeps its object store in /dev/shm, by default 30 % of the node's memory. The container
 * runtime gives 64 MiB, so a memory-backed volume of that size replaces it (counted in the limit).
 */
export function sharedMemoryLimit(resources: ResourceSpec): string {
  return `${Math.floor(mebibytes(resources.limits.memory) * 0.3)}Mi`;
}

function rayContainer(
  name: string,
  image: string,
  resources: ResourceSpec,
  env: { name: string; value: string }[],
  health: { path: string; port: number },
  extraPorts: { name: string; containerPort: number }[] = [],
): Container {
  return {
    name,
    image,
    env,
    envFrom: [{ secretRef: { name: S3_SECRET_NAME } }],
    ports: [...extraPorts, { name: "metrics", containerPort: RAY_PORTS.metrics }].map((p) => ({
      ...p,
      protocol: "TCP",
    })),
    resources: containerResources(resources),
    // Set here, KubeRay keeps them instead of injecting its wget-based ones.
    readinessProbe: httpProbe(health.path, health.port, { periodSeconds: 5, failureThreshold: 10 }),
    livenessProbe: httpProbe(health.path, health.port, {
      initialDelaySeconds: 30,
      periodSeconds: 10,
      failureThreshold: 30,
    }),
    securityContext: restrictedContainer(),
    volumeMounts: [
      { name: "shm", mountPath: "/dev/shm" },
      { name: "ray-tmp", mountPath: "/tmp/ray" },
    ],
  };
}

function rayPod(
  labels: Record<string, string>,
  container: Container,
  resources: ResourceSpec,
  gpu: boolean,
): PodTemplateSpec {
  return {
    metadata: { labels: { ...labels } },
    spec: {
      securityContext: nonRootPod(TRAINER_UID),
      containers: [container],
      volumes: [
        { name: "shm", emptyDir: { medium: "Memory", sizeLimit: sharedMemoryLimit(resources) } },
        { name: "ray-tmp", emptyDir: { sizeLimit: "10Gi" } },
      ],
      ...(gpu
        ? {
            runtimeClassName: NVIDIA_RUNTIME_CLASS,
            nodeSelector: gpuNodeSelector(),
            tolerations: [gpuToleration()],
          }
        : {}),
    },
  };
}

function workerGroup(
  groupName: string,
  labels: Record<string, string>,
  input: RayClusterInput,
  sizing: WorkerSizing,
  gpu: boolean,
): WorkerGroupSpec {
  const container = rayContainer(
    "ray-worker",
    input.image,
    sizing,
    [{ name: "MLFLOW_TRACKING_URI", value: input.mlflowTrackingUri }],
    { path: "/api/local_raylet_healthz", port: RAY_PORTS.dashboardAgent },
  );
  if (gpu) {
    const resources = container.resources as {
      requests: Record<string, string>;
      limits: Record<string, string>;
    };
    resources.requests["nvidia.com/gpu"] = "1";
    resources.limits["nvidia.com/gpu"] = "1";
  }
  const rayStartParams: RayStartParams = { "metrics-export-port": String(RAY_PORTS.metrics) };
  return {
    groupName,
    replicas: sizing.min,
    minReplicas: sizing.min,
    maxReplicas: sizing.max,
    rayStartParams,
    template: rayPod(labels, container, sizing, gpu),
  };
}

/**
 * The RayCluster: a head that schedules no tasks (`num-cpus: 0`) and runs the autoscaler, a CPU
 * worker group, and, when the estate has GPU nodes, a GPU worker group of one GPU per worker on
 * the tainted GPU nodes. The autoscaler scales each group between its min and max from config.
 */
export function rayCluster(input: RayClusterInput): RayCluster {
  const optional = (name: string, value: string | undefined) => (value ? [{ name, value }] : []);
  const headEnv = [
    { name: "MLFLOW_TRACKING_URI", value: input.mlflowTrackingUri },
    ...optional("RAY_GRAFANA_HOST", input.grafanaHost),
    ...optional("RAY_PROMETHEUS_HOST", input.prometheusHost),
    ...optional("RAY_GRAFANA_IFRAME_HOST", input.grafanaIframeHost),
  ];
  const head = rayContainer(
    "ray-head",
    input.image,
    input.ray.head,
    headEnv,
    { path: "/api/gcs_healthz", port: RAY_PORTS.dashboard },
    [
      { name: "gcs", containerPort: RAY_PORTS.gcs },
      { name: "dashboard", containerPort: RAY_PORTS.dashboard },
      { name: "client", containerPort: RAY_PORTS.client },
    ],
  );
  const workerGroupSpecs = [
    workerGroup(WORKER_GROUPS.cpu, { ...RAY_LABELS.cpuWorker }, input, input.ray.cpuWorker, false),
  ];
  if (input.gpu) {
    workerGroupSpecs.push(
      workerGroup(WORKER_GROUPS.gpu, { ...RAY_LABELS.gpuWorker }, input, input.ray.gpuWorker, true),
    );
  }
  return {
    apiVersion: RAY_API_VERSION,
    kind: "RayCluster",
    metadata: { name: RAY_CLUSTER_NAME, namespace: input.namespace, labels: { ...BASE_LABELS } },
    spec: {
      rayVersion: RAY_VERSION,
      enableInTreeAutoscaling: true,
      autoscalerOptions: {
        upscalingMode: "Default",
        // Workers idle this long are removed; a GPU window's node stays, only the pod goes.
        idleTimeoutSeconds: 300,
        resources: { requests: { cpu: "200m", memory: "256Mi" }, limits: { cpu: "500m", memory: "512Mi" } },
        securityContext: restrictedContainer(),
      },
      headGroupSpec: {
        serviceType: "ClusterIP",
        rayStartParams: {
          "dashboard-host": "0.0.0.0",
          "num-cpus": "0",
          "metrics-export-port": String(RAY_PORTS.metrics),
        },
        template: rayPod({ ...RAY_LABELS.head }, head, input.ray.head, false),
      },
      workerGroupSpecs,
    },
  };
}

/** A stable Service for the dashboard (KubeRay's own head Service is headless and named after the cluster). */
export function dashboardService(namespace: string): Service {
  return {
    metadata: { name: DASHBOARD_SERVICE.name, namespace, labels: { ...RAY_LABELS.head } },
    spec: {
      type: "ClusterIP",
      selector: { ...RAY_LABELS.head },
      ports: [{ name: "dashboard", port: DASHBOARD_SERVICE.port, targetPort: "dashboard", protocol: "TCP" }],
    },
  };
}

/** Scrapes every Ray node (head and both worker groups) on its `metrics` port. */
export function rayPodMonitor(namespace: string) {
  return {
    metadata: { name: "ray", namespace, labels: { ...BASE_LABELS } },
    spec: {
      selector: { matchLabels: { ...RAY_LABELS.node } },
      namespaceSelector: { matchNames: [namespace] },
      podMetricsEndpoints: [{ port: "metrics", path: "/metrics", interval: "30s" }],
    },
  };
}
