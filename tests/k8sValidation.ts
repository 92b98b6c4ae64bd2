/**
 * Cross-cutting checks on every Kubernetes object a build declares. Any test can run them on a
 * harness build (`checkKubernetes(build.resources, …)`) or on one component built alone.
 *
 * The rules, each a `Violation.rule`:
 * - schema: core objects validate against kubernetes-models, Prometheus Operator objects against
 *   @kubernetes-models/prometheus-operator, cert-manager objects against @kubernetes-models/cert-manager
 *   and, where CUSTOM_KINDS has one, its structural check too (an issuer holds exactly one type); custom kinds that have no model package here must be
 *   listed in CUSTOM_KINDS and pass its structural check. Anything else is an unknown kind.
 * - image: every `image` in an object (custom resources included) names a tag other than `latest`,
 *   or a digest, literally (no template placeholder).
 * - resources: every container, init container, sidecar and workflow step container requests and
 *   limits both cpu and memory.
 * - probes: containers of long-running pods (Deployment, StatefulSet, DaemonSet, ReplicaSet, a Pod
 *   that restarts Always, RayCluster and RayService groups, a RayJob's cluster) have liveness and
 *   readiness probes, and so do their native sidecars (init containers with restartPolicy Always).
 *   Not required: plain init containers (Kubernetes rejects those probes on them) and containers of
 *   run-to-completion pods (Job, CronJob, a Pod that restarts Never/OnFailure, Argo Workflow,
 *   WorkflowTemplate, ClusterWorkflowTemplate and CronWorkflow steps, a RayJob's submitter), which
 *   are meant to exit and have nothing to serve.
 * - privileged: no privileged container (nor one adding SYS_ADMIN or ALL capabilities) but the
 *   NVIDIA device plugin and DCGM exporter, recognised by image repository.
 * - secret-env: an environment variable named like a credential comes from `valueFrom`, not `value`.
 * - secret-data: a Secret's every data/stringData entry arrived as a Pulumi secret.
 * - secret-inputs: only Secrets and Helm releases carry secret inputs; anything else holding one
 *   would store it in clear in the cluster (a Deployment's env, a ConfigMap).
 * - secret-leak: no known secret value appears in a non-secret input of any Kubernetes resource.
 * - helm: a release pins its chart (x.y.z, a repository or oci:// chart), names its namespace, and
 *   keeps every secret-looking value (password, token, secret key …) a Pulumi secret.
 * - namespace: every namespaced object names its namespace (nothing lands in `default`); in a whole
 *   estate, that namespace is one the estate declares, or kube-system (k3s's own).
 * - default-deny: every declared Namespace has a NetworkPolicy selecting all pods with both policy
 *   types and no rules.
 */
import { MockResourceArgs } from "@pulumi/pulumi/runtime/mocks";
import { KEYS } from "../stacks/configSchema";
import { KubernetesManifest, toManifest } from "../tools/manifests";
import { placeholderSecret, ResourceRecord } from "./harness";
import { mockState } from "./mockState";

export type Rule =
  | "schema"
  | "image"
  | "resources"
  | "probes"
  | "privileged"
  | "secret-env"
  | "secret-data"
  | "secret-inputs"
  | "secret-leak"
  | "helm"
  | "namespace"
  | "default-deny";

export interface Violation {
  rule: Rule;
  /** `<Kind> <namespace>/<name> (<pulumi name>)`. */
  resource: string;
  message: string;
}

export interface KubernetesObject {
  record: ResourceRecord;
  manifest: KubernetesManifest;
}

type Obj = Record<string, unknown>;

const HELM_RELEASE = "kubernetes:helm.sh/v3:Release";

/** Namespaces the estate uses without declaring: k3s's own, where Traefik runs. */
export const UNMANAGED_NAMESPACES: readonly string[] = ["kube-system"];

/** Images that may run privileged: they need the host's devices and GPU driver. */
export const PRIVILEGED_IMAGE_REPOSITORIES: readonly string[] = [
  "nvcr.io/nvidia/k8s-device-plugin",
  "nvcr.io/nvidia/k8s/dcgm-exporter",
];

const CLUSTER_SCOPED = new Set([
  "Namespace",
  "ClusterRole",
  "ClusterRoleBinding",
  "CustomResourceDefinition",
  "PersistentVolume",
  "StorageClass",
  "PriorityClass",
  "IngressClass",
  "RuntimeClass",
  "ValidatingWebhookConfiguration",
  "MutatingWebhookConfiguration",
  "APIService",
  "ClusterIssuer",
  "ClusterWorkflowTemplate",
]);

const SECRET_ENV = /(PASSWORD|PASSWD|SECRET|TOKEN|ACCESS_KEY|PRIVATE_KEY|API_KEY|CREDENTIALS)/i;
const SECRET_VALUE_KEY =
  /^(?!existing).*(password|passwd|secret|token|apikey|accesskey|secretkey|privatekey)$/i;

export function kubernetesObjects(records: readonly ResourceRecord[]): KubernetesObject[] {
  const objects: KubernetesObject[] = [];
  for (const record of records) {
    const manifest = toManifest(record);
    if (manifest) objects.push({ record, manifest });
  }
  return objects;
}

export function helmReleases(records: readonly ResourceRecord[]): ResourceRecord[] {
  return records.filter((r) => r.type === HELM_RELEASE);
}

export function describeObject(object: KubernetesObject): string {
  const { kind, metadata } = object.manifest;
  const where = metadata?.namespace ? `${metadata.namespace}/` : "";
  return `${kind} ${where}${metadata?.name ?? "(generated name)"} (${object.record.name})`;
}

// ---------------------------------------------------------------------------------------- schema

interface Model {
  new (data: Obj): { validate(): void };
}

/** Model packages by API group; core, the Prometheus Operator and cert-manager are installed. */
function modelModule(apiVersion: string): string | undefined {
  if (/^monitoring\.coreos\.com\/v1(alpha1)?$/.test(apiVersion)) {
    return `@kubernetes-models/prometheus-operator/${apiVersion}`;
  }
  if (apiVersion === "cert-manager.io/v1") return `@kubernetes-models/cert-manager/${apiVersion}`;
  const group = apiVersion.includes("/") ? apiVersion.split("/")[0] : "";
  if (group === "" || !group.includes(".") || group.endsWith(".k8s.io")) {
    return `kubernetes-models/${apiVersion}`;
  }
  return undefined;
}

function modelFor(apiVersion: string, kind: string): Model | undefined {
  const module = modelModule(apiVersion);
  if (!module) return undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const exports = require(module) as Record<string, unknown>;
    const model = exports[kind];
    return typeof model === "function" ? (model as Model) : undefined;
  } catch {
    return undefined;
  }
}

type StructuralCheck = (spec: Obj) => string[];

const ISSUER_TYPES = ["acme", "ca", "selfSigned", "vault", "venafi"];
const MIDDLEWARE_TYPES = [
  "addPrefix",
  "basicAuth",
  "buffering",
  "chain",
  "circuitBreaker",
  "compress",
  "contentType",
  "digestAuth",
  "errors",
  "forwardAuth",
  "grpcWeb",
  "headers",
  "inFlightReq",
  "ipAllowList",
  "passTLSClientCert",
  "rateLimit",
  "redirectRegex",
  "redirectScheme",
  "replacePath",
  "replacePathRegex",
  "retry",
  "stripPrefix",
  "stripPrefixRegex",
];

function issuerCheck(spec: Obj): string[] {
  const types = Object.keys(spec).filter((k) => ISSUER_TYPES.includes(k));
  if (types.length !== 1)
    return [`spec must set exactly one of ${ISSUER_TYPES.join(", ")}; it sets ${types.length}`];
  const acme = spec.acme as Obj | undefined;
  if (!acme) return [];
  const problems: string[] = [];
  if (typeof acme.server !== "string") problems.push("spec.acme.server must be a URL");
  if (typeof (acme.privateKeySecretRef as Obj | undefined)?.name !== "string")
    problems.push("spec.acme.privateKeySecretRef.name must be set");
  if (!Array.isArray(acme.solvers) || acme.solvers.length === 0)
    problems.push("spec.acme.solvers must not be empty");
  return problems;
}

function workflowTemplatesCheck(spec: Obj | undefined, at: string): string[] {
  const templates = spec?.templates;
  if (!Array.isArray(templates) || templates.length === 0) return [`${at}.templates must not be empty`];
  const names = templates.map((t) => (t as Obj).name);
  const problems = names.some((n) => typeof n !== "string") ? [`every ${at}.templates[] needs a name`] : [];
  if (spec?.entrypoint !== undefined && !names.includes(spec.entrypoint)) {
    problems.push(`${at}.entrypoint ${String(spec.entrypoint)} names no template`);
  }
  return problems;
}

function rayClusterCheck(spec: Obj | undefined, at: string): string[] {
  const head = (spec?.headGroupSpec as Obj | undefined)?.template as Obj | undefined;
  const problems: string[] = [];
  if (!Array.isArray((head?.spec as Obj | undefined)?.containers))
    problems.push(`${at}.headGroupSpec.template.spec.containers must be set`);
  for (const [i, group] of ((spec?.workerGroupSpecs as Obj[] | undefined) ?? []).entries()) {
    if (typeof group.groupName !== "string")
      problems.push(`${at}.workerGroupSpecs[${i}].groupName must be set`);
    if (!Array.isArray(((group.template as Obj | undefined)?.spec as Obj | undefined)?.containers))
      problems.push(`${at}.workerGroupSpecs[${i}].template.spec.containers must be set`);
  }
  return problems;
}

/**
 * Custom kinds the estate uses whose model packages are not installed: their apiVersion and kind
 * must be listed here (which catches a misspelt group or version) and pass a structural check of
 * the fields their controllers cannot do without.
 */
export const CUSTOM_KINDS: Record<string, Record<string, StructuralCheck>> = {
  "cert-manager.io/v1": {
    Certificate: (spec) => [
      ...(typeof spec.secretName === "string" ? [] : ["spec.secretName must be set"]),
      ...(typeof (spec.issuerRef as Obj | undefined)?.name === "string"
        ? []
        : ["spec.issuerRef.name must be set"]),
      ...((Array.isArray(spec.dnsNames) && spec.dnsNames.length > 0) || typeof spec.commonName === "string"
        ? []
        : ["spec needs dnsNames or commonName"]),
    ],
    ClusterIssuer: issuerCheck,
    Issuer: issuerCheck,
  },
  "traefik.io/v1alpha1": {
    Middleware: (spec) => {
      const types = Object.keys(spec);
      if (types.length !== 1 || !MIDDLEWARE_TYPES.includes(types[0]))
        return [`spec must hold exactly one middleware type; it holds ${types.join(", ") || "none"}`];
      if (types[0] === "basicAuth" && typeof (spec.basicAuth as Obj).secret !== "string")
        return ["spec.basicAuth.secret must name the htpasswd Secret"];
      return [];
    },
  },
  "ray.io/v1": {
    RayCluster: (spec) => rayClusterCheck(spec, "spec"),
    RayService: (spec) => rayClusterCheck(spec.rayClusterConfig as Obj | undefined, "spec.rayClusterConfig"),
    RayJob: (spec) => [
      ...(typeof spec.entrypoint === "string" ? [] : ["spec.entrypoint must be set"]),
      ...(spec.rayClusterSpec ? rayClusterCheck(spec.rayClusterSpec as Obj, "spec.rayClusterSpec") : []),
    ],
  },
  "argoproj.io/v1alpha1": {
    Workflow: (spec) => workflowTemplatesCheck(spec, "spec"),
    WorkflowTemplate: (spec) => workflowTemplatesCheck(spec, "spec"),
    ClusterWorkflowTemplate: (spec) => workflowTemplatesCheck(spec, "spec"),
    CronWorkflow: (spec) => [
      ...(typeof spec.schedule === "string" || Array.isArray(spec.schedules)
        ? []
        : ["spec.schedule must be set"]),
      ...workflowTemplatesCheck(spec.workflowSpec as Obj | undefined, "spec.workflowSpec"),
    ],
  },
};

/** Problems with one manifest's shape; empty when it validates. */
export function schemaProblems(manifest: KubernetesManifest): string[] {
  const model = modelFor(manifest.apiVersion, manifest.kind);
  const check = CUSTOM_KINDS[manifest.apiVersion]?.[manifest.kind];
  if (!model && !check) {
    return [
      `no schema for ${manifest.apiVersion} ${manifest.kind}: add its model package or list it in CUSTOM_KINDS`,
    ];
  }
  if (model) {
    try {
      new model(manifest as Obj).validate();
    } catch (e) {
      return [(e as Error).message];
    }
  }
  if (!check) return [];
  const problems = typeof manifest.metadata?.name === "string" ? [] : ["metadata.name must be set"];
  const spec = manifest.spec;
  if (!spec || typeof spec !== "object") return [...problems, "spec must be an object"];
  return [...problems, ...check(spec as Obj)];
}

// ------------------------------------------------------------------------------------ containers

export interface ContainerAt {
  /** Where the container sits in the manifest, e.g. `spec.template.spec.containers[0]`. */
  path: string;
  container: Obj;
  role: "main" | "init" | "sidecar";
  /** Whether its pod is meant to exit (a Job's, a workflow step's) rather than to serve. */
  runToCompletion: boolean;
}

function at(value: unknown, path: string): unknown {
  let node: unknown = value;
  for (const part of path.replace(/\[(\d+)\]/g, ".$1").split("."))
    node = node && typeof node === "object" ? (node as Obj)[part] : undefined;
  return node;
}

function podSpec(manifest: KubernetesManifest, path: string, runToCompletion: boolean): ContainerAt[] {
  const spec = at(manifest, path) as Obj | undefined;
  if (!spec) return [];
  const found: ContainerAt[] = [];
  for (const [i, c] of ((spec.containers as Obj[] | undefined) ?? []).entries()) {
    found.push({ path: `${path}.containers[${i}]`, container: c, role: "main", runToCompletion });
  }
  for (const [i, c] of ((spec.initContainers as Obj[] | undefined) ?? []).entries()) {
    const role = c.restartPolicy === "Always" ? "sidecar" : "init";
    found.push({ path: `${path}.initContainers[${i}]`, container: c, role, runToCompletion });
  }
  return found;
}

function rayClusterPods(manifest: KubernetesManifest, path: string): ContainerAt[] {
  const groups = (at(manifest, `${path}.workerGroupSpecs`) as unknown[] | undefined) ?? [];
  return [
    ...podSpec(manifest, `${path}.headGroupSpec.template.spec`, false),
    ...groups.flatMap((_, i) => podSpec(manifest, `${path}.workerGroupSpecs[${i}].template.spec`, false)),
  ];
}

function workflowSteps(manifest: KubernetesManifest, path: string): ContainerAt[] {
  const templates = (at(manifest, `${path}.templates`) as Obj[] | undefined) ?? [];
  const found: ContainerAt[] = [];
  for (const [i, t] of templates.entries()) {
    const base = `${path}.templates[${i}]`;
    const step = (container: unknown, where: string, role: ContainerAt["role"]) => {
      if (container && typeof container === "object")
        found.push({ path: `${base}.${where}`, container: container as Obj, role, runToCompletion: true });
    };
    step(t.container, "container", "main");
    step(t.script, "script", "main");
    const set = ((t.containerSet as Obj | undefined)?.containers as unknown[] | undefined) ?? [];
    set.forEach((c, j) => step(c, `containerSet.containers[${j}]`, "main"));
    ((t.initContainers as unknown[] | undefined) ?? []).forEach((c, j) =>
      step(c, `initContainers[${j}]`, "init"),
    );
    ((t.sidecars as unknown[] | undefined) ?? []).forEach((c, j) => step(c, `sidecars[${j}]`, "sidecar"));
  }
  return found;
}

/** Every container a manifest runs, wherever its kind keeps them. */
export function containersOf(manifest: KubernetesManifest): ContainerAt[] {
  switch (manifest.kind) {
    case "Pod":
      return podSpec(manifest, "spec", (at(manifest, "spec.restartPolicy") ?? "Always") !== "Always");
    case "Deployment":
    case "StatefulSet":
    case "DaemonSet":
    case "ReplicaSet":
    case "ReplicationController":
      return podSpec(manifest, "spec.template.spec", false);
    case "Job":
      return podSpec(manifest, "spec.template.spec", true);
    case "CronJob":
      return podSpec(manifest, "spec.jobTemplate.spec.template.spec", true);
    case "RayCluster":
      return rayClusterPods(manifest, "spec");
    case "RayService":
      return rayClusterPods(manifest, "spec.rayClusterConfig");
    case "RayJob":
      return [
        ...rayClusterPods(manifest, "spec.rayClusterSpec"),
        ...podSpec(manifest, "spec.submitterPodTemplate.spec", true),
      ];
    case "Workflow":
    case "WorkflowTemplate":
    case "ClusterWorkflowTemplate":
      return workflowSteps(manifest, "spec");
    case "CronWorkflow":
      return workflowSteps(manifest, "spec.workflowSpec");
    default:
      return [];
  }
}

/** Every `image` field in a manifest, in containers or anywhere a custom resource keeps one. */
export function imagesOf(manifest: KubernetesManifest): { path: string; image: unknown }[] {
  const found: { path: string; image: unknown }[] = [];
  const walk = (node: unknown, path: string) => {
    if (Array.isArray(node)) node.forEach((v, i) => walk(v, `${path}[${i}]`));
    else if (node && typeof node === "object") {
      for (const [k, v] of Object.entries(node)) {
        if (k === "image" && (typeof v === "string" || v === null))
          found.push({ path: `${path}.${k}`, image: v });
        else walk(v, path ? `${path}.${k}` : k);
      }
    }
  };
  // A ConfigMap's or Secret's data keys are file names, not fields.
  const fields = Object.entries(manifest).filter(([k]) => !["data", "stringData", "binaryData"].includes(k));
  walk(Object.fromEntries(fields), "");
  for (const c of containersOf(manifest)) {
    if (c.container.image === undefined) found.push({ path: `${c.path}.image`, image: undefined });
  }
  return found;
}

/** `repo/name:tag` or `repo/name@sha256:…`, with a tag other than `latest`, written out. */
export function isPinnedImage(image: unknown): boolean {
  if (typeof image !== "string" || image.trim() !== image || image === "") return false;
  if (/[{}$\s]/.test(image)) return false;
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
  const lastSegment = image.split("/").pop()!;
  const colon = lastSegment.lastIndexOf(":");
  if (colon < 0) return false;
  const tag = lastSegment.slice(colon + 1);
  return /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag) && tag !== "latest";
}

function imageRepository(image: unknown): string {
  if (typeof image !== "string") return "";
  const withoutDigest = image.split("@")[0];
  const lastSlash = withoutDigest.lastIndexOf("/");
  const colon = withoutDigest.lastIndexOf(":");
  return colon > lastSlash ? withoutDigest.slice(0, colon) : withoutDigest;
}

function containerProblems(c: ContainerAt): { rule: Rule; message: string }[] {
  const problems: { rule: Rule; message: string }[] = [];
  const resources = (c.container.resources ?? {}) as { requests?: Obj; limits?: Obj };
  const missing = (["requests", "limits"] as const).flatMap((kind) =>
    ["cpu", "memory"].filter((r) => resources[kind]?.[r] === undefined).map((r) => `${kind}.${r}`),
  );
  if (missing.length > 0)
    problems.push({ rule: "resources", message: `${c.path}: no ${missing.join(", ")}` });

  const needsProbes = !c.runToCompletion && (c.role === "main" || c.role === "sidecar");
  if (needsProbes) {
    const absent = ["livenessProbe", "readinessProbe"].filter((p) => !c.container[p]);
    if (absent.length > 0) problems.push({ rule: "probes", message: `${c.path}: no ${absent.join(", ")}` });
  }

  const security = (c.container.securityContext ?? {}) as {
    privileged?: boolean;
    capabilities?: { add?: string[] };
  };
  const added = (security.capabilities?.add ?? []).filter((cap) =>
    ["ALL", "SYS_ADMIN", "CAP_SYS_ADMIN"].includes(cap),
  );
  if (
    (security.privileged === true || added.length > 0) &&
    !PRIVILEGED_IMAGE_REPOSITORIES.includes(imageRepository(c.container.image))
  ) {
    problems.push({
      rule: "privileged",
      message: `${c.path} (${String(c.container.image)}) runs ${security.privileged ? "privileged" : `with ${added.join(", ")}`}`,
    });
  }

  for (const env of (c.container.env as Obj[] | undefined) ?? []) {
    if (typeof env.name === "string" && SECRET_ENV.test(env.name) && env.value !== undefined) {
      problems.push({
        rule: "secret-env",
        message: `${c.path}: env ${env.name} is a literal value; take it from a Secret (valueFrom.secretKeyRef)`,
      });
    }
  }
  return problems;
}

// ------------------------------------------------------------------------------------------ secrets

/** Whether a dotted input path is covered by one of the paths that arrived as secrets. */
export function isSecretPath(path: string, secretPaths: readonly string[]): boolean {
  return secretPaths.some(
    (p) => p === "(root)" || p === path || path.startsWith(`${p}.`) || path.startsWith(`${p}[`),
  );
}

function plainStrings(
  value: unknown,
  path: string,
  secretPaths: readonly string[],
): { path: string; text: string }[] {
  if (path && isSecretPath(path, secretPaths)) return [];
  if (typeof value === "string") return [{ path, text: value }];
  if (Array.isArray(value)) return value.flatMap((v, i) => plainStrings(v, `${path}[${i}]`, secretPaths));
  if (value && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => plainStrings(v, path ? `${path}.${k}` : k, secretPaths));
  }
  return [];
}

/**
 * The secrets a harness build started from: every secret config key (buildStack gives each a
 * placeholder) and what the mocks generate as secrets (passwords, hashes, EC2 keys). Not the values
 * that merely travelled inside a secret, such as bucket names in the S3 credentials Secret.
 */
export function secretSources(records: readonly ResourceRecord[], extra: readonly string[] = []): string[] {
  const fromConfig = Object.entries(KEYS)
    .filter(([, spec]) => spec.secret)
    .map(([k]) => placeholderSecret(k));
  const generated = records.flatMap(
    (r) =>
      mockState({
        type: r.type,
        name: r.name,
        inputs: r.inputs,
        provider: r.provider,
        custom: r.custom,
      } as MockResourceArgs).secrets,
  );
  return [...new Set([...fromConfig, ...generated, ...extra])].filter((s) => s.length >= 8);
}

// ---------------------------------------------------------------------------------------- the check

export interface CheckOptions {
  /** Secret values that must not appear in clear (see `secretSources`). */
  secretValues?: readonly string[];
  /**
   * The records are a whole estate: every namespace an object uses must be declared among them.
   * Off for one component built alone, whose namespaces other components declare.
   */
  wholeEstate?: boolean;
}

function isDefaultDeny(spec: Obj | undefined): boolean {
  const selector = (spec?.podSelector ?? undefined) as Obj | undefined;
  const selectsAll =
    selector !== undefined &&
    Object.keys((selector.matchLabels as Obj | undefined) ?? {}).length === 0 &&
    ((selector.matchExpressions as unknown[] | undefined) ?? []).length === 0;
  const types = (spec?.policyTypes as string[] | undefined) ?? [];
  const rules = [...((spec?.ingress as unknown[]) ?? []), ...((spec?.egress as unknown[]) ?? [])];
  return selectsAll && types.includes("Ingress") && types.includes("Egress") && rules.length === 0;
}

const PINNED_VERSION = /^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;

function releaseProblems(r: ResourceRecord): { rule: Rule; message: string }[] {
  const problems: { rule: Rule; message: string }[] = [];
  const { chart, version, repositoryOpts, namespace, values } = r.inputs as {
    chart?: unknown;
    version?: unknown;
    repositoryOpts?: { repo?: unknown };
    namespace?: unknown;
    values?: unknown;
  };
  if (typeof chart !== "string" || chart === "") problems.push({ rule: "helm", message: "no chart" });
  if (typeof version !== "string" || !PINNED_VERSION.test(version)) {
    problems.push({ rule: "helm", message: `version ${String(version)} is not pinned (x.y.z)` });
  }
  const remote = typeof chart === "string" && chart.startsWith("oci://");
  if (!remote && (typeof repositoryOpts?.repo !== "string" || repositoryOpts.repo === "")) {
    problems.push({ rule: "helm", message: "no repositoryOpts.repo: the chart's source is not pinned" });
  }
  if (typeof namespace !== "string" || namespace === "") {
    problems.push({ rule: "namespace", message: "the release names no namespace" });
  }
  for (const { path, text } of plainStrings(values, "values", r.secretPaths)) {
    const key = path
      .replace(/\[\d+\]$/, "")
      .split(".")
      .pop()!;
    if (SECRET_VALUE_KEY.test(key) && text !== "") {
      problems.push({ rule: "helm", message: `${path} looks like a secret but is a plain value` });
    }
  }
  return problems;
}

/** Every rule above, over every Kubernetes object and Helm release among the records. */
export function checkKubernetes(records: readonly ResourceRecord[], options: CheckOptions = {}): Violation[] {
  const violations: Violation[] = [];
  const objects = kubernetesObjects(records);
  const releases = helmReleases(records);
  const namespaces = new Set(
    objects.filter((o) => o.manifest.kind === "Namespace").map((o) => String(o.manifest.metadata?.name)),
  );
  const known = new Set([...namespaces, ...UNMANAGED_NAMESPACES]);
  const add = (resource: string, rule: Rule, message: string) => violations.push({ rule, resource, message });

  for (const object of objects) {
    const { manifest, record } = object;
    const name = describeObject(object);
    for (const problem of schemaProblems(manifest)) add(name, "schema", problem);

    for (const { path, image } of imagesOf(manifest)) {
      if (!isPinnedImage(image))
        add(name, "image", `${path} = ${String(image)} is not pinned to a tag or digest`);
    }
    for (const container of containersOf(manifest)) {
      for (const p of containerProblems(container)) add(name, p.rule, p.message);
    }

    if (manifest.kind === "Secret") {
      for (const field of ["data", "stringData"]) {
        for (const key of Object.keys((manifest[field] as Obj | undefined) ?? {})) {
          if (!isSecretPath(`${field}.${key}`, record.secretPaths)) {
            add(name, "secret-data", `${field}.${key} did not come from a Pulumi secret`);
          }
        }
      }
    } else if (record.secretPaths.length > 0) {
      add(
        name,
        "secret-inputs",
        `${record.secretPaths.join(", ")} hold a secret; keep it in a Secret and refer to it`,
      );
    }

    const namespace = manifest.metadata?.namespace;
    if (!CLUSTER_SCOPED.has(manifest.kind)) {
      if (typeof namespace !== "string" || namespace === "") {
        add(name, "namespace", "no metadata.namespace: it would land in default");
      } else if (options.wholeEstate && !known.has(namespace)) {
        add(name, "namespace", `namespace ${namespace} is not declared by the estate`);
      }
    }
  }

  for (const release of releases) {
    const name = `Release ${String(release.inputs.namespace)}/${String(release.inputs.name)} (${release.name})`;
    for (const p of releaseProblems(release)) add(name, p.rule, p.message);
    const namespace = release.inputs.namespace;
    if (options.wholeEstate && typeof namespace === "string" && namespace !== "" && !known.has(namespace)) {
      add(name, "namespace", `namespace ${namespace} is not declared by the estate`);
    }
  }

  const secrets = options.secretValues ?? [];
  for (const record of [...objects.map((o) => o.record), ...releases]) {
    for (const { path, text } of plainStrings(record.inputs, "", record.secretPaths)) {
      if (secrets.some((s) => text.includes(s))) {
        add(`${record.type} ${record.name}`, "secret-leak", `${path} holds a secret value in clear`);
      }
    }
  }

  for (const ns of namespaces) {
    const denied = objects.some(
      (o) =>
        o.manifest.kind === "NetworkPolicy" &&
        o.manifest.metadata?.namespace === ns &&
        isDefaultDeny(o.manifest.spec as Obj | undefined),
    );
    if (!denied)
      add(
        `Namespace ${ns}`,
        "default-deny",
        "no default-deny NetworkPolicy (all pods, Ingress+Egress, no rules)",
      );
  }
  return violations;
}
