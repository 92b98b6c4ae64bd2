import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { S3Client } from "@aws-sdk/client-s3";
import { createClient } from "redis";
import { s3Client } from "../../model-server/gateway/src/s3Sink";

export const REPO = path.resolve(__dirname, "../..");

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const start = Date.now();
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A private redis-server on a free loopback port, so a test can stop it to see the outage. */
export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const child = spawn(
    "redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--loglevel",
      "warning",
    ],
    { stdio: "ignore" },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.once("error", (err) => {
    throw new Error(`redis-server could not start (apt-get install redis-server): ${err.message}`);
  });
  const url = `redis://127.0.0.1:${port}`;
  await waitFor(`redis-server on ${port}`, async () => {
    const c = createClient({ url, socket: { reconnectStrategy: false } });
    c.on("error", () => {});
    await c.connect();
    await c.ping();
    await c.close();
    return true;
  });
  return {
    url,
    port,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** The S3 endpoint and keys of tests/services/services.sh (environment first, then `services.sh env`). */
export interface S3Env {
  S3_ENDPOINT_URL: string;
  AWS_ACCESS_KEY_ID: string;
  AWS_SECRET_ACCESS_KEY: string;
}

export function servicesS3(): S3Env {
  let env: Record<string, string | undefined> = process.env;
  if (!env.S3_ENDPOINT_URL) {
    const out = execFileSync("bash", [path.join(REPO, "tests/services/services.sh"), "env"], {
      encoding: "utf-8",
    });
    env = Object.fromEntries(
      [...out.matchAll(/^export ([A-Z0-9_]+)="?([^"\n]*)"?$/gm)].map((m) => [m[1], m[2]] as [string, string]),
    );
  }
  const { S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY } = env;
  if (!S3_ENDPOINT_URL || !AWS_ACCESS_KEY_ID || !AWS_SECRET_ACCESS_KEY)
    throw new Error("no S3 (Ceph RGW) for the tests: run `bash tests/services/services.sh start ceph` first");
  return { S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY };
}

/** The gateway's own S3 client, pointed at the services' RGW. */
export function servicesS3Client(env: S3Env): S3Client {
  return s3Client({
    endpoint: env.S3_ENDPOINT_URL,
    region: "us-east-1",
    accessKeyId: env.AWS_ACCESS_KEY_ID,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
  });
}

/** Python with torch for the trainer's export: SSEPT_PYTHON, the repo's .venv, or Debian's python3. */
function python(): string {
  const candidates = [process.env.SSEPT_PYTHON, path.join(REPO, ".venv/bin/python"), "/usr/bin/python3"];
  for (const py of candidates) {
    if (!py || !existsSync(py)) continue;
    try {
      execFileSync(py, ["-c", "import torch, onnx"], { stdio: "ignore" });
      return py;
    } catch {
      // no torch there
    }
  }
  throw new Error("no Python with torch and onnx for the model export (set SSEPT_PYTHON)");
}

export interface ModelFixture {
  dir: string;
  repository: string;
  onlineDir: string;
  heldout: string;
  modelName: string;
  topK: number;
  numUsers: number;
  numItems: number;
  maxlen: number;
  /** PyTorch's top-k per version and user, for the first few users. */
  expected: Record<string, Record<string, { items: number[]; scores: number[] }>>;
  remove(): void;
}

/** Runs the trainer's export (tests/serving/fixtures/export_model.py) into a temporary directory. */
export function exportModelFixture(): ModelFixture {
  const dir = mkdtempSync(path.join(os.tmpdir(), "ssept-serving-"));
  const shape = { numUsers: 40, numItems: 80, maxlen: 20, topK: 20 };
  execFileSync(
    python(),
    [
      path.join(__dirname, "fixtures/export_model.py"),
      dir,
      `--num-users=${shape.numUsers}`,
      `--num-items=${shape.numItems}`,
      `--maxlen=${shape.maxlen}`,
      `--top-k=${shape.topK}`,
    ],
    {
      env: { ...process.env, PYTHONPATH: path.join(REPO, "trainer-image") },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  const expected = JSON.parse(readFileSync(path.join(dir, "expected.json"), "utf-8"));
  return {
    dir,
    repository: path.join(dir, "repository"),
    onlineDir: path.join(dir, "online"),
    heldout: path.join(dir, "heldout.txt"),
    modelName: expected.model,
    expected: expected.versions,
    ...shape,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
