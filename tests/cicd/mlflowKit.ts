import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { REPO_ROOT } from "../harness";

// A safety net: servers a failed or timed-out hook never stopped die with the test process.
const started = new Set<ChildProcess>();
process.on("exit", () =>
  started.forEach((c) => {
    try {
      process.kill(-c.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }),
);

export interface RunningMlflow {
  url: string;
  stop(): Promise<void>;
}

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/health`)).ok;
  } catch {
    return false;
  }
}

/**
 * The MLflow server of tests/services/services.sh when it runs (MLFLOW_TRACKING_URI, or what
 * `services.sh env` prints); otherwise an `mlflow server` from the same venv on a SQLite store in a
 * temp dir, on a loopback port. No MLflow at all is an error that says what to install.
 */
export async function mlflowServer(): Promise<RunningMlflow> {
  const fromEnv = process.env.MLFLOW_TRACKING_URI;
  if (fromEnv && (await answers(fromEnv))) return { url: fromEnv, stop: async () => undefined };
  try {
    const env = execFileSync("bash", [path.join(REPO_ROOT, "tests/services/services.sh"), "env"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    const m = /MLFLOW_TRACKING_URI=(\S+)/.exec(env);
    if (m && (await answers(m[1]))) return { url: m[1], stop: async () => undefined };
  } catch {
    // services.sh absent or nothing running: start our own below
  }
  const venv = process.env.SSEPT_VENV ?? path.join(REPO_ROOT, ".venv");
  const bin = path.join(venv, "bin", "mlflow");
  if (!fs.existsSync(bin))
    throw new Error(
      `no MLflow server running and ${bin} missing: run .ci/run (creates the venv) or tests/services/services.sh start`,
    );
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ssept-mlflow-"));
  const port = await new Promise<number>((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
  const child: ChildProcess = spawn(
    bin,
    [
      "server",
      "--host=127.0.0.1",
      `--port=${port}`,
      `--backend-store-uri=sqlite:///${dir}/mlflow.db`,
      `--artifacts-destination=${dir}/artifacts`,
      "--workers=1",
    ],
    { stdio: ["ignore", "ignore", "pipe"], detached: true },
  );
  started.add(child);
  child.once("exit", () => started.delete(child));
  let stderr = "";
  child.stderr?.on("data", (d) => (stderr = (stderr + String(d)).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  while (!(await answers(url))) {
    if (child.exitCode !== null) throw new Error(`mlflow server exited ${child.exitCode}: ${stderr}`);
    if (Date.now() > deadline) {
      process.kill(-child.pid!, "SIGKILL");
      throw new Error(`mlflow server not ready after 90 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => {
          fs.rmSync(dir, { recursive: true, force: true });
          resolve();
        });
        // gunicorn workers are the server's children: end the whole group.
        process.kill(-child.pid!, "SIGTERM");
      }),
  };
}

/** Test-side writes to the registry (the promotion tool itself never creates runs or versions). */
export async function mlflowPost<T>(url: string, endpoint: string, body: unknown): Promise<T> {
  const r = await fetch(`${url}/api/2.0/mlflow/${endpoint}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${endpoint}: ${r.status} ${text}`);
  return JSON.parse(text) as T;
}

/** Registers a version of `model` from a new run that logged test_ndcg10 = `ndcg`. */
export async function registerVersion(
  url: string,
  model: string,
  experimentId: string,
  ndcg: number,
): Promise<string> {
  const { run } = await mlflowPost<{ run: { info: { run_id: string } } }>(url, "runs/create", {
    experiment_id: experimentId,
    start_time: Date.now(),
  });
  const runId = run.info.run_id;
  await mlflowPost(url, "runs/log-metric", {
    run_id: runId,
    key: "test_ndcg10",
    value: ndcg,
    timestamp: Date.now(),
    step: 0,
  });
  const { model_version } = await mlflowPost<{ model_version: { version: string } }>(
    url,
    "model-versions/create",
    {
      name: model,
      source: `runs:/${runId}/model`,
      run_id: runId,
    },
  );
  return String(model_version.version);
}

export async function newModel(url: string, tag: string): Promise<{ model: string; experimentId: string }> {
  const model = `ssept-test-${tag}-${Date.now().toString(36)}`;
  await mlflowPost(url, "registered-models/create", { name: model });
  const { experiment_id } = await mlflowPost<{ experiment_id: string }>(url, "experiments/create", {
    name: model,
  });
  return { model, experimentId: experiment_id };
}
