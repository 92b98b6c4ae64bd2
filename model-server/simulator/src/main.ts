import * as http from "node:http";
import { EnvConfigError } from "../../common/env";
import { loadSimulatorConfig } from "./config";
import { loadHeldOut } from "./heldout";
import { simulatorMetrics } from "./metrics";
import { abortableSleep, seededRandom, simulate } from "./simulator";

async function main(): Promise<void> {
  const c = loadSimulatorConfig();
  const users = await loadHeldOut(c);
  const metrics = simulatorMetrics();
  const server = http.createServer((req, res) => {
    if (req.url === "/metrics") {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    } else if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(c.METRICS_PORT, "0.0.0.0", resolve));
  const stop = new AbortController();
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => stop.abort());
  console.log(
    `simulator: ${users.length} held-out users, ${c.USERS_PER_SECOND} users/s, think ${c.THINK_TIME_MS} ms, ` +
      `sessions up to ${c.SESSION_LENGTH} items, against ${c.GATEWAY_URL}; metrics on :${c.METRICS_PORT}`,
  );
  await simulate(
    users,
    {
      gatewayUrl: c.GATEWAY_URL,
      k: c.K,
      thinkTimeMs: c.THINK_TIME_MS,
      sessionLength: c.SESSION_LENGTH,
      requestTimeoutMs: c.REQUEST_TIMEOUT_MS,
      random: seededRandom(c.SEED),
      sleep: abortableSleep,
      usersPerSecond: c.USERS_PER_SECOND,
      maxActiveUsers: c.MAX_ACTIVE_USERS,
      durationMs: c.DURATION_S * 1000,
    },
    metrics,
    stop.signal,
  );
  server.close();
  console.log("simulator: stopped");
}

main().catch((err: Error) => {
  console.error(
    err instanceof EnvConfigError ? err.message : `simulator failed: ${err.stack ?? err.message}`,
  );
  process.exit(1);
});
