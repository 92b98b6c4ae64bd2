import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { isPinnedImage } from "../contracts";
import { fillPlaceholders, PIPELINE_PARAMETERS, WORKFLOW_TEMPLATE_NAME } from "./argoPipeline";

export const INGEST_CRON_FILE = path.resolve(
  __dirname,
  "..",
  "..",
  "k8s-manifests",
  "argo",
  "ingest-cron.yaml",
);
export const INGEST_CRON_NAME = "ingest-and-train";

export interface IngestCronInput {
  pipelineNamespace: string;
  serviceAccount: string;
  image: string;
  mlflowTrackingUri: string;
}

interface CronTemplate {
  name: string;
  script?: { image?: string; source?: string };
  resource?: { manifest?: string };
}
export interface CronWorkflowDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  spec: {
    schedule: string;
    workflowSpec: { templates: CronTemplate[]; [k: string]: unknown };
    [k: string]: unknown;
  };
}

/**
 * The CronWorkflow of k8s-manifests/argo/ingest-cron.yaml for this estate: daily ingest, and the
 * training pipeline only when the ingested file changed. Throws, naming the file, when the result
 * would not start the pipeline the estate declares.
 */
export function ingestCronWorkflow(input: IngestCronInput, source?: string): CronWorkflowDoc {
  const text = source ?? fs.readFileSync(INGEST_CRON_FILE, "utf8");
  const doc = fillPlaceholders(yaml.load(text), {
    PIPELINE_NAMESPACE: input.pipelineNamespace,
    SERVICE_ACCOUNT: input.serviceAccount,
    TRAINER_IMAGE: input.image,
    MLFLOW_TRACKING_URI: input.mlflowTrackingUri,
  }) as CronWorkflowDoc;
  const problems: string[] = [];
  if (doc.kind !== "CronWorkflow") problems.push(`expected a CronWorkflow, got ${doc.kind}`);
  for (const t of doc.spec.workflowSpec.templates) {
    if (t.script?.image !== undefined && !isPinnedImage(t.script.image))
      problems.push(`${t.name}: image ${t.script.image} is not pinned`);
    if (t.resource?.manifest) {
      const wf = yaml.load(t.resource.manifest) as {
        spec?: { workflowTemplateRef?: { name?: string }; arguments?: { parameters?: { name: string }[] } };
      };
      if (wf.spec?.workflowTemplateRef?.name !== WORKFLOW_TEMPLATE_NAME)
        problems.push(
          `${t.name}: starts ${wf.spec?.workflowTemplateRef?.name}, not ${WORKFLOW_TEMPLATE_NAME}`,
        );
      for (const p of wf.spec?.arguments?.parameters ?? [])
        if (!(PIPELINE_PARAMETERS as readonly string[]).includes(p.name))
          problems.push(`${t.name}: ${WORKFLOW_TEMPLATE_NAME} has no parameter ${p.name}`);
    }
  }
  if (problems.length > 0)
    throw new Error(`${path.relative(process.cwd(), INGEST_CRON_FILE)}:\n  - ${problems.join("\n  - ")}`);
  return doc;
}
