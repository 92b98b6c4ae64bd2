/**
 * Gateway benchmark (a script, not a test): the ONNX backend in-process, real Redis, k = 10,
 * maxlen 200, an ML-1M-sized model (6040 users, 3416 items, width 50) exported by the trainer's
 * code. Prints p50/p99 at 200 requests/s, then the highest rate whose p99 stays <= 50 ms.
 *
 *   npm run bench:gateway [-- --duration 10 --rates 50,100,150,200,300,400,600,800,1000,1300,1600,2000]
 *
 * The gateway runs in its own process, as in production; autocannon (the load generator) shares
 * the machine's cores with it, so the numbers are a floor for a dedicated host. Inference timeouts
 * are raised to 2 s so slow answers are measured rather than hidden behind the popularity fallback;
 * any fallback fails the rate.
 */
import autocannon from "autocannon";
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

const REPO = path.resolve(__dirname, "../..");
const SHAPE = { users: 6040, items: 3416, maxlen: 200, topK: 100, dim: 50 };
const P99_LIMIT_MS = 50;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function until(what: string, check: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: not ready after ${ms} ms`);
}

function python(): string {
  for (const py of [process.env.SSEPT_PYTHON, path.join(REPO, ".venv/bin/python"), "/usr/bin/python3"]) {
    if (py && existsSync(py)) {
      try {
        execFileSync(py, ["-c", "import torch, onnx"], { stdio: "ignore" });
        return py;
      } catch {
        // no torch there
      }
    }
  }
  throw new Error("no Python with torch and onnx (set SSEPT_PYTHON)");
}

async function metric(url: string, series: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

interface Run {
  target: number;
  achieved: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  fallbacks: number;
}

async function load(
  url: string,
  rate: number,
  seconds: number,
  warmUsers: number,
): Promise<Omit<Run, "fallbacks">> {
  let n = 0;
  const result = await autocannon({
    url,
    connections: Math.min(64, Math.max(8, Math.ceil(rate / 20))),
    overallRate: rate,
    duration: seconds,
    requests: [
      {
        method: "GET",
        setupRequest: (req) => ({ ...req, path: `/v1/recommendations?user=${1 + (n++ % warmUsers)}&k=10` }),
      },
    ],
  });
  return {
    target: rate,
    achieved: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

async function main(): Promise<void> {
  const seconds = Number(arg("duration", "10"));
  const rates = arg("rates", "50,100,150,200,300,400,600,800,1000,1300,1600,2000").split(",").map(Number);
  const work = mkdtempSync(path.join(os.tmpdir(), "ssept-bench-"));
  const children: ChildProcess[] = [];
  const cleanup = () => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
    rmSync(work, { recursive: true, force: true });
  };
  process.on("SIGINT", () => {
    cleanup();
    process.exit(130);
  });
  try {
    console.log(`exporting an ML-1M-sized SSE-PT (${JSON.stringify(SHAPE)}) with the trainer's code...`);
    execFileSync(
      python(),
      [
        path.join(REPO, "tests/serving/fixtures/export_model.py"),
        work,
        `--num-users=${SHAPE.users}`,
        `--num-items=${SHAPE.items}`,
        `--maxlen=${SHAPE.maxlen}`,
        `--top-k=${SHAPE.topK}`,
        `--dim=${SHAPE.dim}`,
        "--heads=1",
      ],
      { env: { ...process.env, PYTHONPATH: path.join(REPO, "trainer-image") }, stdio: "inherit" },
    );
    const redisPort = await freePort();
    const redis = spawn("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", ""], {
      stdio: "ignore",
    });
    children.push(redis);
    const redisUrl = `redis://127.0.0.1:${redisPort}`;
    const tsNode = ["-r", "ts-node/register"];
    const env = {
      ...process.env,
      TS_NODE_PROJECT: path.join(REPO, "model-server/tsconfig.json"),
      TS_NODE_TRANSPILE_ONLY: "true",
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: "bench",
      MAXLEN: String(SHAPE.maxlen),
    };
    await until(
      "redis",
      async () => {
        execFileSync("redis-cli", ["-p", String(redisPort), "ping"], { stdio: "ignore" });
        return true;
      },
      10_000,
    );
    execFileSync(process.execPath, [...tsNode, path.join(REPO, "model-server/gateway/src/bootstrap.ts")], {
      env: { ...env, FEATURES_DIR: path.join(work, "online") },
      stdio: "inherit",
    });
    const port = await freePort();
    const gateway = spawn(
      process.execPath,
      [...tsNode, path.join(REPO, "model-server/gateway/src/main.ts")],
      {
        env: {
          ...env,
          PORT: String(port),
          HOST: "127.0.0.1",
          BACKEND: "onnx",
          MODEL_DIR: path.join(work, "repository"),
          MODEL_NAME: "ssept-test",
          STABLE_VERSION: "1",
          MAX_K: String(SHAPE.topK),
          EVENT_SINK: "none",
          INFERENCE_TIMEOUT_MS: "2000",
        },
        stdio: "inherit",
      },
    );
    children.push(gateway);
    const url = `http://127.0.0.1:${port}`;
    await until("gateway", async () => (await fetch(`${url}/readyz`)).ok, 60_000);
    const warmUsers = SHAPE.users - 5;
    console.log(
      `load: ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")} (1/5/15 min) on ${os.cpus().length} cores`,
    );
    await load(url, 100, 3, warmUsers); // warm-up: JIT, ONNX Runtime arenas, Redis connections

    const runs: Run[] = [];
    for (const rate of rates) {
      const before = await metric(
        url,
        'ssept_gateway_recommendations_total{track="stable",source="fallback"}',
      );
      const r = await load(url, rate, seconds, warmUsers);
      const fallbacks =
        (await metric(url, 'ssept_gateway_recommendations_total{track="stable",source="fallback"}')) - before;
      const run = { ...r, fallbacks };
      runs.push(run);
      console.log(
        `${rate} req/s target: ${run.achieved.toFixed(0)} req/s achieved, p50 ${run.p50} ms, p99 ${run.p99} ms, ` +
          `non-2xx ${run.non2xx}, errors ${run.errors}, fallbacks ${run.fallbacks}`,
      );
      // Rates go up until one fails, but 200 req/s (the goal's rate) is always measured.
      if (!passes(run) && rate >= 200) break;
    }
    const at200 = runs.find((r) => r.target === 200);
    const best = runs.filter((r, i) => passes(r) && runs.slice(0, i).every(passes)).at(-1);
    console.log("");
    if (at200) console.log(`at 200 req/s: p50 ${at200.p50} ms, p99 ${at200.p99} ms (goal p99 <= 20 ms)`);
    console.log(
      best
        ? `highest rate tried with p99 <= ${P99_LIMIT_MS} ms: ${best.target} req/s (achieved ${best.achieved.toFixed(0)}, p99 ${best.p99} ms)`
        : `no rate tried kept p99 <= ${P99_LIMIT_MS} ms`,
    );
    console.log(
      `load after: ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}`,
    );
  } finally {
    cleanup();
  }
}

function passes(r: Run): boolean {
  return (
    r.p99 <= P99_LIMIT_MS &&
    r.achieved >= 0.95 * r.target &&
    r.non2xx === 0 &&
    r.errors === 0 &&
    r.fallbacks === 0
  );
}

main().catch((err: Error) => {
  console.error(`bench: ${err.message}`);
  process.exit(1);
});
