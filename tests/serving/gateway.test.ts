/** @jest-environment ./tests/serving/hostTypedArrays.environment.js */
import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { METRIC_CATALOG } from "../../components/platform/metricCatalog";
import { userBucket } from "../../model-server/gateway/src/tracks";
import { TestGateway, call, postEvent, recommend, startGateway } from "./gatewayKit";
import { ModelFixture, RedisServer, exportModelFixture, freePort, startRedis } from "./services";

let fixture: ModelFixture;
let redis: RedisServer;
const open: TestGateway[] = [];

beforeAll(async () => {
  fixture = exportModelFixture();
  redis = await startRedis();
}, 120_000);

afterAll(async () => {
  for (const gw of open) await gw.close().catch(() => undefined);
  await redis?.stop();
  fixture?.remove();
});

async function gateway(overrides: NodeJS.ProcessEnv = {}): Promise<TestGateway> {
  const gw = await startGateway(fixture, redis.url, overrides);
  open.push(gw);
  return gw;
}

function onlineSequence(user: number): number[] {
  const lines = readFileSync(path.join(fixture.onlineDir, "sequences.jsonl"), "utf-8").trim().split("\n");
  const record = lines.map((l) => JSON.parse(l)).find((r) => r.user === user);
  return record ? record.items : [];
}

describe("recommendations from the real exported model", () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await gateway();
  });

  test("the bootstrap loaded each user's sequence and the catalogue", async () => {
    expect(await gw.store.sequence(1, fixture.maxlen)).toEqual(onlineSequence(1));
    expect(await gw.store.meta()).toMatchObject({
      numUsers: 40,
      numItems: 80,
      maxlen: 20,
      maskSeenItems: true,
    });
  });

  test("top-k equals PyTorch's for the same user and sequence", async () => {
    for (const user of [1, 2, 3]) {
      const { status, body } = await recommend(gw, `user=${user}&k=10`);
      expect(status).toBe(200);
      expect(body).toMatchObject({
        user,
        track: "stable",
        model: "ssept-test",
        modelVersion: 1,
        source: "model",
      });
      const want = fixture.expected["1"][String(user)];
      expect(body.items.map((i) => i.item)).toEqual(want.items.slice(0, 10));
      body.items.forEach((i, n) => expect(i.score).toBeCloseTo(want.scores[n], 4));
      expect(body.items.some((i) => onlineSequence(user).includes(i.item))).toBe(false);
    }
  });

  test("k defaults to 10 and may be as large as the graph's top-k", async () => {
    expect((await recommend(gw, "user=4")).body.items).toHaveLength(10);
    expect((await recommend(gw, `user=4&k=${fixture.topK}`)).body.items).toHaveLength(fixture.topK);
  });

  test("an event changes the next recommendation and is counted as a hit", async () => {
    const before = (await recommend(gw, "user=5&k=10")).body;
    const top = before.items[0].item;
    const ev = await postEvent(gw, { user: 5, item: top, type: "view", ts: "2026-11-30T12:00:00Z" });
    expect(ev).toEqual({ status: 202, body: { accepted: true, track: "stable", hit: true } });
    const seq = await gw.store.sequence(5, fixture.maxlen);
    expect(seq.at(-1)).toBe(top);
    expect(seq.length).toBeLessThanOrEqual(fixture.maxlen);
    const after = (await recommend(gw, "user=5&k=10")).body;
    expect(after.source).toBe("model");
    expect(after.items.map((i) => i.item)).not.toContain(top);
    expect(after.items.map((i) => i.item)).not.toEqual(before.items.map((i) => i.item));
    const miss = await postEvent(gw, { user: 5, item: onlineSequence(5)[0], type: "click" });
    expect(miss.body.hit).toBe(false);
    const metrics = (await call(gw, "/metrics")).text;
    expect(metrics).toMatch(/ssept_gateway_online_hits_total\{track="stable"\} 1\n/);
    expect(metrics).toMatch(/ssept_gateway_online_hit_checks_total\{track="stable"\} 2\n/);
    expect(metrics).toMatch(/ssept_gateway_events_total\{type="view"\} 1\n/);
  });

  test("the per-user sequence stays capped at maxlen as events arrive", async () => {
    for (let i = 1; i <= fixture.maxlen + 5; i++) await postEvent(gw, { user: 6, item: i, type: "rate" });
    const seq = await gw.store.sequence(6, 1000);
    expect(seq).toEqual(Array.from({ length: fixture.maxlen }, (_, i) => i + 6));
  });

  test("a cold-start user gets the popularity list, without already-seen items, marked as fallback", async () => {
    const { status, body } = await recommend(gw, "user=38&k=5");
    expect(status).toBe(200);
    expect(body).toMatchObject({ source: "fallback", fallbackReason: "cold_start", track: "stable" });
    const popular = await gw.store.popular(5);
    expect(body.items).toEqual(popular);
    const counts = body.items.map((i) => i.score);
    expect([...counts].sort((a, b) => b - a)).toEqual(counts);
  });

  test("metrics: latency by route/source/track, recommendations by source, coverage, active users", async () => {
    const text = (await call(gw, "/metrics")).text;
    expect(text).toMatch(
      /ssept_gateway_request_duration_seconds_bucket\{le="[0-9.]+",route="\/v1\/recommendations",source="model",track="stable"\}/,
    );
    expect(text).toMatch(/ssept_gateway_recommendations_total\{track="stable",source="fallback"\} [1-9]/);
    expect(text).toMatch(/ssept_gateway_fallbacks_total\{track="stable",reason="cold_start"\} [1-9]/);
    expect(text).toMatch(
      /ssept_gateway_requests_total\{route="\/v1\/recommendations",method="GET",code="200"\}/,
    );
    const coverage = Number(/^ssept_gateway_catalogue_coverage (\S+)$/m.exec(text)?.[1]);
    expect(coverage).toBeGreaterThan(0.1);
    expect(coverage).toBeLessThanOrEqual(1);
    expect(Number(/^ssept_gateway_active_users (\S+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(5);
    expect(text).toMatch(
      /ssept_gateway_model_version_info\{track="stable",model="ssept-test",version="1",backend="onnx"\} 1/,
    );
    // Popularity bias: the cold-start user's popular items sit in the top 10% of the ranking.
    const series = (re: RegExp) => Number(re.exec(text)?.[1]);
    expect(
      series(/^ssept_gateway_recommended_item_popularity_count\{track="stable"\} (\S+)$/m),
    ).toBeGreaterThan(20);
    expect(
      series(/^ssept_gateway_recommended_item_popularity_bucket\{le="0.1",track="stable"\} (\S+)$/m),
    ).toBeGreaterThanOrEqual(5);
    const top = [...text.matchAll(/^ssept_gateway_top_item_events\{item="(\d+)"\} (\S+)$/gm)];
    expect(top.length).toBeGreaterThan(0);
    expect(top.length).toBeLessThanOrEqual(10);
    expect(Math.max(...top.map((m) => Number(m[2])))).toBeGreaterThanOrEqual(1);
  });

  test("every gateway metric the dashboards and alerts query is exported", async () => {
    const text = (await call(gw, "/metrics")).text;
    // Declared families (a labelled series appears only once observed); histograms as Prometheus stores them.
    const exported = new Set(
      [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) =>
        type === "histogram" ? [`${name}_bucket`, `${name}_count`, `${name}_sum`] : [name],
      ),
    );
    for (const name of [...METRIC_CATALOG.gateway, ...(METRIC_CATALOG["gateway (requested)"] ?? [])])
      expect({ name, exported: exported.has(name) }).toEqual({ name, exported: true });
  });

  test("health and readiness", async () => {
    expect((await call(gw, "/healthz")).status).toBe(200);
    const ready = await call(gw, "/readyz");
    expect([ready.status, ready.json]).toEqual([200, { status: "ready" }]);
  });
});

describe("every bad input is a 4xx with a message", () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await gateway({ BODY_LIMIT_BYTES: "256" });
  });

  test.each([
    ["", 400, /user: is required/],
    ["user=abc", 400, /user: must be a positive integer user id/],
    ["user=0", 400, /user: must be a positive integer/],
    ["user=-3", 400, /user: must be a positive integer/],
    ["user=1.5", 400, /user: must be a positive integer/],
    ["user=1&user=2", 400, /user: must be given once/],
    ["user=41", 404, /user 41 is unknown: user ids are 1\.\.40/],
    ["user=1&k=0", 400, /k: must be in 1\.\.20/],
    ["user=1&k=21", 400, /k: must be in 1\.\.20/],
    ["user=1&k=ten", 400, /k: must be an integer/],
    ["user=1&k=-1", 400, /k: must be an integer/],
  ])("GET /v1/recommendations?%s → %d", async (query, code, message) => {
    const res = await call(gw, `/v1/recommendations?${query}`);
    expect(res.status).toBe(code);
    expect(res.json.error).toMatch(message);
  });

  const json = { "content-type": "application/json" };
  test.each([
    ["not JSON", json, "{user: 1", 400, /body: invalid JSON/],
    ["empty", json, "", 400, /body: empty/],
    ["a JSON array", json, "[1,2]", 400, /body: Expected object, received array/],
    ["JSON null", json, "null", 400, /body: expected a JSON object/],
    ["text/plain", { "content-type": "text/plain" }, "hello", 415, /send application\/json/],
    [
      "too large",
      json,
      JSON.stringify({ user: 1, item: 2, type: "view", pad: "x".repeat(400) }),
      413,
      /larger than the limit/,
    ],
    [
      "unknown type",
      json,
      '{"user":1,"item":2,"type":"purchase"}',
      400,
      /type: must be one of view, click, rate/,
    ],
    ["missing item", json, '{"user":1,"type":"view"}', 400, /item: Required/],
    [
      "string user",
      json,
      '{"user":"1","item":2,"type":"view"}',
      400,
      /user: Expected number, received string/,
    ],
    ["item 0", json, '{"user":1,"item":0,"type":"view"}', 400, /item: must be a positive integer item id/],
    ["bad ts", json, '{"user":1,"item":2,"type":"view","ts":"yesterday"}', 400, /ts: must be an ISO 8601/],
    [
      "extra field",
      json,
      '{"user":1,"item":2,"type":"view","price":3}',
      400,
      /Unrecognized key\(s\) in object: 'price'/,
    ],
    ["unknown user", json, '{"user":99,"item":2,"type":"view"}', 404, /user 99 is unknown/],
    [
      "unknown item",
      json,
      '{"user":1,"item":81,"type":"view"}',
      422,
      /item 81 is unknown: item ids are 1\.\.80/,
    ],
  ])("POST /v1/events with %s → %d", async (_what, headers, payload, code, message) => {
    const res = await call(gw, "/v1/events", { method: "POST", headers, body: payload });
    expect(res.status).toBe(code);
    expect(res.json.error).toMatch(message);
  });

  test("unknown routes and methods are 404 with the route named", async () => {
    const res = await call(gw, "/v1/recommendations?user=1", { method: "DELETE" });
    expect([res.status, res.json.error]).toEqual([404, "no route DELETE /v1/recommendations"]);
  });

  test("no bad input reached a 5xx", async () => {
    const text = (await call(gw, "/metrics")).text;
    expect(text).not.toMatch(/ssept_gateway_requests_total\{[^}]*code="5\d\d"\}/);
    expect(text).toMatch(/ssept_gateway_requests_total\{[^}]*code="413"\} 1/);
  });
});

describe("canary track", () => {
  test("users are split by a stable hash; canary users get version 2", async () => {
    const gw = await gateway({ CANARY_VERSION: "2", CANARY_WEIGHT: "0.5" });
    const tracks: Record<string, number[]> = { stable: [], canary: [] };
    for (let user = 1; user <= 35; user++) {
      const a = (await recommend(gw, `user=${user}`)).body;
      const b = (await recommend(gw, `user=${user}`)).body;
      expect(b.track).toBe(a.track);
      expect(a.track).toBe(userBucket(String(user)) < 5000 ? "canary" : "stable");
      expect(a.modelVersion).toBe(a.track === "canary" ? 2 : 1);
      tracks[a.track].push(user);
    }
    expect(tracks.canary.length).toBeGreaterThan(8);
    expect(tracks.stable.length).toBeGreaterThan(8);
    for (const user of Object.keys(fixture.expected["2"]).map(Number)) {
      const body = (await recommend(gw, `user=${user}&k=5`)).body;
      const version = body.track === "canary" ? "2" : "1";
      expect(body.items.map((i) => i.item)).toEqual(
        fixture.expected[version][String(user)].items.slice(0, 5),
      );
    }
  });

  test("weight 0 serves only stable even when a canary version is configured", async () => {
    const gw = await gateway({ CANARY_VERSION: "2", CANARY_WEIGHT: "0" });
    for (let user = 1; user <= 20; user++)
      expect((await recommend(gw, `user=${user}`)).body.track).toBe("stable");
    expect(Object.keys(gw.backends)).toEqual(["stable"]);
  });
});

/** A backend stand-in for failure modes only: it never serves a model. */
async function misbehavingServer(
  handler: http.RequestListener,
): Promise<{ url: string; hits: () => number; close(): void }> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits++;
    handler(req, res);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    hits: () => hits,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

describe("backend down, slow or failing → popularity fallback, and the breaker opens", () => {
  test("unreachable Triton: fallback, then circuit_open after BREAKER_FAILURES", async () => {
    const port = await freePort();
    const gw = await gateway({
      BACKEND: "triton",
      TRITON_URL: `http://127.0.0.1:${port}`,
      BREAKER_FAILURES: "3",
      BREAKER_COOLDOWN_MS: "60000",
    });
    const reasons = [];
    for (let i = 0; i < 5; i++) {
      const { status, body } = await recommend(gw, "user=1&k=5");
      expect(status).toBe(200);
      expect(body.source).toBe("fallback");
      expect(body.items).toHaveLength(5);
      expect(body.items.some((it) => onlineSequence(1).includes(it.item))).toBe(false);
      reasons.push(body.fallbackReason);
    }
    expect(reasons).toEqual(["unreachable", "unreachable", "unreachable", "circuit_open", "circuit_open"]);
    const text = (await call(gw, "/metrics")).text;
    expect(text).toMatch(/ssept_gateway_circuit_state\{track="stable"\} 2/);
    const ready = await call(gw, "/readyz");
    expect(ready.status).toBe(503);
    expect(ready.json.problems[0]).toMatch(/stable: triton ssept-test v1 not ready/);
  });

  test("slow Triton: the deadline gives a fallback in time", async () => {
    const slow = await misbehavingServer(() => {
      /* never answers */
    });
    const gw = await gateway({ BACKEND: "triton", TRITON_URL: slow.url, INFERENCE_TIMEOUT_MS: "150" });
    const started = Date.now();
    const { body } = await recommend(gw, "user=2");
    expect(Date.now() - started).toBeLessThan(1500);
    expect(body).toMatchObject({ source: "fallback", fallbackReason: "timeout" });
    slow.close();
  });

  test("failing Triton (HTTP 500 with a KServe error body): fallback; after the cooldown one trial closes the breaker", async () => {
    let healthy = false;
    const flaky = await misbehavingServer((req, res) => {
      if (!healthy) {
        res.writeHead(500, { "content-type": "application/json" }).end('{"error":"model crashed"}');
        return;
      }
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        const batch = JSON.parse(body).inputs[0].shape[0];
        res.writeHead(200, { "content-type": "application/json" }).end(
          JSON.stringify({
            model_name: "ssept-test",
            model_version: "1",
            outputs: [
              { name: "top_items", datatype: "INT64", shape: [batch, 3], data: [7, 8, 9] },
              { name: "top_scores", datatype: "FP32", shape: [batch, 3], data: [3, 2, 1] },
            ],
          }),
        );
      });
    });
    const gw = await gateway({
      BACKEND: "triton",
      TRITON_URL: flaky.url,
      BREAKER_FAILURES: "2",
      BREAKER_COOLDOWN_MS: "300",
    });
    expect((await recommend(gw, "user=3")).body.fallbackReason).toBe("error");
    expect((await recommend(gw, "user=3")).body.fallbackReason).toBe("error");
    const hitsWhenOpened = flaky.hits();
    expect((await recommend(gw, "user=3")).body.fallbackReason).toBe("circuit_open");
    expect(flaky.hits()).toBe(hitsWhenOpened);
    healthy = true;
    await new Promise((r) => setTimeout(r, 350));
    const recovered = (await recommend(gw, "user=3&k=3")).body;
    expect(recovered).toMatchObject({ source: "model", modelVersion: 1 });
    expect(recovered.items).toEqual([
      { item: 7, score: 3 },
      { item: 8, score: 2 },
      { item: 9, score: 1 },
    ]);
    expect(gw.recommender.breakers.stable?.state).toBe("closed");
    flaky.close();
  });
});

describe("Redis outage", () => {
  test("requests get 503 with a message and readiness fails", async () => {
    const own = await startRedis();
    const gw = await startGateway(fixture, own.url);
    open.push(gw);
    expect((await recommend(gw, "user=1")).status).toBe(200);
    await own.stop();
    await new Promise((r) => setTimeout(r, 200));
    const res = await call(gw, "/v1/recommendations?user=1");
    expect(res.status).toBe(503);
    expect(res.json.error).toMatch(/feature store unavailable/);
    expect((await postEvent(gw, { user: 1, item: 2, type: "view" })).status).toBe(503);
    expect((await call(gw, "/readyz")).status).toBe(503);
  });
});
