import { createClient } from "redis";
import { buildGateway } from "./app";
import { KServeBackend } from "./backends/kserve";
import { OnnxBackend } from "./backends/onnx";
import type { InferenceBackend } from "./backends/types";
import { GatewayConfig, Track, trackVersions } from "./config";
import { EventLog } from "./eventLog";
import { gatewayMetrics } from "./metrics";
import { Recommender } from "./recommender";
import { S3Sink } from "./s3Sink";
import { FeatureStore } from "./store";

/** Online hit-rate is measured on the top-10, whatever k the client asked for. */
const HIT_K = 10;

async function loadBackends(c: GatewayConfig): Promise<Partial<Record<Track, InferenceBackend>>> {
  const backends: Partial<Record<Track, InferenceBackend>> = {};
  for (const [track, version] of Object.entries(trackVersions(c)) as [Track, number][]) {
    backends[track] =
      c.BACKEND === "onnx"
        ? await OnnxBackend.load(c.MODEL_DIR as string, c.MODEL_NAME, version, c.MAXLEN, c.ONNX_THREADS)
        : new KServeBackend(c.TRITON_URL as string, c.MODEL_NAME, version, c.MAXLEN);
  }
  return backends;
}

export async function createGateway(c: GatewayConfig) {
  const redis = createClient({
    url: c.REDIS_URL,
    password: c.REDIS_PASSWORD,
    disableOfflineQueue: true,
    socket: { connectTimeout: 2000, reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2000) },
  });
  // One line per outage, not one per reconnect attempt.
  let redisDown = false;
  redis.on("error", (err: Error) => {
    if (!redisDown) console.error(`redis: ${err.message} (reconnecting)`);
    redisDown = true;
  });
  redis.on("ready", () => {
    if (redisDown) console.error("redis: reconnected");
    redisDown = false;
  });
  await redis.connect();
  const store = new FeatureStore(redis, c.REDIS_KEY_PREFIX);
  const metrics = gatewayMetrics({
    activeUsers: () => store.activeUsers(Date.now() - c.ACTIVE_WINDOW_S * 1000),
    topItems: () => store.topItems(Date.now() - c.ACTIVE_WINDOW_S * 1000, Date.now(), 10),
  });
  const backends = await loadBackends(c);
  const sink =
    c.EVENT_SINK === "s3"
      ? new S3Sink({
          endpoint: c.S3_ENDPOINT_URL as string,
          region: c.AWS_DEFAULT_REGION,
          accessKeyId: c.AWS_ACCESS_KEY_ID as string,
          secretAccessKey: c.AWS_SECRET_ACCESS_KEY as string,
          bucket: c.BUCKET_LOGS,
        })
      : null;
  const eventLog = sink
    ? new EventLog(
        sink,
        {
          prefix: c.EVENT_LOG_PREFIX,
          writer: c.POD_NAME,
          batchMax: c.EVENT_BATCH_MAX,
          flushIntervalMs: c.EVENT_FLUSH_INTERVAL_MS,
          bufferMax: c.EVENT_BATCH_MAX * 50,
        },
        metrics,
        (msg) => console.error(msg),
      )
    : null;
  const recommender = new Recommender(
    store,
    backends,
    {
      canaryWeight: c.CANARY_WEIGHT,
      maxlen: c.MAXLEN,
      timeoutMs: c.INFERENCE_TIMEOUT_MS,
      hitK: HIT_K,
      lastRecsTtlS: c.LAST_RECS_TTL_S,
    },
    metrics,
    c.BREAKER_FAILURES,
    c.BREAKER_COOLDOWN_MS,
  );
  const app = buildGateway({
    store,
    recommender,
    backends,
    eventLog,
    metrics,
    maxK: c.MAX_K,
    defaultK: c.DEFAULT_K,
    maxlen: c.MAXLEN,
    bodyLimit: c.BODY_LIMIT_BYTES,
    logger: process.env.LOG_REQUESTS === "true",
  });

  /** Stops accepting, drains, writes every buffered event, then disconnects; true if nothing was left unwritten. */
  async function close(): Promise<boolean> {
    await app.close();
    await eventLog?.close();
    sink?.close();
    for (const backend of Object.values(backends)) await backend?.close();
    if (redis.isReady) await redis.close();
    else redis.destroy();
    return !eventLog || eventLog.pending === 0;
  }
  return { app, store, eventLog, backends, recommender, metrics, close };
}

export type Gateway = Awaited<ReturnType<typeof createGateway>>;
