/**
 * The online store's Redis command line and probe, run for real: a redis-server started with
 * exactly `redisArgs` (the password substituted as Kubernetes substitutes `$(REDIS_PASSWORD)`)
 * refuses clients without the password, passes the probe only with it, and keeps what it was told
 * across a restart through its append-only file.
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { redisArgs, redisStatefulSet } from "../../components/app/onlineStoreManifests";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const PASSWORD = "probe-test-password-0001";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** The probe's shell command as the StatefulSet declares it, pointed at the test's port. */
function probe(port: number, auth?: string): number | null {
  const sts = redisStatefulSet({
    namespace: "serving",
    resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "500m", memory: "1Gi" } },
    storageGi: 5,
  }) as Json;
  const [shell, flag, script] = sts.spec.template.spec.containers[0].readinessProbe.exec.command as string[];
  const run = spawnSync(shell, [flag, script.replace("-p 6379", `-p ${port}`)], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...(auth ? { REDISCLI_AUTH: auth } : {}) },
    encoding: "utf8",
  });
  return run.status;
}

function cli(port: number, ...args: string[]): string {
  const run = spawnSync("redis-cli", ["-p", String(port), "--no-auth-warning", "-a", PASSWORD, ...args], {
    encoding: "utf8",
  });
  return run.stdout.trim();
}

async function startRedis(dir: string, port: number): Promise<ChildProcess> {
  const args = redisArgs("1Gi").map((a) => (a === "$(REDIS_PASSWORD)" ? PASSWORD : a.replace("/data", dir)));
  const child = spawn("redis-server", [...args.slice(1), "--port", String(port), "--bind", "127.0.0.1"], {
    stdio: "ignore",
  });
  child.once("error", (err) => {
    throw new Error(`redis-server could not start (apt-get install redis-server): ${err.message}`);
  });
  for (let i = 0; i < 100; i++) {
    if (cli(port, "ping") === "PONG") return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`redis-server on ${port} did not answer`);
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

describe("Redis as the online store runs it", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "redis-aof-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("password required, probe passes only with it, AOF on, data survives a restart", async () => {
    const port = await freePort();
    let redis = await startRedis(dir, port);
    try {
      expect(probe(port, PASSWORD)).toBe(0);
      expect(probe(port)).not.toBe(0);
      expect(probe(port, "wrong-password")).not.toBe(0);
      expect(cli(port, "config", "get", "appendonly")).toBe("appendonly\nyes");
      expect(cli(port, "config", "get", "maxmemory-policy")).toBe("maxmemory-policy\nallkeys-lru");
      expect(cli(port, "config", "get", "maxmemory")).toBe(`maxmemory\n${768 * 1024 * 1024}`);
      expect(cli(port, "rpush", "ssept:seq:42", "7", "9", "11")).toBe("3");
      await stop(redis);
      // Persisted by the append-only file alone: no RDB snapshot is written.
      expect(fs.readdirSync(dir)).toEqual(["appendonlydir"]);
      redis = await startRedis(dir, port);
      expect(cli(port, "lrange", "ssept:seq:42", "0", "-1")).toBe("7\n9\n11");
    } finally {
      await stop(redis);
    }
  });
});
