import { kubernetesTypeOf, toManifest } from "../../tools/manifests";
import { BuildResult, buildStack, ResourceRecord } from "../harness";
import {
  checkKubernetes,
  CheckOptions,
  containersOf,
  helmReleases,
  isPinnedImage,
  kubernetesObjects,
  secretSources,
} from "../k8sValidation";

// ------------------------------------------------------------------------------------ fixtures

let serial = 0;
function record(type: string, inputs: Record<string, unknown>, secretPaths: string[] = []): ResourceRecord {
  const name = `fixture-${serial++}`;
  return {
    urn: `urn:pulumi:test::sse-pt-platform::${type}::${name}`,
    type,
    name,
    custom: true,
    inputs,
    secretPaths,
    dependencies: [],
  };
}

const RESOURCES = { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "1", memory: "512Mi" } };
const PROBE = { httpGet: { path: "/healthz", port: 8080 } };

function container(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: "main",
    image: "ghcr.io/sse-pt-platform/gateway:0.1.0",
    resources: RESOURCES,
    livenessProbe: PROBE,
    readinessProbe: PROBE,
    ...extra,
  };
}

function podTemplate(containers: unknown[], initContainers: unknown[] = []) {
  return {
    metadata: { labels: { app: "x" } },
    spec: { containers, ...(initContainers.length ? { initContainers } : {}) },
  };
}

function deployment(c: unknown, initContainers: unknown[] = []): ResourceRecord {
  return record("kubernetes:apps/v1:Deployment", {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "app", namespace: "serving" },
    spec: { selector: { matchLabels: { app: "x" } }, template: podTemplate([c], initContainers) },
  });
}

function job(c: unknown): ResourceRecord {
  return record("kubernetes:batch/v1:Job", {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: "ingest", namespace: "pipeline" },
    spec: { template: { spec: { restartPolicy: "Never", containers: [c] } } },
  });
}

function rules(records: ResourceRecord[], options?: CheckOptions): string[] {
  return checkKubernetes(records, options).map((v) => `${v.rule}: ${v.message}`);
}

// --------------------------------------------------------------------------- the conversion

describe("toManifest: a recorded resource as the object it applies", () => {
  test("apiVersion and kind come from the type token; core/v1 is v1", () => {
    expect(kubernetesTypeOf("kubernetes:apps/v1:Deployment")).toEqual({
      apiVersion: "apps/v1",
      kind: "Deployment",
    });
    expect(kubernetesTypeOf("kubernetes:core/v1:Secret")).toEqual({ apiVersion: "v1", kind: "Secret" });
    expect(kubernetesTypeOf("kubernetes:networking.k8s.io/v1:NetworkPolicy")).toEqual({
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
    });
    expect(kubernetesTypeOf("kubernetes:cert-manager.io/v1:Certificate")).toEqual({
      apiVersion: "cert-manager.io/v1",
      kind: "Certificate",
    });
    expect(
      kubernetesTypeOf("kubernetes:apiextensions.k8s.io:CustomResource", {
        apiVersion: "ray.io/v1",
        kind: "RayJob",
      }),
    ).toEqual({ apiVersion: "ray.io/v1", kind: "RayJob" });
  });

  test("releases, YAML groups, patches, lists and other providers are not objects", () => {
    for (const type of [
      "kubernetes:helm.sh/v3:Release",
      "kubernetes:helm.sh/v4:Chart",
      "kubernetes:yaml/v2:ConfigGroup",
      "kubernetes:yaml:ConfigFile",
      "kubernetes:apps/v1:DeploymentPatch",
      "kubernetes:core/v1:ConfigMapList",
      "pulumi:providers:kubernetes",
      "random:index/randomPassword:RandomPassword",
    ]) {
      expect({ type, manifest: toManifest({ type, inputs: {} }) }).toEqual({ type, manifest: undefined });
    }
  });

  test("the manifest is the inputs under the token's apiVersion and kind", () => {
    const secret = record("kubernetes:core/v1:Secret", {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "s", namespace: "mlflow" },
      stringData: { password: "x" },
    });
    expect(toManifest(secret)).toEqual({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "s", namespace: "mlflow" },
      stringData: { password: "x" },
    });
    expect(() =>
      toManifest({ type: "kubernetes:apps/v1:Deployment", inputs: { kind: "StatefulSet" } }),
    ).toThrow(/inputs say kind StatefulSet, the type token says Deployment/);
    expect(() => toManifest({ type: "kubernetes:apiextensions.k8s.io:CustomResource", inputs: {} })).toThrow(
      /needs apiVersion and kind/,
    );
  });
});

// --------------------------------------------------------------------------- each rule can fail

describe("the validator", () => {
  test("a well-formed Deployment passes every rule", () => {
    expect(rules([deployment(container())])).toEqual([]);
  });

  test("schema: core objects against kubernetes-models", () => {
    expect(rules([deployment(container({ name: undefined }))])).toEqual([
      expect.stringMatching(/^schema: .*containers\/0 must have required property name$/),
    ]);
  });

  test("schema: Prometheus Operator objects against their models", () => {
    const monitor = (endpoints: unknown) =>
      record("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", {
        apiVersion: "monitoring.coreos.com/v1",
        kind: "ServiceMonitor",
        metadata: { name: "gateway", namespace: "serving" },
        spec: { selector: { matchLabels: { app: "gateway" } }, endpoints },
      });
    expect(rules([monitor([{ port: "http", interval: "30s" }])])).toEqual([]);
    expect(rules([monitor("http")])).toEqual([expect.stringMatching(/^schema: .*endpoints must be array/)]);
  });

  test("schema: cert-manager objects validate against their model; unknown versions have no schema", () => {
    const certificate = (spec: Record<string, unknown>, apiVersion = "cert-manager.io/v1") =>
      record(`kubernetes:${apiVersion}:Certificate`, {
        apiVersion,
        kind: "Certificate",
        metadata: { name: "c", namespace: "mlflow" },
        spec,
      });
    const whole = { secretName: "c-tls", dnsNames: ["a.example.org"], issuerRef: { name: "ca" } };
    expect(rules([certificate(whole)])).toEqual([]);
    expect(rules([certificate({ ...whole, secretName: undefined })])).toEqual([
      expect.stringMatching(/^schema: .*required property secretName/),
    ]);
    expect(rules([certificate(whole, "cert-manager.io/v1alpha9")])).toEqual([
      expect.stringMatching(/^schema: no schema for cert-manager.io\/v1alpha9 Certificate/),
    ]);
  });

  test("schema: custom kinds without a model must be listed and structurally whole", () => {
    const middleware = record("kubernetes:traefik.io/v1alpha1:Middleware", {
      apiVersion: "traefik.io/v1alpha1",
      kind: "Middleware",
      metadata: { name: "m", namespace: "mlflow" },
      spec: { basicAuth: { users: ["admin:x"] } },
    });
    expect(rules([middleware])).toEqual(["schema: spec.basicAuth.secret must name the htpasswd Secret"]);
  });

  test("image: a tag other than latest, or a digest, written out", () => {
    for (const image of [
      "ghcr.io/sse-pt-platform/gateway:0.1.0",
      "nvcr.io/nvidia/tritonserver:24.12-py3",
      "localhost:5000/gateway:1.2",
      `redis@sha256:${"a".repeat(64)}`,
    ]) {
      expect({ image, pinned: isPinnedImage(image) }).toEqual({ image, pinned: true });
    }
    for (const image of [
      "redis",
      "redis:latest",
      "localhost:5000/gateway",
      "{{inputs.parameters.image}}",
      "ghcr.io/x/y:${TAG}",
      "",
      undefined,
    ]) {
      expect({ image, pinned: isPinnedImage(image) }).toEqual({ image, pinned: false });
    }
    expect(rules([deployment(container({ image: "redis:latest" }))])).toEqual([
      "image: spec.template.spec.containers[0].image = redis:latest is not pinned to a tag or digest",
    ]);
    expect(rules([deployment(container({ image: undefined }))])).toEqual([
      "image: spec.template.spec.containers[0].image = undefined is not pinned to a tag or digest",
    ]);
  });

  test("image, resources and probes reach inside RayClusters", () => {
    const ray = record("kubernetes:ray.io/v1:RayCluster", {
      apiVersion: "ray.io/v1",
      kind: "RayCluster",
      metadata: { name: "ssept", namespace: "ray" },
      spec: {
        headGroupSpec: { rayStartParams: {}, template: podTemplate([container({ name: "ray-head" })]) },
        workerGroupSpecs: [
          {
            groupName: "gpu",
            template: podTemplate([
              container({
                name: "ray-worker",
                image: "rayproject/ray",
                livenessProbe: undefined,
                resources: {},
              }),
            ]),
          },
        ],
      },
    });
    expect(rules([ray])).toEqual([
      "image: spec.workerGroupSpecs[0].template.spec.containers[0].image = rayproject/ray is not pinned to a tag or digest",
      "resources: spec.workerGroupSpecs[0].template.spec.containers[0]: no requests.cpu, requests.memory, limits.cpu, limits.memory",
      "probes: spec.workerGroupSpecs[0].template.spec.containers[0]: no livenessProbe",
    ]);
  });

  test("Argo workflow steps need resources and pinned images, not probes", () => {
    const template = (step: Record<string, unknown>) =>
      record("kubernetes:argoproj.io/v1alpha1:WorkflowTemplate", {
        apiVersion: "argoproj.io/v1alpha1",
        kind: "WorkflowTemplate",
        metadata: { name: "train", namespace: "argo" },
        spec: { entrypoint: "main", templates: [{ name: "main", container: step }] },
      });
    const step = { image: "ghcr.io/sse-pt-platform/trainer:0.1.0", command: ["ssept"], resources: RESOURCES };
    expect(rules([template(step)])).toEqual([]);
    expect(
      rules([template({ ...step, image: "ghcr.io/sse-pt-platform/trainer", resources: undefined })]),
    ).toEqual([
      "image: spec.templates[0].container.image = ghcr.io/sse-pt-platform/trainer is not pinned to a tag or digest",
      "resources: spec.templates[0].container: no requests.cpu, requests.memory, limits.cpu, limits.memory",
    ]);
  });

  test("probes: services need both; jobs and plain init containers need none; native sidecars do", () => {
    expect(rules([deployment(container({ readinessProbe: undefined }))])).toEqual([
      "probes: spec.template.spec.containers[0]: no readinessProbe",
    ]);
    expect(rules([job(container({ livenessProbe: undefined, readinessProbe: undefined }))])).toEqual([]);
    expect(rules([job(container({ resources: { requests: RESOURCES.requests } }))])).toEqual([
      "resources: spec.template.spec.containers[0]: no limits.cpu, limits.memory",
    ]);
    const init = { name: "migrate", image: "ghcr.io/sse-pt-platform/mlflow:2.19.0-1", resources: RESOURCES };
    expect(rules([deployment(container(), [init])])).toEqual([]);
    expect(rules([deployment(container(), [{ ...init, restartPolicy: "Always" }])])).toEqual([
      "probes: spec.template.spec.initContainers[0]: no livenessProbe, readinessProbe",
    ]);
    expect(containersOf(toManifest(job(container()))!)).toEqual([
      expect.objectContaining({ role: "main", runToCompletion: true }),
    ]);
  });

  test("privileged: only the NVIDIA device plugin and DCGM exporter", () => {
    const privileged = { securityContext: { privileged: true } };
    expect(rules([deployment(container(privileged))])).toEqual([
      "privileged: spec.template.spec.containers[0] (ghcr.io/sse-pt-platform/gateway:0.1.0) runs privileged",
    ]);
    expect(
      rules([deployment(container({ ...privileged, image: "nvcr.io/nvidia/k8s-device-plugin:v0.17.0" }))]),
    ).toEqual([]);
    expect(
      rules([deployment(container({ securityContext: { capabilities: { add: ["SYS_ADMIN"] } } }))]),
    ).toEqual([
      "privileged: spec.template.spec.containers[0] (ghcr.io/sse-pt-platform/gateway:0.1.0) runs with SYS_ADMIN",
    ]);
  });

  test("secret-env: credentials come from Secrets, not literal env values", () => {
    const env = [
      { name: "AWS_SECRET_ACCESS_KEY", value: "x" },
      { name: "MLFLOW_TRACKING_URI", value: "http://mlflow:5000" },
      { name: "POSTGRES_PASSWORD", valueFrom: { secretKeyRef: { name: "pg", key: "password" } } },
    ];
    expect(rules([deployment(container({ env }))])).toEqual([
      "secret-env: spec.template.spec.containers[0]: env AWS_SECRET_ACCESS_KEY is a literal value; take it from a Secret (valueFrom.secretKeyRef)",
    ]);
  });

  test("secret-data, secret-inputs and secret-leak", () => {
    const secret = (secretPaths: string[]) =>
      record(
        "kubernetes:core/v1:Secret",
        {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "s", namespace: "mlflow" },
          data: { a: "eA==" },
        },
        secretPaths,
      );
    expect(rules([secret(["data"])])).toEqual([]);
    expect(rules([secret([])])).toEqual(["secret-data: data.a did not come from a Pulumi secret"]);

    const configMap = (data: Record<string, string>, secretPaths: string[] = []) =>
      record(
        "kubernetes:core/v1:ConfigMap",
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", namespace: "mlflow" }, data },
        secretPaths,
      );
    expect(rules([configMap({ key: "value" }, ["data.key"])])).toEqual([
      "secret-inputs: data.key hold a secret; keep it in a Secret and refer to it",
    ]);
    const leaked = configMap({ "settings.ini": "password = mockpw-0123456789" });
    expect(rules([leaked], { secretValues: ["mockpw-0123456789"] })).toEqual([
      "secret-leak: data.settings.ini holds a secret value in clear",
    ]);
    expect(rules([leaked], { secretValues: ["some-other-secret"] })).toEqual([]);
  });

  test("helm: pinned chart and version, a namespace, secret values as secrets", () => {
    const release = (inputs: Record<string, unknown>, secretPaths: string[] = []) =>
      record(
        "kubernetes:helm.sh/v3:Release",
        {
          name: "grafana",
          chart: "kube-prometheus-stack",
          version: "77.0.0",
          repositoryOpts: { repo: "https://prometheus-community.github.io/helm-charts" },
          namespace: "monitoring",
          values: {},
          ...inputs,
        },
        secretPaths,
      );
    expect(rules([release({})])).toEqual([]);
    expect(rules([release({ version: "^77.0.0", repositoryOpts: undefined, namespace: undefined })])).toEqual(
      [
        "helm: version ^77.0.0 is not pinned (x.y.z)",
        "helm: no repositoryOpts.repo: the chart's source is not pinned",
        "namespace: the release names no namespace",
      ],
    );
    const values = { grafana: { adminPassword: "hunter22", admin: { existingSecret: "grafana-admin" } } };
    expect(rules([release({ values })])).toEqual([
      "helm: values.grafana.adminPassword looks like a secret but is a plain value",
    ]);
    expect(rules([release({ values }, ["values.grafana.adminPassword"])])).toEqual([]);
  });

  test("namespace and default-deny", () => {
    const namespace = record("kubernetes:core/v1:Namespace", {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "serving" },
    });
    const policy = (spec: Record<string, unknown>) =>
      record("kubernetes:networking.k8s.io/v1:NetworkPolicy", {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: "default-deny", namespace: "serving" },
        spec,
      });
    const deny = policy({ podSelector: {}, policyTypes: ["Ingress", "Egress"] });
    expect(rules([namespace, deny, deployment(container())], { wholeEstate: true })).toEqual([]);
    expect(rules([namespace, deployment(container())], { wholeEstate: true })).toEqual([
      "default-deny: no default-deny NetworkPolicy (all pods, Ingress+Egress, no rules)",
    ]);
    const allowsAll = policy({ podSelector: {}, policyTypes: ["Ingress", "Egress"], ingress: [{}] });
    expect(rules([namespace, allowsAll], { wholeEstate: true })).toEqual([
      "default-deny: no default-deny NetworkPolicy (all pods, Ingress+Egress, no rules)",
    ]);
    expect(rules([deployment(container())], { wholeEstate: true })).toEqual([
      "namespace: namespace serving is not declared by the estate",
    ]);
    const homeless = record("kubernetes:core/v1:ConfigMap", {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "c" },
      data: {},
    });
    expect(rules([homeless])).toEqual(["namespace: no metadata.namespace: it would land in default"]);
  });
});

// --------------------------------------------------------------------------- the estate

const VARIANTS: Record<string, { stack: string; overrides?: Record<string, string> }> = {
  staging: { stack: "staging" },
  production: { stack: "production" },
  existing: {
    stack: "staging",
    overrides: {
      clusterMode: "existing",
      existingS3Endpoint: "https://s3.example.org",
      domain: "ml.lab.example.org",
    },
  },
};

/**
 * Objects each build declares with every built feature on: a floor that catches objects silently
 * disappearing. Raise it when a component lands.
 */
const MINIMUM_OBJECTS: Record<string, { objects: number; releases: number }> = {
  // +36 each with serving and the simulator (components/app).
  staging: { objects: 135, releases: 6 },
  production: { objects: 135, releases: 6 },
  existing: { objects: 127, releases: 4 },
};

describe.each(Object.keys(VARIANTS))("the %s estate's Kubernetes objects", (variant) => {
  let build: BuildResult;
  beforeAll(async () => {
    build = await buildStack(VARIANTS[variant].stack, { overrides: VARIANTS[variant].overrides });
  });

  test("pass every cross-cutting check", () => {
    const violations = checkKubernetes(build.resources, {
      secretValues: secretSources(build.resources),
      wholeEstate: true,
    });
    expect(violations).toEqual([]);
  });

  test("every Kubernetes resource is either an object the checks see or a Helm release", () => {
    const unseen = build.resources.filter(
      (r) =>
        r.custom &&
        r.type.startsWith("kubernetes:") &&
        !toManifest(r) &&
        r.type !== "kubernetes:helm.sh/v3:Release",
    );
    expect(unseen.map((r) => `${r.type} ${r.name}`)).toEqual([]);
  });

  test("no fewer objects than when these checks were written", () => {
    expect(kubernetesObjects(build.resources).length).toBeGreaterThanOrEqual(
      MINIMUM_OBJECTS[variant].objects,
    );
    expect(helmReleases(build.resources).length).toBeGreaterThanOrEqual(MINIMUM_OBJECTS[variant].releases);
  });
});
