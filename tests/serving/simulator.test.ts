/** @jest-environment ./tests/serving/hostTypedArrays.environment.js */
import { readFileSync } from "node:fs";
import { METRIC_CATALOG } from "../../components/platform/metricCatalog";
import { loadSimulatorConfig } from "../../model-server/simulator/src/config";
import { parseHeldOut } from "../../model-server/simulator/src/heldout";
import { simulatorMetrics } from "../../model-server/simulator/src/metrics";
import { abortableSleep, seededRandom, simulate } from "../../model-server/simulator/src/simulator";
import { TestGateway, call, startGateway } from "./gatewayKit";
import { ModelFixture, RedisServer, exportModelFixture, startRedis } from "./services";

let fixture: ModelFixture;
let redis: RedisServer;
let gw: TestGateway;

beforeAll(async () => {
  fixture = exportModelFixture();
  redis = await startRedis();
  gw = await startGateway(fixture, redis.url);
}, 120_000);

afterAll(async () => {
  await gw?.close();
  await redis?.stop();
  fixture?.remove();
});

function metricValue(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

const options = (over: Partial<Parameters<typeof simulate>[1]> = {}) => ({
  gatewayUrl: gw.url,
  k: 10,
  thinkTimeMs: 5,
  sessionLength: 3,
  requestTimeoutMs: 5000,
  random: seededRandom(3),
  sleep: abortableSleep,
  usersPerSecond: 40,
  maxActiveUsers: 8,
  durationMs: 1500,
  ...over,
});

test("replays held-out next items as live users; the gateway counts the same events and hit checks", async () => {
  const users = parseHeldOut([{ name: "heldout.txt", text: readFileSync(fixture.heldout, "utf-8") }]);
  expect(users.length).toBeGreaterThan(20);
  const m = simulatorMetrics();
  await simulate(users, options(), m, new AbortController().signal);
  const sim = await m.registry.metrics();
  const completed = metricValue(sim, 'ssept_simulator_sessions_total{outcome="completed"}');
  expect(completed).toBeGreaterThan(10);
  expect(metricValue(sim, 'ssept_simulator_sessions_total{outcome="failed"}')).toBe(0);
  expect(metricValue(sim, "ssept_simulator_active_sessions")).toBe(0);
  const events = metricValue(sim, 'ssept_simulator_requests_total{kind="event",code="202"}');
  const recs = metricValue(sim, 'ssept_simulator_requests_total{kind="recommend",code="200"}');
  // One held-out item per user in test.txt: one recommendation and one view per session.
  expect(events).toBe(completed);
  expect(recs).toBe(completed);
  const checks =
    metricValue(sim, 'ssept_simulator_next_item_checks_total{track="stable",source="model"}') +
    metricValue(sim, 'ssept_simulator_next_item_checks_total{track="stable",source="fallback"}');
  expect(checks).toBe(events);

  for (const name of METRIC_CATALOG.simulator) expect(sim).toContain(`\n${name}{`);

  const gateway = (await call(gw, "/metrics")).text;
  expect(metricValue(gateway, 'ssept_gateway_events_total{type="view"}')).toBe(events);
  expect(metricValue(gateway, 'ssept_gateway_online_hit_checks_total{track="stable"}')).toBe(events);
  const simHits = metricValue(sim, 'ssept_simulator_next_item_hits_total{track="stable",source="model"}');
  expect(metricValue(gateway, 'ssept_gateway_online_hits_total{track="stable"}')).toBe(simHits);
});

test("bounded: arrivals beyond MAX_ACTIVE_USERS are dropped and counted; stop ends it early", async () => {
  const users = [{ user: 1, items: [1, 2, 3, 4, 5] }];
  const m = simulatorMetrics();
  const stop = new AbortController();
  const started = Date.now();
  setTimeout(() => stop.abort(), 800);
  await simulate(
    users,
    options({
      maxActiveUsers: 1,
      thinkTimeMs: 200,
      sessionLength: 5,
      durationMs: 60_000,
      usersPerSecond: 50,
    }),
    m,
    stop.signal,
  );
  expect(Date.now() - started).toBeLessThan(5000);
  const text = await m.registry.metrics();
  expect(metricValue(text, "ssept_simulator_skipped_arrivals_total")).toBeGreaterThan(5);
  expect(metricValue(text, "ssept_simulator_active_sessions")).toBe(0);
});

test("held-out files and config are validated with messages naming the problem", () => {
  expect(() => parseHeldOut([{ name: "test.txt", text: "1 2\n3 x\n" }])).toThrow(
    'test.txt line 2: expected "<user> <item>" (positive integers), got "3 x"',
  );
  expect(() => parseHeldOut([{ name: "test.txt", text: "\n" }])).toThrow("test.txt: no held-out events");
  expect(parseHeldOut([{ name: "a", text: "2 5\n1 3\n2 7\n" }])).toEqual([
    { user: 2, items: [5, 7] },
    { user: 1, items: [3] },
  ]);
  expect(() => loadSimulatorConfig({ GATEWAY_URL: "ftp://x", USERS_PER_SECOND: "-1" })).toThrow(
    /GATEWAY_URL \("ftp:\/\/x"\): must be an http:\/\/ or https:\/\/ URL\n.*USERS_PER_SECOND \("-1"\): Number must be greater than or equal to 0/,
  );
  expect(() =>
    loadSimulatorConfig({ GATEWAY_URL: "http://gw:8080", AWS_SECRET_ACCESS_KEY: "s3cr3t" }),
  ).toThrow(
    /DATA_PREFIX \(unset\): required unless HELDOUT_FILE is set[\s\S]*S3_ENDPOINT_URL \(unset\)[\s\S]*AWS_ACCESS_KEY_ID \(unset\)/,
  );
  expect(loadSimulatorConfig({ GATEWAY_URL: "http://gw:8080/", HELDOUT_FILE: "/x" })).toMatchObject({
    GATEWAY_URL: "http://gw:8080",
    USERS_PER_SECOND: 1,
    SESSION_LENGTH: 5,
    METRICS_PORT: 9400,
  });
});
