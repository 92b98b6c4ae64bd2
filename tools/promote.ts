/**
 * Model promotion, run by CI (.github/workflows/deploy.yml, promote.yml) and by people:
 *
 *   npm run promote -- candidate --stack staging    --dataset ml-1m   # newest version vs production
 *   npm run promote -- canary    --stack production --dataset ml-1m   # staging's candidate -> canary
 *   npm run promote -- gate      --stack production --dataset ml-1m   # soak window: promote/hold/rollback
 *
 * Each step moves the MLflow alias and writes the served versions into Pulumi.<stack>.yaml
 * (stableModelVersion / canaryModelVersion), which CI commits so that `pulumi up` applies it.
 * MLflow: MLFLOW_TRACKING_URI (+ MLFLOW_TRACKING_USERNAME/PASSWORD); Prometheus: PROMETHEUS_URL.
 * The decision and its numbers go to stdout and, in CI, to $GITHUB_STEP_SUMMARY; `key=value`
 * lines go to $GITHUB_OUTPUT.
 */
import * as fs from "fs";
import * as path from "path";
import { ConfigError, loadConfig, PlatformConfig, PROJECT } from "../stacks/config";
import { KEYS } from "../stacks/configSchema";
import {
  candidateSummary,
  PromotionError,
  registeredModelName,
  selectCandidate,
} from "./promotion/candidate";
import { decide, gateSummary, readStats } from "./promotion/gate";
import { MlflowError, MlflowRegistry } from "./promotion/mlflow";
import { Prometheus, PrometheusError } from "./promotion/prometheus";
import { updateStackFile } from "./promotion/stackFile";
import { readStackFile } from "../tests/harness";

export const COMMANDS = ["candidate", "canary", "gate"] as const;
type Command = (typeof COMMANDS)[number];

export interface PromoteArgs {
  command: Command;
  stack: string;
  dataset: string;
  /** Registered model name; default ssept-<dataset>. */
  model: string;
  stackFile: string;
  mlflow?: string;
  prometheus?: string;
  /** Evaluate the gate at this moment instead of now. */
  at?: Date;
  dryRun: boolean;
}

export class UsageError extends Error {}

const USAGE =
  "usage: promote <candidate|canary|gate> --stack <name> [--dataset ml-1m|wikipedia] [--model <name>] [--stack-file <path>] " +
  "[--mlflow <url>] [--prometheus <url>] [--at <ISO time>] [--dry-run]";

export function parseArgs(argv: string[], repoRoot = path.resolve(__dirname, "..")): PromoteArgs {
  const [command, ...rest] = argv;
  if (!COMMANDS.includes(command as Command))
    throw new UsageError(`unknown command ${JSON.stringify(command ?? "")}`);
  const flags: Record<string, string> = {};
  let dryRun = false;
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    if (flag === "--dry-run") {
      dryRun = true;
      continue;
    }
    if (
      !["--stack", "--dataset", "--model", "--stack-file", "--mlflow", "--prometheus", "--at"].includes(flag)
    )
      throw new UsageError(`unknown option ${flag}`);
    const value = rest[++i];
    if (value === undefined || value.startsWith("--")) throw new UsageError(`${flag} needs a value`);
    flags[flag.slice(2)] = value;
  }
  if (!flags.stack) throw new UsageError("--stack is required");
  if (!/^[\w-]+$/.test(flags.stack))
    throw new UsageError(`--stack ${JSON.stringify(flags.stack)}: not a stack name`);
  const dataset = flags.dataset ?? "ml-1m";
  if (!["ml-1m", "wikipedia"].includes(dataset))
    throw new UsageError(`--dataset ${dataset}: ml-1m or wikipedia`);
  let at: Date | undefined;
  if (flags.at) {
    at = new Date(flags.at);
    if (Number.isNaN(at.getTime())) throw new UsageError(`--at ${flags.at}: not an ISO time`);
  }
  return {
    command: command as Command,
    stack: flags.stack,
    dataset,
    model: flags.model ?? registeredModelName(dataset),
    stackFile: flags["stack-file"] ?? path.join(repoRoot, `Pulumi.${flags.stack}.yaml`),
    mlflow: flags.mlflow,
    prometheus: flags.prometheus,
    at,
    dryRun,
  };
}

/** The stack's validated config, secrets stood in for (promotion reads none of them). */
export function promotionConfig(stackFile: string, now: Date): PlatformConfig {
  const { config } = readStackFile(stackFile);
  for (const [k, spec] of Object.entries(KEYS))
    if (spec.secret && config[`${PROJECT}:${k}`] === undefined)
      config[`${PROJECT}:${k}`] = "unused-by-promotion";
  // Promotion reads only model versions and thresholds and talks to no cloud: the committed
  // placeholder credential ids may stand, as in the offline plan.
  const options = { now, allowPlaceholders: true };
  return loadConfig(config, options);
}

export interface PromoteResult {
  decision: string;
  summary: string;
  outputs: Record<string, string>;
  changedStackFile: boolean;
}

export async function promote(
  args: PromoteArgs,
  env: NodeJS.ProcessEnv = process.env,
): Promise<PromoteResult> {
  const now = args.at ?? new Date();
  const config = promotionConfig(args.stackFile, now);
  const registry = args.mlflow
    ? new MlflowRegistry(
        args.mlflow,
        env.MLFLOW_TRACKING_USERNAME && env.MLFLOW_TRACKING_PASSWORD
          ? { username: env.MLFLOW_TRACKING_USERNAME, password: env.MLFLOW_TRACKING_PASSWORD }
          : undefined,
      )
    : MlflowRegistry.fromEnv(env);
  const model = args.model;
  const write = (changes: Record<string, string | null>) =>
    args.dryRun ? false : updateStackFile(args.stackFile, changes);

  if (args.command === "candidate") {
    const r = await selectCandidate(registry, model, config.promotion.ndcgMargin);
    let changed = false;
    if (r.candidate && !args.dryRun) {
      await registry.setAlias(model, "staging", r.candidate.version);
      changed = write({ stableModelVersion: r.candidate.version });
    }
    return {
      decision: r.candidate ? "candidate" : "none",
      summary: candidateSummary(model, r),
      outputs: { decision: r.candidate ? "candidate" : "none", version: r.candidate?.version ?? "" },
      changedStackFile: changed,
    };
  }

  if (args.command === "canary") {
    const staged = await registry.byAlias(model, "staging");
    if (!staged)
      return {
        decision: "none",
        summary: `## Canary (${model}): none\n\n${model} has no 'staging' alias: no candidate passed staging (\`promote candidate\`).\n`,
        outputs: { decision: "none", version: "" },
        changedStackFile: false,
      };
    if (staged.version === config.models.stable)
      return {
        decision: "none",
        summary: `## Canary (${model}): none\n\nv${staged.version} is already stable on ${args.stack}.\n`,
        outputs: { decision: "none", version: staged.version },
        changedStackFile: false,
      };
    let changed = false;
    if (!args.dryRun) {
      await registry.setAlias(model, "canary", staged.version);
      changed = write({ canaryModelVersion: staged.version });
    }
    return {
      decision: "canary",
      summary:
        `## Canary (${model}): **v${staged.version}**\n\n` +
        `v${staged.version} passed staging's smoke tests; ${args.stack} sends it ${config.serving.canaryWeight}% of traffic ` +
        `next to stable v${config.models.stable ?? "?"}. The gate runs after ${config.promotion.soakMinutes} min.\n`,
      outputs: { decision: "canary", version: staged.version },
      changedStackFile: changed,
    };
  }

  const { stable, canary } = config.models;
  if (!canary)
    return {
      decision: "none",
      summary: `## Canary gate: none\n\n${args.stack} has no canaryModelVersion: nothing to gate.\n`,
      outputs: { decision: "none", version: "" },
      changedStackFile: false,
    };
  const prometheusUrl = args.prometheus ?? env.PROMETHEUS_URL;
  if (!prometheusUrl) throw new UsageError("set PROMETHEUS_URL or pass --prometheus");
  const window = config.promotion.soakMinutes;
  const stats = await readStats(new Prometheus(prometheusUrl), window, now);
  const result = decide(
    stats,
    {
      minRequests: config.promotion.minRequests,
      maxHrDrop: config.promotion.maxHrDrop,
      maxLatencyRatio: config.promotion.maxLatencyRatio,
      maxErrorRatio: config.promotion.maxErrorRatio,
      p95SloMs: config.serving.p95SloMs,
    },
    window,
    now,
  );
  let changed = false;
  if (!args.dryRun && result.decision === "promote") {
    await registry.setAlias(model, "production", canary);
    await registry.deleteAlias(model, "canary");
    changed = write({ stableModelVersion: canary, canaryModelVersion: null });
  } else if (!args.dryRun && result.decision === "rollback") {
    await registry.deleteAlias(model, "canary");
    // The rejected candidate must not come back as the next canary.
    if ((await registry.byAlias(model, "staging"))?.version === canary)
      await registry.deleteAlias(model, "staging");
    changed = write({ canaryModelVersion: null });
  }
  return {
    decision: result.decision,
    summary: gateSummary(result, { stable, canary }),
    outputs: { decision: result.decision, version: canary },
    changedStackFile: changed,
  };
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let args: PromoteArgs;
  try {
    args = parseArgs(argv);
  } catch (err) {
    console.error(`promote: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  try {
    const r = await promote(args, env);
    process.stdout.write(r.summary);
    if (env.GITHUB_STEP_SUMMARY) fs.appendFileSync(env.GITHUB_STEP_SUMMARY, r.summary + "\n");
    const outputs = { ...r.outputs, stack_file_changed: String(r.changedStackFile) };
    if (env.GITHUB_OUTPUT)
      fs.appendFileSync(
        env.GITHUB_OUTPUT,
        Object.entries(outputs)
          .map(([k, v]) => `${k}=${v}\n`)
          .join(""),
      );
    return 0;
  } catch (err) {
    if (
      err instanceof ConfigError ||
      err instanceof MlflowError ||
      err instanceof PrometheusError ||
      err instanceof PromotionError ||
      err instanceof UsageError
    ) {
      console.error(`promote ${args.command}: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
