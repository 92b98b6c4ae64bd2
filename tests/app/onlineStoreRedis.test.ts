/**
 * The online store's Redis command line and probe, run for real: a redis-server started with
 * exactly `redisArgs` (the password substituted as Kubernetes substitutes `$(REDIS_PASSWORD)`)
 * refuses clients without the password, passes the probe only with it, and keeps what it was told
 * across a restart through its append-only file.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { redisStatefulSet } from "../../components/app/onlineStoreManifests";
import { startStoreRedis } from "./redisKit";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const PASSWORD = "probe-test-password-0001";

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

describe("Redis as the online store runs it", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "redis-aof-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("password required, probe passes only with it, AOF on, data survives a restart", async () => {
    let redis = await startStoreRedis(dir, PASSWORD);
    const { port } = redis;
    try {
      expect(probe(port, PASSWORD)).toBe(0);
      expect(probe(port)).not.toBe(0);
      expect(probe(port, "wrong-password")).not.toBe(0);
      expect(redis.cli("config", "get", "appendonly")).toBe("appendonly\nyes");
      expect(redis.cli("config", "get", "maxmemory-policy")).toBe("maxmemory-policy\nallkeys-lru");
      expect(redis.cli("config", "get", "maxmemory")).toBe(`maxmemory\n${768 * 1024 * 1024}`);
      expect(redis.cli("rpush", "ssept:seq:42", "7", "9", "11")).toBe("3");
      await redis.stop();
      // Persisted by the append-only file alone: no RDB snapshot is written.
      expect(fs.readdirSync(dir)).toEqual(["appendonlydir"]);
      redis = await startStoreRedis(dir, PASSWORD, port);
      expect(redis.cli("lrange", "ssept:seq:42", "0", "-1")).toBe("7\n9\n11");
    } finally {
      await redis.stop();
    }
  });
});
