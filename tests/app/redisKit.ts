/** A redis-server started with the online store's own command line (components/app), for tests. */
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as net from "net";
import { redisArgs } from "../../components/app/onlineStoreManifests";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

export interface StoreRedis {
  port: number;
  url: string;
  password: string;
  cli(...args: string[]): string;
  stop(): Promise<void>;
}

/**
 * `redisArgs(memoryLimit)` as Kubernetes runs it (`$(REDIS_PASSWORD)` substituted, `/data` moved
 * to `dir`), on a free loopback port.
 */
export async function startStoreRedis(dir: string, password: string, port?: number): Promise<StoreRedis> {
  const p = port ?? (await freePort());
  const args = redisArgs("1Gi").map((a) => (a === "$(REDIS_PASSWORD)" ? password : a.replace("/data", dir)));
  const child: ChildProcess = spawn(
    "redis-server",
    [...args.slice(1), "--port", String(p), "--bind", "127.0.0.1"],
    {
      stdio: "ignore",
    },
  );
  child.once("error", (err) => {
    throw new Error(`redis-server could not start (apt-get install redis-server): ${err.message}`);
  });
  const cli = (...a: string[]) =>
    spawnSync("redis-cli", ["-p", String(p), "--no-auth-warning", "-a", password, ...a], {
      encoding: "utf8",
    }).stdout.trim();
  for (let i = 0; i < 100 && cli("ping") !== "PONG"; i++) await new Promise((r) => setTimeout(r, 100));
  if (cli("ping") !== "PONG") throw new Error(`redis-server on ${p} did not answer`);
  return {
    port: p,
    url: `redis://127.0.0.1:${p}`,
    password,
    cli,
    stop: async () => {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    },
  };
}
