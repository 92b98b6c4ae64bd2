import * as fs from "fs";
import * as yaml from "js-yaml";
import { Argo } from "../../components/platform/argo";
import {
  dagOrder,
  dependsOn,
  fillPlaceholders,
  PIPELINE_PARAMETERS,
  PipelineInput,
  TRAINING_PIPELINE_FILE,
  trainingPipeline,
  WorkflowTemplateDoc,
  workflowTemplateProblems,
} from "../../components/platform/argoPipeline";
import {
  argoPolicies,
  pipelinePolicies,
  WORKFLOW_POD_LABEL,
  WORKFLOW_RULES,
} from "../../components/platform/argoPolicies";
import {
  ARGO_CONTROLLER_RULES,
  ARGO_SERVER_RULES,
  ARGO_SERVICE_ACCOUNTS,
} from "../../components/platform/argoRbac";
import {
  ARGO_CHART_DIR,
  argoChartValues,
  WORKFLOW_SERVICE_ACCOUNT,
} from "../../components/platform/argoValues";
import { TRAINER_UID } from "../../components/platform/containerSecurity";
import { chartValues, mergeValues } from "../../components/platform/helmRelease";
import { RAY_JOB_CONDITIONS, TRAIN_DEADLINE_SECONDS } from "../../components/platform/rayJob";
import { S3_SECRET_NAME } from "../../components/platform/s3Credentials";
import { argoArgs, clusterEndpoints } from "../../stacks/estate";
import { runUnderMocks } from "../harness";
import {
  Build,
  byType,
  estateViolations,
  expectKubernetesChildrenOf,
  hasModel,
  NETPOL,
  one,
  RELEASE,
  SECRET,
  stackConfig,
  testCluster,
  validatePodSpec,
  validateRecord,
} from "./workloadKit";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const WORKFLOW_TEMPLATE = "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate";
const ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role";
const BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding";

const staging = stackConfig("staging");
const MLFLOW_URI = "http://mlflow.mlflow.svc.cluster.local:5000";
const INPUT: PipelineInput = {
  pipelineNamespace: "pipeline",
  serviceAccount: WORKFLOW_SERVICE_ACCOUNT,
  image: staging.images.trainer,
  mlflowTrackingUri: MLFLOW_URI,
  rayNamespace: "ray",
  rayClusterName: "ssept",
  gpu: true,
};
const STAGES = ["ingest", "clean", "features", "train", "evaluate", "register", "export"];

const template = (doc: WorkflowTemplateDoc, name: string): Json =>
  doc.spec.templates.find((t) => t.name === name);
const copy = (doc: WorkflowTemplateDoc): WorkflowTemplateDoc => JSON.parse(JSON.stringify(doc));

describe("training pipeline WorkflowTemplate (pure)", () => {
  const doc = trainingPipeline(INPUT);

  test("renders with no structural problem and no placeholder left, with and without GPUs", () => {
    expect(workflowTemplateProblems(doc)).toEqual([]);
    expect(JSON.stringify(doc)).not.toMatch(/\$\{/);
    const gpus = (d: WorkflowTemplateDoc) =>
      d.spec.arguments!.parameters!.find((p) => p.name === "gpusPerWorker")!.value;
    expect(gpus(doc)).toBe("1");
    expect(gpus(trainingPipeline({ ...INPUT, gpu: false }))).toBe("0");
  });

  test("lives in the pipeline namespace and runs as the least-privilege workflow account", () => {
    expect(doc.metadata).toMatchObject({ name: "training-pipeline", namespace: "pipeline" });
    expect(doc.spec.serviceAccountName).toBe(WORKFLOW_SERVICE_ACCOUNT);
    expect(doc.spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: TRAINER_UID,
      fsGroup: TRAINER_UID,
    });
  });

  test("the DAG runs ingest, clean, features, train, evaluate, register, export, each after the one before", () => {
    const dag = template(doc, doc.spec.entrypoint).dag;
    expect(dagOrder(dag.tasks)).toEqual(STAGES);
    const deps = Object.fromEntries(dag.tasks.map((t: Json) => [t.name, dependsOn(t)]));
    expect(deps).toEqual({
      ingest: [],
      clean: ["ingest"],
      features: ["clean"],
      train: ["features"],
      evaluate: ["train"],
      register: ["evaluate"],
      export: ["register"],
    });
    for (const t of dag.tasks) expect(template(doc, t.template)).toBeDefined();
  });

  test("declares the dataset and hyperparameters as parameters, with a dataset the trainer knows", () => {
    const params = doc.spec.arguments!.parameters!;
    expect(params.map((p) => p.name)).toEqual([...PIPELINE_PARAMETERS]);
    expect(params.find((p) => p.name === "dataset")).toMatchObject({
      value: "ml-1m",
      enum: ["ml-1m", "wikipedia"],
    });
  });

  test("every step container runs the pinned trainer image as non-root, with S3, MLflow, requests and limits", () => {
    const steps = doc.spec.templates.filter((t) => t.container);
    expect(steps.map((t) => t.name)).toEqual([
      "ingest",
      "clean",
      "features",
      "evaluate",
      "register",
      "export",
    ]);
    for (const t of steps) {
      const c = t.container as Json;
      expect({ step: t.name, image: c.image, command: c.command, stage: c.args[0] }).toEqual({
        step: t.name,
        image: staging.images.trainer,
        command: ["ssept"],
        stage: t.name,
      });
      expect(c.envFrom).toEqual([{ secretRef: { name: S3_SECRET_NAME } }]);
      expect(c.env).toEqual([
        { name: "MLFLOW_TRACKING_URI", value: MLFLOW_URI },
        { name: "GIT_COMMIT", value: "{{workflow.parameters.gitCommit}}" },
      ]);
      expect(Object.keys(c.resources.requests).sort()).toEqual(["cpu", "memory"]);
      expect(Object.keys(c.resources.limits).sort()).toEqual(["cpu", "memory"]);
      expect(c.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        runAsNonRoot: true,
        capabilities: { drop: ["ALL"] },
      });
      expect((t.metadata as Json).labels["app.kubernetes.io/component"]).toBe(t.name);
      validatePodSpec({ containers: [{ name: "main", ...c }] }, `template ${t.name}`);
    }
  });

  test("the train step creates the typed RayJob on the RayCluster and waits on its jobStatus", () => {
    const train = template(doc, "train");
    expect(train.resource).toMatchObject({
      action: "create",
      successCondition: RAY_JOB_CONDITIONS.success,
      failureCondition: RAY_JOB_CONDITIONS.failure,
    });
    const job = yaml.load(train.resource.manifest) as Json;
    expect(job).toMatchObject({
      apiVersion: "ray.io/v1",
      kind: "RayJob",
      metadata: { name: "{{workflow.name}}", namespace: "ray" },
      spec: { clusterSelector: { "ray.io/cluster": "ssept" } },
    });
    for (const p of PIPELINE_PARAMETERS.filter((name) => name !== "gitCommit")) {
      expect(job.spec.entrypoint).toContain(`{{workflow.parameters.${p}}}`);
    }
    expect(yaml.load(job.spec.runtimeEnvYAML)).toEqual({
      env_vars: { GIT_COMMIT: "{{workflow.parameters.gitCommit}}" },
    });
    expect(job.spec.submitterPodTemplate.spec.containers[0].image).toBe(staging.images.trainer);
    // The RayJob fails on its own deadline first, so the step sees a FAILED status, not a timeout.
    expect(train.activeDeadlineSeconds).toBeGreaterThan(TRAIN_DEADLINE_SECONDS);
  });

  test("evaluate, register and export address the model trained by this workflow", () => {
    const args = (name: string) => template(doc, name).container.args.join(" ");
    expect(args("evaluate")).toContain("--model {{workflow.parameters.dataset}}/{{workflow.name}}");
    expect(args("export")).toContain("--model {{workflow.parameters.dataset}}/{{workflow.name}}");
    expect(args("register")).toContain("--run-name {{workflow.name}}");
  });
});

describe("WorkflowTemplate checks catch broken templates (pure)", () => {
  const good = trainingPipeline(INPUT);
  const problemsAfter = (change: (d: Json) => void) => {
    const d = copy(good);
    change(d);
    return workflowTemplateProblems(d);
  };

  test.each([
    [
      "a task naming no template",
      (d: Json) => (template(d, "train-and-publish").dag.tasks[2].template = "featurez"),
      /undefined template featurez/,
    ],
    [
      "a dependency on an unknown task",
      (d: Json) => (template(d, "train-and-publish").dag.tasks[3].depends = "featurez"),
      /unknown task featurez/,
    ],
    [
      "a cycle",
      (d: Json) => (template(d, "train-and-publish").dag.tasks[0].depends = "export"),
      /cycle: ingest -> export/,
    ],
    [
      "an undeclared parameter",
      (d: Json) => template(d, "clean").container.args.push("{{workflow.parameters.lr2}}"),
      /lr2.* not a declared parameter/,
    ],
    [
      "an unused parameter",
      (d: Json) => d.spec.arguments.parameters.push({ name: "unused", value: "1" }),
      /unused is declared but never used/,
    ],
    [
      "an unknown expression",
      (d: Json) => template(d, "clean").container.args.push("{{steps.x.outputs}}"),
      /unknown expression/,
    ],
    [
      "an image on latest",
      (d: Json) => (template(d, "clean").container.image = "ghcr.io/x/trainer:latest"),
      /not pinned/,
    ],
    [
      "a missing memory limit",
      (d: Json) => delete template(d, "features").container.resources.limits.memory,
      /no limits for memory/,
    ],
    [
      "a resource step without conditions",
      (d: Json) => delete template(d, "train").resource.failureCondition,
      /successCondition and failureCondition/,
    ],
    [
      "a leftover placeholder",
      (d: Json) => (template(d, "export").container.image = "${TRAINER_IMAGE}"),
      /placeholder \$\{TRAINER_IMAGE\} left unfilled/,
    ],
    [
      "a default outside the enum",
      (d: Json) => (d.spec.arguments.parameters[0].value = "movielens"),
      /default movielens is not one of/,
    ],
  ])("%s", (_what, change, expected) => {
    expect(problemsAfter(change).join("\n")).toMatch(expected);
  });

  test("an unknown placeholder in the file fails the render, naming where it is", () => {
    const source = fs
      .readFileSync(TRAINING_PIPELINE_FILE, "utf8")
      .replace("${TRAINER_IMAGE}", "${TRAINER_IMAGES}");
    expect(() => trainingPipeline(INPUT, source)).toThrow(
      /spec\.templates\[1\]\.container\.image: no value for placeholder \$\{TRAINER_IMAGES\}/,
    );
    expect(fillPlaceholders({ a: ["x-${B}-y"] }, { B: "b" })).toEqual({ a: ["x-b-y"] });
  });
});

describe("Argo chart values, RBAC and network policies (pure)", () => {
  const values = chartValues(ARGO_CHART_DIR, "staging", argoChartValues(true)) as Json;

  test("the server authenticates as itself behind the ingress; workflows run in pipeline", () => {
    expect(values.server.authModes).toEqual(["server"]);
    expect(values.server.secure).toBe(false);
    // workflowNamespaces is ignored with singleNamespace: the release's namespace is the one managed.
    expect(values.controller.workflowNamespaces).toBeUndefined();
    expect(values.controller.workflowDefaults.spec.serviceAccountName).toBe(WORKFLOW_SERVICE_ACCOUNT);
    expect(values.workflow).toEqual({ serviceAccount: { create: false }, rbac: { create: false } });
    expect(values.controller.serviceMonitor.enabled).toBe(true);
    expect((mergeValues(values, argoChartValues(false)) as Json).controller.serviceMonitor.enabled).toBe(
      false,
    );
  });

  test("images are pinned, CRDs come from the chart, every Argo container is sized", () => {
    expect(values.images.tag).toMatch(/^v\d+\.\d+\.\d+$/);
    expect(values.crds).toMatchObject({ install: true, full: false });
    for (const part of ["controller", "server", "executor"]) {
      expect(Object.keys(values[part].resources).sort()).toEqual(["limits", "requests"]);
    }
  });

  test("the workflow account may only create and watch RayJobs in ray, and report steps and read pods in pipeline", () => {
    expect(WORKFLOW_RULES.ray).toEqual([
      { apiGroups: ["ray.io"], resources: ["rayjobs"], verbs: ["create", "get", "list", "watch"] },
    ]);
    const all = [...WORKFLOW_RULES.pipeline, ...WORKFLOW_RULES.ray] as Json[];
    expect(all.flatMap((r) => [...r.verbs, ...r.resources, ...r.apiGroups])).not.toContain("*");
    const podRules = WORKFLOW_RULES.pipeline.filter((r: Json) => r.apiGroups.includes("")) as Json[];
    for (const r of podRules) expect(r.verbs).toEqual(["get", "list", "watch"]);
  });

  test("the server admits only the ingress controller; workflow steps reach MLflow, S3 and the API server only", () => {
    const server = argoPolicies(clusterEndpoints(staging).nodeCidr).find((p) => p.name === "argo-server")!
      .spec as Json;
    expect(server.ingress).toEqual([
      {
        from: [
          {
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
            podSelector: { matchLabels: { "app.kubernetes.io/name": "traefik" } },
          },
        ],
        ports: [{ protocol: "TCP", port: 2746 }],
      },
    ]);
    const steps = pipelinePolicies(clusterEndpoints(staging)).find((p) => p.name === "workflow-steps")!
      .spec as Json;
    expect(steps.ingress).toEqual([]);
    expect(steps.egress.map((r: Json) => r.ports.map((p: Json) => p.port))).toEqual([
      [5000],
      [7480],
      [443, 6443],
    ]);
    const downloads = pipelinePolicies(clusterEndpoints(staging)).find((p) => p.name === "ingest-downloads")!
      .spec as Json;
    expect(downloads.podSelector.matchLabels).toEqual({ "app.kubernetes.io/component": "ingest" });
    expect(downloads.egress[0].ports).toEqual([{ protocol: "TCP", port: 443 }]);
  });
});

describe("Argo component (under mocks)", () => {
  let build: Build;
  let out: Json;
  beforeAll(async () => {
    build = await runUnderMocks(() => {
      const argo = new Argo(
        "argo",
        argoArgs(staging, testCluster(staging), {
          mlflowTrackingUri: MLFLOW_URI,
          rayNamespace: "ray",
          gpu: true,
        }),
      );
      out = { ui: argo.ui, template: argo.workflowTemplateName, account: argo.serviceAccountName };
    });
  });

  test("declares the WorkflowTemplate in pipeline, after the chart (its CRD), the account and its grants", () => {
    const wt = one(build, WORKFLOW_TEMPLATE, "argo-training-pipeline");
    expect(wt.inputs.metadata).toMatchObject({ name: "training-pipeline", namespace: "pipeline" });
    expect(wt.inputs.spec).toEqual(trainingPipeline(INPUT).spec);
    const needs = [
      one(build, RELEASE, "argo-workflows"),
      one(build, "kubernetes:core/v1:ServiceAccount", "argo-workflow-sa"),
      one(build, BINDING, "argo-rayjobs-binding"),
      one(build, BINDING, "argo-pipeline-binding"),
      one(build, SECRET, "argo-s3-credentials"),
    ];
    expect(wt.dependencies).toEqual(expect.arrayContaining(needs.map((r) => r.urn)));
  });

  test("installs the pinned argo-workflows chart in pipeline, namespaced, after its Roles", () => {
    const release = one(build, RELEASE, "argo-workflows");
    expect(release.inputs).toMatchObject({
      chart: "argo-workflows",
      version: "1.0.18",
      repositoryOpts: { repo: "https://argoproj.github.io/argo-helm" },
      namespace: "pipeline",
    });
    const values = release.inputs.values as Json;
    expect(values.singleNamespace).toBe(true);
    expect(release.dependencies).toEqual(
      expect.arrayContaining([
        one(build, BINDING, "argo-controller-binding").urn,
        one(build, BINDING, "argo-server-binding").urn,
      ]),
    );
  });

  test("the chart creates no RBAC of its own and no cluster-wide role: every Role is declared here", () => {
    const values = one(build, RELEASE, "argo-workflows").inputs.values as Json;
    // The switches behind every (Cluster)Role and (Cluster)RoleBinding template of the chart.
    expect(values.controller.rbac.create).toBe(false);
    expect(values.server.rbac.create).toBe(false);
    expect(values.workflow.rbac.create).toBe(false);
    expect(values.createAggregateRoles).toBe(false);
    expect(values.controller.clusterWorkflowTemplates.enabled).toBe(false);
    expect(values.server.clusterWorkflowTemplates.enabled).toBe(false);
    expect(values.server.sso?.enabled ?? false).toBe(false);
    expect(values.controller.serviceAccount.name).toBe(ARGO_SERVICE_ACCOUNTS.controller);
    expect(values.server.serviceAccount.name).toBe(ARGO_SERVICE_ACCOUNTS.server);
    expect(build.resources.filter((r) => /:Cluster(Role|RoleBinding)$/.test(r.type))).toEqual([]);
  });

  test("each account is bound to its own Role: the workflow's in ray and pipeline, Argo's in pipeline only", () => {
    const roles = byType(build, ROLE).map((r) => r.inputs as Json);
    const byNamespace = roles
      .map((r) => [r.metadata.namespace, r.metadata.name, r.rules])
      .sort((a, b) => `${a[0]}/${a[1]}`.localeCompare(`${b[0]}/${b[1]}`));
    expect(byNamespace).toEqual([
      ["pipeline", "argo-workflow", WORKFLOW_RULES.pipeline],
      ["pipeline", ARGO_SERVICE_ACCOUNTS.server, ARGO_SERVER_RULES],
      ["pipeline", ARGO_SERVICE_ACCOUNTS.controller, ARGO_CONTROLLER_RULES],
      ["ray", "argo-workflow", WORKFLOW_RULES.ray],
    ]);
    for (const b of byType(build, BINDING).map((r) => r.inputs as Json)) {
      expect(b.subjects).toEqual([{ kind: "ServiceAccount", name: b.metadata.name, namespace: "pipeline" }]);
      expect(b.roleRef).toEqual({
        apiGroup: "rbac.authorization.k8s.io",
        kind: "Role",
        name: b.metadata.name,
      });
    }
    expect(
      byType(build, BINDING)
        .map((r) => (r.inputs as Json).metadata.name)
        .sort(),
    ).toEqual(
      [
        ARGO_SERVICE_ACCOUNTS.controller,
        ARGO_SERVICE_ACCOUNTS.server,
        WORKFLOW_SERVICE_ACCOUNT,
        WORKFLOW_SERVICE_ACCOUNT,
      ].sort(),
    );
  });

  test("a UI login (the server's Role) reads one Secret by name, and creates workflows in pipeline only", () => {
    const secrets = ARGO_SERVER_RULES.filter((r) => (r.resources as string[]).includes("secrets"));
    expect(secrets).toEqual([
      { apiGroups: [""], resources: ["secrets"], resourceNames: [S3_SECRET_NAME], verbs: ["get"] },
    ]);
    // The controller reads no Secret at all.
    expect(ARGO_CONTROLLER_RULES.filter((r) => (r.resources as string[]).includes("secrets"))).toEqual([]);
    for (const r of [...ARGO_SERVER_RULES, ...ARGO_CONTROLLER_RULES] as Json[]) {
      expect([...r.verbs, ...r.resources, ...r.apiGroups]).not.toContain("*");
    }
    const creatingWorkflows = byType(build, ROLE)
      .map((r) => r.inputs as Json)
      .filter((r) =>
        r.rules.some((x: Json) => x.resources.includes("workflows") && x.verbs.includes("create")),
      )
      .map((r) => r.metadata.namespace);
    expect([...new Set(creatingWorkflows)]).toEqual(["pipeline"]);
  });

  test("passes the estate-wide Kubernetes rules, the WorkflowTemplate's steps included", () => {
    expect(estateViolations(build)).toEqual([]);
  });

  test("every core object validates; every Kubernetes child uses the explicit provider", () => {
    const component = one(build, "ssept:platform:Argo", "argo");
    const checked = build.resources.filter((x) => hasModel(x.type));
    expect(checked.length).toBeGreaterThan(12);
    for (const r of checked) validateRecord(r);
    expectKubernetesChildrenOf(build, component);
  });

  test("the pipeline namespace starts closed; Argo's pods and the steps each carry their own policies", () => {
    const policies = byType(build, NETPOL).map((r) => r.inputs as Json);
    const names = (ns: string) =>
      policies
        .filter((p) => p.metadata.namespace === ns)
        .map((p) => p.metadata.name)
        .sort();
    expect(names("pipeline")).toEqual([
      "allow-dns",
      "argo-server",
      "argo-workflow-controller",
      "default-deny",
      "ingest-downloads",
      "workflow-steps",
    ]);
    expect(policies.map((p) => p.metadata.namespace)).not.toContain("argo");
    // The steps' egress is not the server's or the controller's: only pods of a workflow are selected.
    const steps = policies.find((p) => p.metadata.name === "workflow-steps");
    expect(steps.spec.podSelector).toEqual({
      matchExpressions: [{ key: WORKFLOW_POD_LABEL, operator: "Exists" }],
    });
    const s3 = one(build, SECRET, "argo-s3-credentials");
    expect((s3.inputs.metadata as Json).namespace).toBe("pipeline");
    expect(s3.secretPaths).toContain("stringData");
  });

  test("exposes the server for the ingress", () => {
    expect(out).toEqual({
      ui: { namespace: "pipeline", name: "argo-workflows-server", port: 2746 },
      template: "training-pipeline",
      account: WORKFLOW_SERVICE_ACCOUNT,
    });
  });
});
