import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import { bootstrapMain } from "../../model-server/gateway/src/bootstrap";
import { gatewayEnv } from "./gatewayKit";
import {
  ModelFixture,
  REPO,
  RedisServer,
  S3Env,
  exportModelFixture,
  freePort,
  servicesS3,
  servicesS3Client,
  startRedis,
  waitFor,
} from "./services";

let fixture: ModelFixture;
let redis: RedisServer;
let s3env: S3Env;
let s3: S3Client;
const bucket = "logs";
const prefix = `gateway-events-test/${process.pid}-${Date.now()}`;

beforeAll(async () => {
  s3env = servicesS3();
  s3 = servicesS3Client(s3env);
  fixture = exportModelFixture();
  redis = await startRedis();
}, 120_000);

afterAll(async () => {
  const keys = await listKeys().catch(() => []);
  if (keys.length)
    await s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } }),
    );
  s3?.destroy();
  await redis?.stop();
  fixture?.remove();
});

async function listKeys(): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/` }));
  return (out.Contents ?? []).map((o) => o.Key as string);
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

test("SIGTERM under load: every accepted event is in the logs bucket exactly once", async () => {
  await bootstrapMain({
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: "sigterm",
    FEATURES_DIR: fixture.onlineDir,
    MAXLEN: String(fixture.maxlen),
  });
  const port = await freePort();
  let output = "";
  const child = spawn(
    process.execPath,
    ["-r", "ts-node/register", path.join(REPO, "model-server/gateway/src/main.ts")],
    {
      cwd: REPO,
      env: {
        ...process.env,
        TS_NODE_PROJECT: path.join(REPO, "model-server/tsconfig.json"),
        TS_NODE_TRANSPILE_ONLY: "true",
        ...gatewayEnv(fixture, redis.url, "sigterm", {
          PORT: String(port),
          HOST: "127.0.0.1",
          EVENT_SINK: "s3",
          ...s3env,
          BUCKET_LOGS: bucket,
          EVENT_LOG_PREFIX: prefix,
          EVENT_BATCH_MAX: "40",
          EVENT_FLUSH_INTERVAL_MS: "600000",
          POD_NAME: "sigterm-test",
        }),
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  const exit = exited(child);
  const base = `http://127.0.0.1:${port}`;
  await waitFor("gateway /readyz", async () => (await fetch(`${base}/readyz`)).ok, 60_000).catch((err) => {
    throw new Error(`${err.message}\n${output}`);
  });

  const accepted = new Set<string>();
  let sent = 0;
  let terminated = false;
  let sigtermAt = 0;
  const epoch = Date.parse("2026-11-30T00:00:00Z");
  async function client(worker: number): Promise<void> {
    for (;;) {
      const ts = new Date(epoch + sent++).toISOString();
      try {
        const res = await fetch(`${base}/v1/events`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ user: 1 + ((sent + worker) % 35), item: 1 + (sent % 80), type: "view", ts }),
        });
        await res.arrayBuffer();
        if (res.status === 202) accepted.add(ts);
        else if (terminated) return;
        else throw new Error(`HTTP ${res.status} before SIGTERM`);
      } catch (err) {
        if (terminated) return;
        throw err;
      }
      if (!terminated && accepted.size >= 150) {
        terminated = true;
        sigtermAt = Date.now();
        child.kill("SIGTERM");
      }
    }
  }
  await Promise.all(Array.from({ length: 6 }, (_, w) => client(w)));
  const code = await exit;
  // Keep-alive connections must not hold the process past a pod's grace period (72 s keep-alive).
  expect(Date.now() - sigtermAt).toBeLessThan(15_000);
  expect({ code, output }).toMatchObject({ code: 0 });
  expect(output).toMatch(/SIGTERM: stopped cleanly/);

  const keys = await listKeys();
  const logged: string[] = [];
  for (const key of keys) {
    expect(key).toMatch(new RegExp(`^${prefix}/dt=\\d{4}-\\d{2}-\\d{2}/sigterm-test-\\d+-\\d{6}\\.jsonl$`));
    const body = await (
      await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
    ).Body?.transformToString();
    for (const line of (body ?? "").trim().split("\n")) {
      const event = JSON.parse(line);
      expect(event).toMatchObject({ type: "view", track: "stable" });
      logged.push(event.ts);
    }
  }
  // Batches of 40 while running, then whatever was buffered at SIGTERM.
  expect(keys.length).toBeGreaterThanOrEqual(Math.ceil(accepted.size / 40));
  expect(logged.length).toBe(accepted.size);
  expect(new Set(logged)).toEqual(accepted);
  expect(accepted.size).toBeGreaterThanOrEqual(150);
}, 180_000);
