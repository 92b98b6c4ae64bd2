import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { ConfigError } from "../stacks/config";
import { BuildOptions, buildStack, REPO_ROOT, StackFileError } from "../tests/harness";
import { planDiagram } from "./planDiagram";
import { PlanDirError, planDiff, readPlannedResources } from "./planDiff";
import { planMarkdown } from "./planMarkdown";
import { planModel } from "./planModel";

const USAGE = "usage: npm run plan -- <stack> [--out <dir>] [--diff <plan dir>] [--now <ISO time>]";

export interface PlanArgs {
  stack: string;
  out: string;
  diff?: string;
  now: Date;
}

export class UsageError extends Error {}

export function parseArgs(argv: string[], now = new Date()): PlanArgs {
  const positional: string[] = [];
  const flags: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg.startsWith("--")) {
      const name = arg.slice(2);
      if (!["out", "diff", "now"].includes(name)) throw new UsageError(`unknown option ${arg}; ${USAGE}`);
      const value = argv[++i];
      if (value === undefined || value.startsWith("--"))
        throw new UsageError(`option ${arg} needs a value; ${USAGE}`);
      flags[name] = value;
    } else positional.push(arg);
  }
  if (positional.length !== 1) throw new UsageError(`expected one stack name; ${USAGE}`);
  const stack = positional[0];
  if (!fs.existsSync(path.join(REPO_ROOT, `Pulumi.${stack}.yaml`))) {
    const known = fs
      .readdirSync(REPO_ROOT)
      .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
      .filter(Boolean);
    throw new UsageError(`unknown stack "${stack}": no Pulumi.${stack}.yaml (stacks: ${known.join(", ")})`);
  }
  const clock = flags.now ? new Date(flags.now) : now;
  if (Number.isNaN(clock.getTime())) throw new UsageError(`--now ${flags.now} is not a date (use ISO 8601)`);
  return { stack, out: flags.out ?? path.join(REPO_ROOT, "out", stack), diff: flags.diff, now: clock };
}

/** Builds the estate offline and writes resources.json, manifests/, plan.md and diagram.mmd. */
export async function writePlan(
  args: PlanArgs,
  buildOptions: Omit<BuildOptions, "now"> = {},
): Promise<{ dir: string; diff?: string; resources: number }> {
  const baseline = args.diff ? readPlannedResources(args.diff) : undefined;
  const build = await buildStack(args.stack, { ...buildOptions, now: args.now });
  const plan = planModel(build);

  fs.rmSync(args.out, { recursive: true, force: true });
  fs.mkdirSync(path.join(args.out, "manifests"), { recursive: true });
  fs.writeFileSync(path.join(args.out, "resources.json"), JSON.stringify(plan.resources, null, 2) + "\n");
  for (const [namespace, objects] of Object.entries(plan.manifests)) {
    const text = objects
      .map((o) => yaml.dump(o, { noRefs: true, lineWidth: 120, sortKeys: true }))
      .join("---\n");
    fs.writeFileSync(path.join(args.out, "manifests", `${namespace}.yaml`), text);
  }
  fs.writeFileSync(path.join(args.out, "plan.md"), planMarkdown(plan, { clock: args.now }));
  fs.writeFileSync(path.join(args.out, "diagram.mmd"), planDiagram(plan));
  const diff = baseline ? planDiff(baseline, plan.resources, `${args.diff} → ${args.stack}`) : undefined;
  return { dir: args.out, diff, resources: plan.resources.length };
}

async function main(): Promise<number> {
  try {
    const args = parseArgs(process.argv.slice(2));
    const result = await writePlan(args);
    if (result.diff !== undefined) process.stdout.write(result.diff);
    else
      console.log(
        `wrote ${path.relative(process.cwd(), result.dir) || "."}/ (${result.resources} resources): plan.md, resources.json, manifests/, diagram.mmd`,
      );
    return 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof StackFileError || e instanceof PlanDirError) {
      console.error(`plan: ${e.message}`);
      return 2;
    }
    if (e instanceof ConfigError) {
      console.error(`plan: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

if (require.main === module) {
  main().then((code) => process.exit(code));
}
