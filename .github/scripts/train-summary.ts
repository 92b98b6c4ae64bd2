/**
 * Writes a training run's MLflow metrics (and the model version it registered) as Markdown to
 * $GITHUB_STEP_SUMMARY and stdout. The Argo workflow's name is the MLflow run name.
 *
 *   MLFLOW_TRACKING_URI=... npx ts-node --transpile-only .github/scripts/train-summary.ts <dataset> <workflow-name>
 */
import * as fs from "fs";
import { registeredModelName } from "../../tools/promotion/candidate";
import { MlflowError, MlflowRegistry } from "../../tools/promotion/mlflow";

/** The metrics people compare first; the rest follow alphabetically. */
const FIRST = [
  "test_ndcg10",
  "test_hr10",
  "valid_ndcg10",
  "valid_hr10",
  "popularity_test_ndcg10",
  "popularity_test_hr10",
];

export async function trainSummary(
  registry: MlflowRegistry,
  dataset: string,
  runName: string,
  model = registeredModelName(dataset),
): Promise<string> {
  const experimentId = await registry.experimentId(model);
  if (!experimentId) throw new MlflowError(`MLflow has no experiment ${model}`);
  const run = await registry.runByName(experimentId, runName);
  if (!run) throw new MlflowError(`experiment ${model} has no run named ${runName}`);
  const versions = (await registry.versions(model)).filter((v) => v.runId === run.runId);
  const keys = Object.keys(run.metrics).sort((a, b) => {
    const [ia, ib] = [FIRST.indexOf(a), FIRST.indexOf(b)].map((i) => (i < 0 ? FIRST.length : i));
    return ia - ib || a.localeCompare(b);
  });
  return [
    `## Training run ${runName} (${model})`,
    "",
    `MLflow run \`${run.runId}\`, status ${run.status}; registered as ${
      versions.length ? versions.map((v) => `v${v.version}`).join(", ") : "no model version"
    }.`,
    "",
    "| metric | value |",
    "|---|---|",
    ...keys.map(
      (k) => `| ${k} | ${Number.isInteger(run.metrics[k]) ? run.metrics[k] : run.metrics[k].toFixed(4)} |`,
    ),
    "",
  ].join("\n");
}

if (require.main === module) {
  const [dataset, runName] = process.argv.slice(2);
  if (!dataset || !runName) {
    console.error("usage: train-summary.ts <dataset> <workflow-name>");
    process.exit(2);
  }
  trainSummary(MlflowRegistry.fromEnv(), dataset, runName).then(
    (md) => {
      process.stdout.write(md);
      if (process.env.GITHUB_STEP_SUMMARY) fs.appendFileSync(process.env.GITHUB_STEP_SUMMARY, md + "\n");
    },
    (err: Error) => {
      console.error(`train-summary: ${err.message}`);
      process.exit(1);
    },
  );
}
