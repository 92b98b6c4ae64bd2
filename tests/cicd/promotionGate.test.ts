import { decide, GateThresholds, readStats } from "../../tools/promotion/gate";
import { Prometheus, PrometheusError } from "../../tools/promotion/prometheus";
import { recordedSeries, RunningPrometheus, startPrometheus, Stretch, TrackTraffic } from "./prometheusKit";

// The canary gate's PromQL against a real Prometheus holding recorded series. Each scenario is a
// separate stretch of time; the gate is evaluated 65 minutes into it with a 60-minute window.
const T0 = Date.parse("2026-11-26T00:00:00Z");
const HOUR = 3600_000;
const at = (slot: number) => new Date(T0 + slot * 3 * HOUR + 65 * 60_000);

const healthy: TrackTraffic = {
  rps: 5,
  errorShare: 0.001,
  latency: { "0.025": 0.5, "0.05": 0.4, "0.1": 0.09, "0.25": 0.01 },
  scoredPerSecond: 2,
  hitRate: 0.3,
};
const canaryOk: TrackTraffic = { ...healthy, rps: 1, scoredPerSecond: 0.5, hitRate: 0.305 };

const stretch = (slot: number, tracks: Stretch["tracks"], startMinutes = 0, minutes = 70): Stretch => ({
  start: new Date(T0 + slot * 3 * HOUR + startMinutes * 60_000),
  minutes,
  stepSeconds: 30,
  tracks,
});

const SCENARIOS = {
  promote: 0,
  hrDrop: 1,
  errors: 2,
  slow: 3,
  thin: 4,
  missingCanary: 5,
  lateCanary: 6,
} as const;

const thresholds: GateThresholds = {
  minRequests: 500,
  maxHrDrop: 0.01,
  maxLatencyRatio: 1.2,
  maxErrorRatio: 0.01,
  p95SloMs: 250,
};

let prom: RunningPrometheus;
beforeAll(async () => {
  const s = SCENARIOS;
  prom = await startPrometheus(
    recordedSeries([
      stretch(s.promote, { stable: healthy, canary: canaryOk }),
      stretch(s.hrDrop, { stable: healthy, canary: { ...canaryOk, hitRate: 0.27 } }),
      stretch(s.errors, { stable: healthy, canary: { ...canaryOk, errorShare: 0.05 } }),
      stretch(s.slow, {
        stable: healthy,
        canary: { ...canaryOk, latency: { "0.05": 0.2, "0.1": 0.3, "0.25": 0.4, "0.5": 0.1 } },
      }),
      stretch(s.thin, { stable: healthy, canary: { ...canaryOk, rps: 0.05, scoredPerSecond: 0.02 } }),
      stretch(s.missingCanary, { stable: healthy }),
      stretch(s.lateCanary, { stable: healthy }),
      // The canary of the last scenario starts 55 minutes in: plenty of requests, but 10 minutes old.
      stretch(s.lateCanary, { canary: { ...canaryOk, rps: 20, scoredPerSecond: 10 } }, 55, 15),
    ]),
  );
}, 90_000);
afterAll(() => prom?.stop());

const gate = async (slot: number) =>
  decide(await readStats(new Prometheus(prom.url), 60, at(slot)), thresholds, 60, at(slot));

test("a canary as good as stable over a full window is promoted, with the numbers PromQL gives", async () => {
  const r = await gate(SCENARIOS.promote);
  expect(r.decision).toBe("promote");
  const { stable, canary } = r.stats;
  // 60 min x 60 s x rps, read back through increase() over the window.
  expect(stable!.requests).toBeCloseTo(18000, -2);
  expect(canary!.requests).toBeCloseTo(3600, -1);
  expect(canary!.hr10).toBeCloseTo(0.305, 2);
  expect(stable!.hr10).toBeCloseTo(0.3, 2);
  expect(canary!.errorRatio).toBeCloseTo(0.001, 3);
  // 95th percentile falls in the 0.05-0.1 s bucket: interpolated at (0.95-0.9)/0.09 of the way.
  expect(canary!.p95Ms).toBeGreaterThan(50);
  expect(canary!.p95Ms).toBeLessThan(100);
  expect(canary!.coveredMinutes).toBeGreaterThanOrEqual(59);
  expect(canary!.samples).toBeGreaterThanOrEqual(100);
});

test("a lower online HR@10 rolls back", async () => {
  const r = await gate(SCENARIOS.hrDrop);
  expect(r.decision).toBe("rollback");
  expect(r.reasons).toEqual([
    expect.stringMatching(/^canary HR@10 0\.27\d* more than 0\.01 below stable's 0\.30/),
  ]);
});

test("a 5xx share above the limit rolls back", async () => {
  const r = await gate(SCENARIOS.errors);
  expect(r.decision).toBe("rollback");
  expect(r.reasons).toEqual([
    expect.stringMatching(/^canary error \(fallback\) ratio 0\.05\d* above 0\.01$/),
  ]);
});

test("a slower canary rolls back on the SLO and on the ratio to stable", async () => {
  const r = await gate(SCENARIOS.slow);
  expect(r.decision).toBe("rollback");
  expect(r.reasons).toHaveLength(2);
  expect(r.reasons[0]).toMatch(/above the SLO 250 ms/);
  expect(r.reasons[1]).toMatch(/above 1\.2 x stable's/);
  expect(r.stats.canary!.p95Ms).toBeGreaterThan(250);
});

test("too few requests hold, never promote", async () => {
  const r = await gate(SCENARIOS.thin);
  expect(r.decision).toBe("hold");
  expect(r.reasons).toEqual([
    expect.stringMatching(/^canary: 180 requests, need 500$/),
    expect.stringMatching(/^canary: 72 scored recommendations, need 500$/),
  ]);
});

test("no canary series at all holds", async () => {
  const r = await gate(SCENARIOS.missingCanary);
  expect(r.decision).toBe("hold");
  expect(r.reasons).toEqual([
    expect.stringMatching(/^canary: no data for samples, coveredMinutes, requests, p95Ms, scored/),
  ]);
  expect(r.stats.stable).toBeDefined();
});

test("a canary live for 10 minutes of a 60-minute window holds however busy it is", async () => {
  const r = await gate(SCENARIOS.lateCanary);
  expect(r.decision).toBe("hold");
  expect(r.reasons).toEqual([
    expect.stringMatching(/^canary: serving for 10(\.\d)? of the 60 min soak window, need 54$/),
  ]);
});

test("a time with no data at all holds on both tracks", async () => {
  const r = decide(
    await readStats(new Prometheus(prom.url), 60, new Date(T0 - HOUR)),
    thresholds,
    60,
    new Date(T0 - HOUR),
  );
  expect(r.decision).toBe("hold");
  expect(r.reasons).toHaveLength(2);
});

test("a bad query is an error naming it, not a hold", async () => {
  await expect(new Prometheus(prom.url).byLabel("sum(", "track", at(0))).rejects.toThrow(PrometheusError);
  await expect(new Prometheus("http://127.0.0.1:1").byLabel("up", "track", at(0))).rejects.toThrow(
    /did not answer/,
  );
});
