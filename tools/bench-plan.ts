import { spawnSync } from "child_process";
import * as os from "os";
import * as path from "path";
import { REPO_ROOT } from "../tests/harness";

/**
 * Benchmark: wall time of `npm run plan -- production` as a user runs it (process start, TypeScript
 * loading, the mocked build, writing the files), a few runs, on this machine.
 */
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

function main(): void {
  const out = path.join(os.tmpdir(), "ssept-bench-plan");
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = process.hrtime.bigint();
    const run = spawnSync(
      process.execPath,
      [
        require.resolve("ts-node/dist/bin.js"),
        "--transpile-only",
        "tools/plan.ts",
        "production",
        "--out",
        out,
      ],
      { cwd: REPO_ROOT, encoding: "utf8" },
    );
    if (run.status !== 0) throw new Error(`plan failed: ${run.stderr || run.stdout}`);
    times.push(Number(process.hrtime.bigint() - started) / 1e9);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(
    `offline plan, production, ${RUNS} runs on ${os.cpus().length} cores (${os.cpus()[0].model.trim()})`,
  );
  console.log(
    `  median ${median.toFixed(2)} s   min ${times[0].toFixed(2)} s   max ${times[times.length - 1].toFixed(2)} s   target < 10 s`,
  );
}

main();
