import * as k8s from "@pulumi/kubernetes";

/**
 * The fields of KubeRay's `ray.io/v1` RayCluster and RayJob that this project sets, as the CRDs of
 * kuberay-operator 1.4.2 spell them. Pod templates reuse the Kubernetes types, so a misspelled
 * field anywhere in a RayCluster or RayJob built from these fails `tsc`.
 */
export type PodTemplateSpec = k8s.types.input.core.v1.PodTemplateSpec;
export type ResourceRequirements = k8s.types.input.core.v1.ResourceRequirements;
export type SecurityContext = k8s.types.input.core.v1.SecurityContext;

export const RAY_API_VERSION = "ray.io/v1";

export interface ObjectMeta {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** `ray start` options, flag names without dashes, values as strings (KubeRay's contract). */
export type RayStartParams = Record<string, string>;

export interface HeadGroupSpec {
  rayStartParams: RayStartParams;
  serviceType?: "ClusterIP" | "NodePort" | "LoadBalancer";
  enableIngress?: boolean;
  template: PodTemplateSpec;
}

export interface WorkerGroupSpec {
  groupName: string;
  replicas: number;
  minReplicas: number;
  maxReplicas: number;
  rayStartParams: RayStartParams;
  template: PodTemplateSpec;
}

export interface AutoscalerOptions {
  upscalingMode?: "Default" | "Conservative" | "Aggressive";
  idleTimeoutSeconds?: number;
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  resources?: ResourceRequirements;
  securityContext?: SecurityContext;
}

export interface RayClusterSpec {
  rayVersion: string;
  enableInTreeAutoscaling: boolean;
  autoscalerOptions?: AutoscalerOptions;
  headGroupSpec: HeadGroupSpec;
  workerGroupSpecs: WorkerGroupSpec[];
}

export interface RayCluster {
  apiVersion: typeof RAY_API_VERSION;
  kind: "RayCluster";
  metadata: ObjectMeta;
  spec: RayClusterSpec;
}

/** `status.jobStatus`: the Ray job's own state, as the Ray dashboard reports it. */
export type RayJobStatus = "PENDING" | "RUNNING" | "STOPPED" | "SUCCEEDED" | "FAILED";
export const RAY_JOB_FAILED: readonly RayJobStatus[] = ["FAILED", "STOPPED"];

export interface RayJobSpec {
  /** The driver command, run on the head through the Ray Jobs API. */
  entrypoint: string;
  /** Submit to an existing RayCluster (`ray.io/cluster: <name>`) instead of creating one. */
  clusterSelector?: Record<string, string>;
  /** Ray runtime_env as YAML: env_vars, working_dir, ... */
  runtimeEnvYAML?: string;
  submissionMode?: "K8sJobMode" | "HTTPMode";
  submitterPodTemplate?: PodTemplateSpec;
  activeDeadlineSeconds?: number;
  /** Retries of the whole job; 0 = none. */
  backoffLimit?: number;
  shutdownAfterJobFinishes?: boolean;
  ttlSecondsAfterFinished?: number;
  entrypointNumCpus?: number;
  entrypointNumGpus?: number;
}

export interface RayJob {
  apiVersion: typeof RAY_API_VERSION;
  kind: "RayJob";
  metadata: ObjectMeta;
  spec: RayJobSpec;
}
