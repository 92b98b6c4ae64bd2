import { bootstrapMain } from "../../model-server/gateway/src/bootstrap";
import { loadGatewayConfig } from "../../model-server/gateway/src/config";
import { Gateway, createGateway } from "../../model-server/gateway/src/gateway";
import type { ModelFixture } from "./services";

let prefixes = 0;

/** A fresh key prefix per gateway, so tests sharing one Redis never see each other's state. */
export function freshPrefix(): string {
  return `t${process.pid}-${Date.now()}-${prefixes++}`;
}

/** The env of an in-process ONNX gateway over the fixture, with `overrides` on top. */
export function gatewayEnv(
  fixture: ModelFixture,
  redisUrl: string,
  prefix: string,
  overrides: NodeJS.ProcessEnv = {},
) {
  return {
    BACKEND: "onnx",
    MODEL_DIR: fixture.repository,
    MODEL_NAME: fixture.modelName,
    STABLE_VERSION: "1",
    MAXLEN: String(fixture.maxlen),
    MAX_K: String(fixture.topK),
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: prefix,
    EVENT_SINK: "none",
    ...overrides,
  };
}

/** Loads the fixture's online features under `prefix`, then starts a gateway on them (not listening). */
export async function startGateway(
  fixture: ModelFixture,
  redisUrl: string,
  overrides: NodeJS.ProcessEnv = {},
): Promise<TestGateway> {
  const prefix = overrides.REDIS_KEY_PREFIX ?? freshPrefix();
  await bootstrapMain({
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: prefix,
    FEATURES_DIR: fixture.onlineDir,
    MAXLEN: String(fixture.maxlen),
  });
  const gw = await createGateway(loadGatewayConfig(gatewayEnv(fixture, redisUrl, prefix, overrides)));
  const url = await gw.app.listen({ port: 0, host: "127.0.0.1" });
  return { ...gw, url };
}

/** A gateway listening on a loopback port: tests talk to it over real HTTP. */
export type TestGateway = Gateway & { url: string };

export interface Reply {
  status: number;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

export async function call(gw: TestGateway, route: string, init: RequestInit = {}): Promise<Reply> {
  const res = await fetch(`${gw.url}${route}`, init);
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON (e.g. /metrics)
  }
  return { status: res.status, text, json };
}

export interface RecBody {
  user: number;
  track: string;
  model: string;
  modelVersion: number;
  source: string;
  fallbackReason?: string;
  items: { item: number; score: number }[];
}

export async function recommend(gw: TestGateway, query: string): Promise<{ status: number; body: RecBody }> {
  const res = await call(gw, `/v1/recommendations?${query}`);
  return { status: res.status, body: res.json };
}

export async function postEvent(gw: TestGateway, payload: unknown) {
  const res = await call(gw, "/v1/events", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(payload),
  });
  return { status: res.status, body: res.json };
}
