/**
 * Prints a stack's outputs against the outputs contract (stacks/outputs.ts): every output with
 * its type, secrecy, provider, how to log in, and its value, secrets masked unless asked.
 *
 *   npm run outputs -- <stack> [--show-secrets] [--json] [--from <file> | --offline]
 *
 * Values come from `pulumi stack output --json --stack <stack>` by default, from a file that
 * command wrote (--from, what CI keeps), or from the offline plan's mock build (--offline: no
 * cloud, no CLI; the values are the mocks', useful for the shape only).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import { OUTPUTS, OutputSpec, OutputType } from "../stacks/outputs";
import { buildStack, StackFileError } from "../tests/harness";

export interface OutputsArgs {
  stack: string;
  showSecrets: boolean;
  json: boolean;
  source: { kind: "pulumi" } | { kind: "file"; file: string } | { kind: "offline" };
}

export class UsageError extends Error {}
const USAGE = "usage: npm run outputs -- <stack> [--show-secrets] [--json] [--from <file> | --offline]";
const MASK = "[secret]";

export function parseArgs(argv: string[]): OutputsArgs {
  const [stack, ...rest] = argv;
  if (!stack || stack.startsWith("--")) throw new UsageError("a stack name is required");
  if (!/^[\w./-]+$/.test(stack)) throw new UsageError(`${JSON.stringify(stack)} is not a stack name`);
  const args: OutputsArgs = { stack, showSecrets: false, json: false, source: { kind: "pulumi" } };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === "--show-secrets") args.showSecrets = true;
    else if (a === "--json") args.json = true;
    else if (a === "--offline") args.source = { kind: "offline" };
    else if (a === "--from") {
      const file = rest[++i];
      if (!file) throw new UsageError("--from needs a file");
      args.source = { kind: "file", file };
    } else throw new UsageError(`unknown option ${a}`);
  }
  return args;
}

const typeOf = (v: unknown): OutputType | "other" =>
  typeof v === "string"
    ? "string"
    : typeof v === "number"
      ? "number"
      : Array.isArray(v) && v.every((x) => typeof x === "string")
        ? "string[]"
        : v && typeof v === "object"
          ? "object"
          : "other";

export interface OutputRow extends OutputSpec {
  name: string;
  present: boolean;
  value?: unknown;
  problem?: string;
}

/** The contract joined with the values; a value of the wrong type or outside the contract is a problem. */
export function outputRows(
  values: Record<string, unknown>,
  showSecrets: boolean,
): { rows: OutputRow[]; extra: string[] } {
  const rows = Object.entries(OUTPUTS as Record<string, OutputSpec>).map(([name, spec]): OutputRow => {
    const present = values[name] !== undefined;
    const raw = values[name];
    let problem: string | undefined;
    if (present && raw !== MASK && typeOf(raw) !== spec.type)
      problem = `expected ${spec.type}, got ${typeOf(raw)}`;
    return {
      name,
      ...spec,
      present,
      value: present ? (spec.secret && !showSecrets ? MASK : raw) : undefined,
      problem,
    };
  });
  return { rows, extra: Object.keys(values).filter((k) => !(k in OUTPUTS)) };
}

function render(stack: string, rows: OutputRow[], extra: string[]): string {
  const show = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));
  const lines = [`Outputs of ${stack} (contract: stacks/outputs.ts)`, ""];
  for (const r of rows) {
    lines.push(`${r.name} (${r.type}${r.secret ? ", secret" : ""}; from ${r.provider}): ${r.description}`);
    if (r.login) lines.push(`  login: ${r.login}`);
    lines.push(`  value: ${r.present ? show(r.value) : "(not exported by this stack)"}`);
    if (r.problem) lines.push(`  PROBLEM: ${r.problem}`);
  }
  if (extra.length) lines.push("", `Not in the contract: ${extra.join(", ")}`);
  return lines.join("\n") + "\n";
}

async function readValues(args: OutputsArgs): Promise<Record<string, unknown>> {
  if (args.source.kind === "file") {
    if (!fs.existsSync(args.source.file)) throw new UsageError(`--from ${args.source.file}: no such file`);
    return JSON.parse(fs.readFileSync(args.source.file, "utf8")) as Record<string, unknown>;
  }
  if (args.source.kind === "offline") {
    const build = await buildStack(args.stack);
    return Object.fromEntries(Object.entries(build.outputs).map(([k, o]) => [k, o.value]));
  }
  const r = spawnSync(
    "pulumi",
    ["stack", "output", "--json", "--stack", args.stack, ...(args.showSecrets ? ["--show-secrets"] : [])],
    { encoding: "utf8" },
  );
  if (r.error)
    throw new UsageError(`cannot run the pulumi CLI (${r.error.message}); use --from <file> or --offline`);
  if (r.status !== 0) throw new UsageError(`pulumi stack output failed: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

export async function main(
  argv: string[],
  write: (s: string) => void = (s) => void process.stdout.write(s),
): Promise<number> {
  let args: OutputsArgs;
  try {
    args = parseArgs(argv);
    const { rows, extra } = outputRows(await readValues(args), args.showSecrets);
    if (args.json) {
      write(JSON.stringify(Object.fromEntries(rows.map(({ name, ...r }) => [name, r])), null, 2) + "\n");
    } else write(render(args.stack, rows, extra));
    return rows.some((r) => r.problem) || extra.length > 0 ? 1 : 0;
  } catch (err) {
    if (err instanceof UsageError || err instanceof StackFileError || err instanceof SyntaxError) {
      console.error(`outputs: ${err.message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
}

if (require.main === module) main(process.argv.slice(2)).then((code) => process.exit(code));
