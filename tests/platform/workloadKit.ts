/**
 * Shared setup and checks for the Monitoring, MLflow, Ray and Argo component tests: realistic
 * config from the stack files, the cluster (provider and S3 keys) under mocks, the type tokens of recorded
 * resources, kubernetes-models validation of recorded objects, and the container rules every
 * workload of the estate follows.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { Deployment, StatefulSet } from "kubernetes-models/apps/v1";
import { CronJob, Job } from "kubernetes-models/batch/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import {
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
} from "kubernetes-models/rbac.authorization.k8s.io/v1";
import { Namespace, Pod, Secret, Service, ServiceAccount } from "kubernetes-models/v1";
import { PodMonitor, ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { PlatformConfig } from "../../stacks/config";
import { KubernetesCluster } from "../../stacks/estate";
import { pinnedImage } from "../../stacks/configSchema";
import { ResourceRecord } from "../harness";
import { checkKubernetes, secretSources, Violation } from "../k8sValidation";

export type Build = { resources: ResourceRecord[]; secretValues?: string[] };
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** Type tokens of the resources the component tests look up. */
export const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
export const STATEFULSET = "kubernetes:apps/v1:StatefulSet";
export const CRONJOB = "kubernetes:batch/v1:CronJob";
export const NAMESPACE = "kubernetes:core/v1:Namespace";
export const SECRET = "kubernetes:core/v1:Secret";
export const SERVICE = "kubernetes:core/v1:Service";
export const NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy";
export const SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor";
export const RELEASE = "kubernetes:helm.sh/v3:Release";
export const PASSWORD = "random:index/randomPassword:RandomPassword";

export const TEST_ACCESS_KEY = "TESTACCESSKEY0001";
export const TEST_SECRET_KEY = "test-secret-key-do-not-leak-0001";

export { byType, one, stackConfig } from "../harness";

/** The cluster the estate hands each component (with `<component>Args` of stacks/estate.ts); call it inside runUnderMocks. */
export function testCluster(config: PlatformConfig): KubernetesCluster {
  return {
    provider: new k8s.Provider("test-k8s", { kubeconfig: pulumi.secret("apiVersion: v1\nkind: Config\n") }),
    s3: {
      endpoint: config.objectStore.endpoint,
      accessKey: pulumi.secret(TEST_ACCESS_KEY),
      secretKey: pulumi.secret(TEST_SECRET_KEY),
    },
  };
}

/** The kubernetes-models class of each core (and Prometheus Operator) type the components declare. */
const MODELS: Record<string, new (data: Json) => { validate(): void }> = {
  [DEPLOYMENT]: Deployment,
  [STATEFULSET]: StatefulSet,
  [CRONJOB]: CronJob,
  "kubernetes:batch/v1:Job": Job,
  [NAMESPACE]: Namespace,
  [SECRET]: Secret,
  [SERVICE]: Service,
  "kubernetes:core/v1:ServiceAccount": ServiceAccount,
  [NETPOL]: NetworkPolicy,
  "kubernetes:rbac.authorization.k8s.io/v1:Role": Role,
  "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": RoleBinding,
  "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole": ClusterRole,
  "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": ClusterRoleBinding,
  [SERVICE_MONITOR]: ServiceMonitor,
  "kubernetes:monitoring.coreos.com/v1:PodMonitor": PodMonitor,
};

export function hasModel(type: string): boolean {
  return type in MODELS;
}

/** Validates a recorded object against its Kubernetes schema; throws naming the resource. */
export function validateRecord(record: ResourceRecord): void {
  const Model = MODELS[record.type];
  if (!Model) throw new Error(`no kubernetes-models class for ${record.type}`);
  try {
    new Model(record.inputs).validate();
  } catch (e) {
    throw new Error(`${record.type} ${record.name}: ${(e as Error).message}`);
  }
}

/** Validates a pod spec (e.g. a RayCluster or workflow template's) as a Pod. */
export function validatePodSpec(spec: Json, where: string): void {
  try {
    new Pod({ metadata: { name: "check" }, spec }).validate();
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
}

export interface PodOf {
  where: string;
  spec: Json;
  labels: Record<string, string>;
}

/** The pod templates of a workload record (Deployment, StatefulSet, Job, CronJob). */
export function podsOf(record: ResourceRecord): PodOf[] {
  const spec = record.inputs.spec as Json;
  const template =
    record.type === "kubernetes:batch/v1:CronJob" ? spec?.jobTemplate?.spec?.template : spec?.template;
  return template
    ? [{ where: record.name, spec: template.spec, labels: template.metadata?.labels ?? {} }]
    : [];
}

export function containersOf(pod: PodOf): { where: string; container: Json; init: boolean }[] {
  return [
    ...(pod.spec.initContainers ?? []).map((c: Json) => ({
      where: `${pod.where}/${c.name}`,
      container: c,
      init: true,
    })),
    ...(pod.spec.containers ?? []).map((c: Json) => ({
      where: `${pod.where}/${c.name}`,
      container: c,
      init: false,
    })),
  ];
}

/** Pinned image, requests and limits for cpu and memory, no root, no privilege, no capabilities. */
export function expectHardened(pod: PodOf, options: { probes: boolean }): void {
  for (const { where, container, init } of containersOf(pod)) {
    const sc = container.securityContext ?? {};
    const podSc = pod.spec.securityContext ?? {};
    const facts = {
      where,
      pinned: pinnedImage.safeParse(container.image).success,
      requests: Object.keys(container.resources?.requests ?? {}).sort(),
      limitsCover: ["cpu", "memory"].every((k) => container.resources?.limits?.[k] !== undefined),
      privileged: sc.privileged === true,
      escalation: sc.allowPrivilegeEscalation,
      dropsAll: (sc.capabilities?.drop ?? []).includes("ALL"),
      nonRoot: (sc.runAsNonRoot ?? podSc.runAsNonRoot) === true,
      rootUid: (sc.runAsUser ?? podSc.runAsUser) === 0,
      probes: options.probes && !init ? Boolean(container.readinessProbe && container.livenessProbe) : true,
    };
    expect(facts).toEqual({
      where,
      pinned: true,
      requests: expect.arrayContaining(["cpu", "memory"]),
      limitsCover: true,
      privileged: false,
      escalation: false,
      dropsAll: true,
      nonRoot: true,
      rootUid: false,
      probes: true,
    });
  }
}

/** Every Kubernetes object of the build is a child of `component` and uses the test's explicit provider. */
export function expectKubernetesChildrenOf(build: Build, component: ResourceRecord): void {
  for (const r of build.resources.filter((x) => x.type.startsWith("kubernetes:"))) {
    expect({ name: r.name, provider: r.provider, parent: r.parent }).toEqual({
      name: r.name,
      provider: expect.stringContaining("test-k8s"),
      parent: component.urn,
    });
  }
}

/** Every env var that is not a secretKeyRef, by name: a secret must never appear here. */
export function plainEnv(pod: PodOf): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { container } of containersOf(pod)) {
    for (const e of container.env ?? []) if (e.value !== undefined) out[e.name] = e.value;
  }
  return out;
}

/** True when every key of `selector` is in `labels` with the same value. */
export function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The estate-wide rules of tests/k8sValidation.ts over one component's build; the test keys count as secrets. */
export function estateViolations(build: Build): Violation[] {
  const secrets = secretSources(build.resources, [
    TEST_ACCESS_KEY,
    TEST_SECRET_KEY,
    ...(build.secretValues ?? []),
  ]);
  return checkKubernetes(build.resources, { secretValues: secrets });
}
