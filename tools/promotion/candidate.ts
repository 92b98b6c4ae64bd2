import { MlflowRegistry, ModelVersion } from "./mlflow";

/** The offline metric the trainer logs on the test split (trainer-image/ssept/evaluation.py). */
export const OFFLINE_METRIC = "test_ndcg10";

export interface CandidateResult {
  candidate?: ModelVersion;
  newest?: ModelVersion;
  production?: ModelVersion;
  newestNdcg?: number;
  productionNdcg?: number;
  margin: number;
  reason: string;
}

export class PromotionError extends Error {}

/** `ssept-<dataset>`, as trainer-image/ssept/tracking.py names registered models. */
export const registeredModelName = (dataset: string): string => `ssept-${dataset}`;

/**
 * The newest registered version is the candidate when its offline NDCG@10 beats production's by
 * at least `margin`. With no production version yet, the newest version qualifies on its own.
 */
export async function selectCandidate(
  registry: MlflowRegistry,
  model: string,
  margin: number,
): Promise<CandidateResult> {
  const versions = await registry.versions(model);
  if (versions.length === 0) return { margin, reason: `${model} has no registered versions` };
  const newest = versions[0];
  const production = (await registry.byAlias(model, "production")) ?? undefined;
  const ndcgOf = async (v: ModelVersion): Promise<number> => {
    if (!v.runId)
      throw new PromotionError(`${model} v${v.version} has no MLflow run, so no ${OFFLINE_METRIC}`);
    const value = (await registry.runMetrics(v.runId))[OFFLINE_METRIC];
    if (value === undefined || !Number.isFinite(value))
      throw new PromotionError(`${model} v${v.version} (run ${v.runId}) has no ${OFFLINE_METRIC} metric`);
    return value;
  };
  const newestNdcg = await ndcgOf(newest);
  const base = { newest, production, newestNdcg, margin };
  if (!production)
    return {
      ...base,
      candidate: newest,
      reason: `no production version yet; v${newest.version} is the first`,
    };
  if (production.version === newest.version)
    return {
      ...base,
      productionNdcg: newestNdcg,
      reason: `the newest version v${newest.version} is production`,
    };
  const productionNdcg = await ndcgOf(production);
  const gain = newestNdcg - productionNdcg;
  // A little tolerance so that 0.645 - 0.640 counts as beating by 0.005.
  if (gain + 1e-12 >= margin)
    return {
      ...base,
      productionNdcg,
      candidate: newest,
      reason: `v${newest.version} NDCG@10 ${newestNdcg.toFixed(4)} beats production v${production.version} ${productionNdcg.toFixed(4)} by ${gain.toFixed(4)} (margin ${margin})`,
    };
  return {
    ...base,
    productionNdcg,
    reason: `v${newest.version} NDCG@10 ${newestNdcg.toFixed(4)} does not beat production v${production.version} ${productionNdcg.toFixed(4)} by ${margin} (gain ${gain.toFixed(4)})`,
  };
}

export function candidateSummary(model: string, r: CandidateResult): string {
  const line = (label: string, v?: ModelVersion, ndcg?: number) =>
    `| ${label} | ${v ? `v${v.version}` : "—"} | ${v?.runId || "—"} | ${ndcg === undefined ? "—" : ndcg.toFixed(4)} |`;
  return [
    `## Model candidate (${model}): ${r.candidate ? `**v${r.candidate.version}**` : "**none**"}`,
    "",
    r.reason,
    "",
    "| | version | run | test NDCG@10 |",
    "|---|---|---|---|",
    line("newest", r.newest, r.newestNdcg),
    line("production", r.production, r.productionNdcg),
    "",
  ].join("\n");
}
