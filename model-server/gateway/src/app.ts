import Fastify, { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import type { InferenceBackend } from "./backends/types";
import type { Track } from "./config";
import type { EventLog, GatewayEvent } from "./eventLog";
import type { GatewayMetrics } from "./metrics";
import type { Recommender } from "./recommender";
import { CatalogueMeta, FeatureStore, StoreUnavailable } from "./store";

export interface GatewayDeps {
  store: FeatureStore;
  recommender: Recommender;
  backends: Partial<Record<Track, InferenceBackend>>;
  eventLog: EventLog | null;
  metrics: GatewayMetrics;
  maxK: number;
  defaultK: number;
  maxlen: number;
  bodyLimit: number;
  logger?: boolean;
}

/** A 4xx with a message for the client. */
class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

const userId = z
  .string({ required_error: "is required", invalid_type_error: "must be given once" })
  .regex(/^[1-9][0-9]{0,9}$/, "must be a positive integer user id")
  .transform(Number);

function checked<S extends z.ZodTypeAny>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue.path.length ? issue.path.join(".") : what;
  throw new HttpError(400, `${field}: ${issue.message}`);
}

const EVENT_TYPES = ["view", "click", "rate"] as const;
const TS_FORMAT = "must be an ISO 8601 timestamp or epoch milliseconds";
/** Events whose item counts as a hit when it was in the user's last top-10. */
const HIT_TYPES = new Set<string>(["view", "click"]);

export function buildGateway(deps: GatewayDeps): FastifyInstance {
  const app = Fastify({ logger: deps.logger ?? false, bodyLimit: deps.bodyLimit });
  // JSON only: anything else is a 415, not a string the schema then rejects.
  app.removeContentTypeParser("text/plain");
  const labels = new WeakMap<FastifyRequest, { source: string; track: string }>();
  let metaCache: { meta: CatalogueMeta | null; at: number } = { meta: null, at: 0 };

  async function meta(): Promise<CatalogueMeta> {
    if (!metaCache.meta || Date.now() - metaCache.at > 10_000)
      metaCache = { meta: await deps.store.meta(), at: Date.now() };
    if (!metaCache.meta)
      throw new HttpError(503, "online features are not loaded into Redis yet (run the bootstrap)");
    return metaCache.meta;
  }

  function knownUser(user: number, m: CatalogueMeta): void {
    if (user > m.numUsers) throw new HttpError(404, `user ${user} is unknown: user ids are 1..${m.numUsers}`);
  }

  const recommendationQuery = z.object({
    user: userId,
    k: z
      .string({ invalid_type_error: "must be given once" })
      .regex(/^[0-9]{1,6}$/, "must be an integer")
      .transform(Number)
      .pipe(z.number().min(1, `must be in 1..${deps.maxK}`).max(deps.maxK, `must be in 1..${deps.maxK}`))
      .optional(),
  });

  const eventBody = z
    .object({
      user: z.number().int().positive("must be a positive integer user id"),
      item: z.number().int().positive("must be a positive integer item id"),
      type: z.enum(EVENT_TYPES, {
        errorMap: () => ({ message: `must be one of ${EVENT_TYPES.join(", ")}` }),
      }),
      ts: z
        .union([
          z.string().datetime({ offset: true, message: TS_FORMAT }),
          z.number().int(TS_FORMAT).nonnegative(TS_FORMAT),
        ])
        .optional(),
    })
    .strict();

  app.get("/v1/recommendations", async (request) => {
    const query = checked(recommendationQuery, request.query, "query");
    const m = await meta();
    knownUser(query.user, m);
    const rec = await deps.recommender.recommend(query.user, query.k ?? deps.defaultK, m);
    labels.set(request, { source: rec.source, track: rec.track });
    return rec;
  });

  app.post("/v1/events", async (request, reply) => {
    if (request.body === undefined || request.body === null)
      throw new HttpError(400, "body: expected a JSON object {user, item, type, ts}");
    const event = checked(eventBody, request.body, "body");
    const m = await meta();
    knownUser(event.user, m);
    if (event.item > m.numItems)
      throw new HttpError(422, `item ${event.item} is unknown: item ids are 1..${m.numItems}`);
    const ts = event.ts === undefined ? new Date() : new Date(event.ts);
    const { last } = await deps.store.applyEvent(event.user, event.item, deps.maxlen, Date.now());
    const track = last?.track ?? deps.recommender.trackOf(event.user);
    let hit: boolean | null = null;
    if (last && HIT_TYPES.has(event.type)) {
      hit = last.items.includes(event.item);
      deps.metrics.hitChecks.inc({ track });
      if (hit) deps.metrics.hits.inc({ track });
    }
    deps.metrics.events.inc({ type: event.type });
    const logged: GatewayEvent = {
      user: event.user,
      item: event.item,
      type: event.type,
      ts: ts.toISOString(),
      track,
      hit,
    };
    deps.eventLog?.append(logged);
    labels.set(request, { source: "none", track });
    reply.code(202);
    return { accepted: true, track, hit };
  });

  app.get("/healthz", async () => ({ status: "ok" }));

  app.get("/readyz", async (_request, reply) => {
    const problems: string[] = [];
    try {
      await deps.store.redis.ping();
      if (!(await deps.store.meta())) problems.push("online features not loaded (run the bootstrap)");
    } catch (err) {
      problems.push(`redis: ${(err as Error).message}`);
    }
    for (const [track, backend] of Object.entries(deps.backends) as [Track, InferenceBackend][]) {
      if (!(await backend.ready(AbortSignal.timeout(1000))))
        problems.push(`${track}: ${backend.kind} ${backend.modelName} v${backend.version} not ready`);
    }
    reply.code(problems.length ? 503 : 200);
    return problems.length ? { status: "not ready", problems } : { status: "ready" };
  });

  app.get("/metrics", async (_request, reply) => {
    reply.header("content-type", deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: `no route ${request.method} ${request.url.split("?")[0]}` });
  });

  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof HttpError) return reply.code(err.statusCode).send({ error: err.message });
    if (err instanceof StoreUnavailable) {
      request.log.warn({ err }, "redis unavailable");
      return reply.code(503).send({ error: err.message });
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.code(err.statusCode).send({ error: clientMessage(err) });
    }
    request.log.error({ err }, "unhandled error");
    return reply.code(500).send({ error: "internal error" });
  });

  // On close, requests already running still get their answer, but with `connection: close`, so a
  // keep-alive client cannot hold the server open until keepAliveTimeout (72 s) after SIGTERM.
  let draining = false;
  app.addHook("preClose", async () => {
    draining = true;
  });
  app.addHook("onSend", async (_request, reply, payload) => {
    if (draining) reply.header("connection", "close");
    return payload;
  });

  app.addHook("onResponse", async (request, reply) => {
    const route = request.routeOptions.url ?? "unmatched";
    const l = labels.get(request) ?? { source: "none", track: "none" };
    deps.metrics.requests.inc({ route, method: request.method, code: String(reply.statusCode) });
    deps.metrics.latency.observe({ route, ...l }, reply.elapsedTime / 1000);
  });

  return app;
}

/** Fastify's own 4xx (bad JSON, too large, wrong content type) in words a client can act on. */
function clientMessage(err: FastifyError): string {
  switch (err.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return `body: larger than the limit (${err.message})`;
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return "body: send application/json";
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return "body: empty; expected a JSON object {user, item, type, ts}";
    default:
      return err.statusCode === 400 && err.message.includes("JSON")
        ? `body: invalid JSON (${err.message})`
        : err.message;
  }
}
