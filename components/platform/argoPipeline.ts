import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { isPinnedImage } from "../contracts";
import { trainingRayJob, TrainingRun } from "./rayJob";
import { RayJob } from "./rayTypes";

export const TRAINING_PIPELINE_FILE = path.resolve(
  __dirname,
  "..",
  "..",
  "k8s-manifests",
  "argo",
  "training-pipeline.yaml",
);
export const WORKFLOW_TEMPLATE_NAME = "training-pipeline";

/** The pipeline's parameters (`argo submit -p name=value`), one per training-run field but the name. */
export const PIPELINE_PARAMETERS = [
  "dataset",
  "dataVersion",
  "preset",
  "epochs",
  "lr",
  "maxlen",
  "itemDim",
  "userDim",
  "blocks",
  "dropout",
  "sseUser",
  "sseItem",
  "windowSampleProb",
  "numWorkers",
  "gpusPerWorker",
  "gitCommit",
] as const satisfies readonly Exclude<keyof TrainingRun, "name">[];

/** Argo variables a template may use besides parameters and task outputs. */
const ARGO_GLOBALS = new Set([
  "workflow.name",
  "workflow.namespace",
  "workflow.uid",
  "workflow.serviceAccountName",
]);

export interface PipelineInput {
  pipelineNamespace: string;
  serviceAccount: string;
  image: string;
  mlflowTrackingUri: string;
  rayNamespace: string;
  rayClusterName: string;
  /** With GPU nodes a run trains on one GPU per worker unless told otherwise; without, on CPUs. */
  gpu: boolean;
}

interface Parameter {
  name: string;
  value?: string;
  enum?: string[];
}
interface DagTask {
  name: string;
  template: string;
  depends?: string;
}
export interface WorkflowTemplateStep {
  name: string;
  inputs?: { parameters?: Parameter[] };
  dag?: { tasks: DagTask[] };
  container?: {
    image?: string;
    resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
    [field: string]: unknown;
  };
  resource?: { action?: string; manifest?: string; successCondition?: string; failureCondition?: string };
  activeDeadlineSeconds?: number;
  [field: string]: unknown;
}
export interface WorkflowTemplateDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  spec: {
    entrypoint: string;
    serviceAccountName?: string;
    arguments?: { parameters?: Parameter[] };
    templates: WorkflowTemplateStep[];
    [field: string]: unknown;
  };
}

const PLACEHOLDER = /\$\{([A-Z0-9_]+)\}/g;
const EXPRESSION = /\{\{\s*([^{}]+?)\s*\}\}/g;

/** Replaces every `${NAME}` in every string of a parsed document; an unknown name throws. */
export function fillPlaceholders(node: unknown, values: Readonly<Record<string, string>>, at = ""): unknown {
  if (typeof node === "string") {
    return node.replace(PLACEHOLDER, (_, name: string) => {
      if (!(name in values)) throw new Error(`${at || "(root)"}: no value for placeholder \${${name}}`);
      return values[name];
    });
  }
  if (Array.isArray(node)) return node.map((v, i) => fillPlaceholders(v, values, `${at}[${i}]`));
  if (node && typeof node === "object") {
    return Object.fromEntries(
      Object.entries(node).map(([k, v]) => [k, fillPlaceholders(v, values, at ? `${at}.${k}` : k)]),
    );
  }
  return node;
}

/** The RayJob the train step creates: every run field is the workflow parameter of that name. */
export function pipelineRayJob(input: PipelineInput): RayJob {
  const run = Object.fromEntries(PIPELINE_PARAMETERS.map((p) => [p, `{{workflow.parameters.${p}}}`])) as Omit<
    TrainingRun,
    "name"
  >;
  return trainingRayJob({
    namespace: input.rayNamespace,
    clusterName: input.rayClusterName,
    image: input.image,
    run: { ...run, name: "{{workflow.name}}" },
  });
}

/**
 * The WorkflowTemplate of k8s-manifests/argo/training-pipeline.yaml with this estate's image,
 * namespaces, MLflow URL and the typed RayJob filled in. Throws, naming the file, when the
 * result fails `workflowTemplateProblems`.
 */
export function trainingPipeline(input: PipelineInput, source?: string): WorkflowTemplateDoc {
  const text = source ?? fs.readFileSync(TRAINING_PIPELINE_FILE, "utf8");
  const doc = fillPlaceholders(yaml.load(text), {
    PIPELINE_NAMESPACE: input.pipelineNamespace,
    SERVICE_ACCOUNT: input.serviceAccount,
    TRAINER_IMAGE: input.image,
    MLFLOW_TRACKING_URI: input.mlflowTrackingUri,
    DEFAULT_GPUS_PER_WORKER: input.gpu ? "1" : "0",
    TRAIN_RAYJOB: yaml.dump(pipelineRayJob(input), { lineWidth: -1, noRefs: true }),
  }) as WorkflowTemplateDoc;
  const problems = workflowTemplateProblems(doc);
  if (problems.length > 0) {
    throw new Error(
      `${path.relative(process.cwd(), TRAINING_PIPELINE_FILE)}:\n  - ${problems.join("\n  - ")}`,
    );
  }
  return doc;
}

/** Task names a DAG task's `depends` expression names (`a && (b.Succeeded || c.Failed)` -> a, b, c). */
export function dependsOn(task: DagTask): string[] {
  if (!task.depends) return [];
  return [...task.depends.matchAll(/([A-Za-z0-9][A-Za-z0-9-]*)(\.[A-Za-z]+)?/g)].map((m) => m[1]);
}

/** Tasks of a DAG in an order that respects `depends`; throws on a cycle. */
export function dagOrder(tasks: readonly DagTask[]): string[] {
  const byName = new Map(tasks.map((t) => [t.name, t]));
  const order: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (name: string, trail: string[]) => {
    if (state.get(name) === "done") return;
    if (state.get(name) === "visiting") throw new Error(`cycle: ${[...trail, name].join(" -> ")}`);
    state.set(name, "visiting");
    for (const dep of dependsOn(byName.get(name)!)) if (byName.has(dep)) visit(dep, [...trail, name]);
    state.set(name, "done");
    order.push(name);
  };
  for (const t of tasks) visit(t.name, []);
  return order;
}

function strings(node: unknown, at: string, out: { at: string; text: string }[] = []) {
  if (typeof node === "string") out.push({ at, text: node });
  else if (Array.isArray(node)) node.forEach((v, i) => strings(v, `${at}[${i}]`, out));
  else if (node && typeof node === "object") {
    for (const [k, v] of Object.entries(node)) strings(v, at ? `${at}.${k}` : k, out);
  }
  return out;
}

const RESOURCE_KEYS = ["cpu", "memory"];

/**
 * Structural problems of a rendered WorkflowTemplate, empty when it is sound: every task's template
 * and dependency exists and the DAG has no cycle; every `{{...}}` names a declared workflow parameter,
 * an input of its template, a task of its DAG or an Argo global; every parameter is used; every step
 * container has a pinned image and cpu/memory requests and limits; every resource step carries a
 * manifest and success/failure conditions; no `${...}` placeholder is left.
 */
export function workflowTemplateProblems(doc: WorkflowTemplateDoc): string[] {
  const problems: string[] = [];
  if (doc?.apiVersion !== "argoproj.io/v1alpha1" || doc?.kind !== "WorkflowTemplate") {
    return [`expected an argoproj.io/v1alpha1 WorkflowTemplate, got ${doc?.apiVersion} ${doc?.kind}`];
  }
  const templates = doc.spec?.templates ?? [];
  const names = templates.map((t) => t.name);
  const declared = new Set((doc.spec.arguments?.parameters ?? []).map((p) => p.name));
  const used = new Set<string>();
  for (const dup of names.filter((n, i) => names.indexOf(n) !== i))
    problems.push(`template ${dup} is defined twice`);
  if (!names.includes(doc.spec.entrypoint))
    problems.push(`entrypoint ${doc.spec.entrypoint} names no template`);

  for (const p of doc.spec.arguments?.parameters ?? []) {
    if (p.enum && p.value !== undefined && !p.enum.includes(p.value)) {
      problems.push(`parameter ${p.name}: default ${p.value} is not one of ${p.enum.join(", ")}`);
    }
  }

  const referenced = new Set<string>([doc.spec.entrypoint]);
  for (const t of templates) {
    const where = `template ${t.name}`;
    const tasks = t.dag?.tasks ?? [];
    const taskNames = new Set(tasks.map((task) => task.name));
    for (const task of tasks) {
      referenced.add(task.template);
      if (!names.includes(task.template))
        problems.push(`${where}: task ${task.name} uses undefined template ${task.template}`);
      for (const dep of dependsOn(task)) {
        if (!taskNames.has(dep)) problems.push(`${where}: task ${task.name} depends on unknown task ${dep}`);
      }
    }
    try {
      dagOrder(tasks);
    } catch (e) {
      problems.push(`${where}: ${(e as Error).message}`);
    }

    const inputs = new Set((t.inputs?.parameters ?? []).map((p) => p.name));
    for (const { at, text } of strings(t, "")) {
      for (const [, expression] of text.matchAll(EXPRESSION)) {
        const parts = expression.split(".");
        if (parts[0] === "workflow" && parts[1] === "parameters") {
          used.add(parts[2]);
          if (!declared.has(parts[2]))
            problems.push(`${where}.${at}: {{${expression}}} is not a declared parameter`);
        } else if (parts[0] === "inputs" && parts[1] === "parameters") {
          if (!inputs.has(parts[2]))
            problems.push(`${where}.${at}: {{${expression}}} is not an input of ${t.name}`);
        } else if (parts[0] === "tasks") {
          if (!taskNames.has(parts[1]))
            problems.push(`${where}.${at}: {{${expression}}} names no task of ${t.name}`);
        } else if (!ARGO_GLOBALS.has(expression)) {
          problems.push(`${where}.${at}: unknown expression {{${expression}}}`);
        }
      }
    }

    if (t.container) {
      const image = t.container.image;
      if (typeof image !== "string" || /[{}$]/.test(image) || !isPinnedImage(image)) {
        problems.push(`${where}: image ${String(image)} is not pinned`);
      }
      for (const kind of ["requests", "limits"] as const) {
        const missing = RESOURCE_KEYS.filter((k) => t.container?.resources?.[kind]?.[k] === undefined);
        if (missing.length > 0) problems.push(`${where}: no ${kind} for ${missing.join(", ")}`);
      }
    }
    if (t.resource) {
      const r = t.resource;
      if (!r.action) problems.push(`${where}: resource step has no action`);
      if (!r.successCondition || !r.failureCondition)
        problems.push(`${where}: resource step needs successCondition and failureCondition`);
      let manifest: { apiVersion?: string; kind?: string; metadata?: { namespace?: string } } | undefined;
      try {
        manifest = yaml.load(r.manifest ?? "") as typeof manifest;
      } catch (e) {
        problems.push(`${where}: manifest is not YAML: ${(e as Error).message}`);
      }
      if (
        manifest !== undefined &&
        (!manifest?.apiVersion || !manifest?.kind || !manifest?.metadata?.namespace)
      ) {
        problems.push(`${where}: manifest needs apiVersion, kind and metadata.namespace`);
      }
    }
  }
  for (const name of names) if (!referenced.has(name)) problems.push(`template ${name} is never used`);
  for (const name of declared)
    if (!used.has(name)) problems.push(`parameter ${name} is declared but never used`);
  for (const { at, text } of strings(doc, "")) {
    for (const [placeholder] of text.matchAll(PLACEHOLDER))
      problems.push(`${at}: placeholder ${placeholder} left unfilled`);
  }
  return problems;
}
