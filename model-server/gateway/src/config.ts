import { z } from "zod";
import { httpUrl, intFrom, parseEnv } from "../../common/env";

const schema = z
  .object({
    PORT: intFrom(1, 65535).default(8080),
    HOST: z.string().default("0.0.0.0"),
    REDIS_URL: z
      .string()
      .regex(/^rediss?:\/\/[^\s]+$/, "must be a redis:// or rediss:// URL")
      .default("redis://127.0.0.1:6379"),
    REDIS_PASSWORD: z.string().optional(),
    REDIS_KEY_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]+$/, "letters, digits and _ . : - only")
      .default("ssept"),
    BACKEND: z.enum(["triton", "onnx"]).default("triton"),
    TRITON_URL: httpUrl.optional(),
    MODEL_DIR: z.string().optional(),
    ONNX_THREADS: intFrom(1, 64).default(1),
    MODEL_NAME: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, "a Triton model name (letters, digits, _ . -)")
      .default("ssept-ml-1m"),
    STABLE_VERSION: intFrom(1, 2 ** 31 - 1),
    CANARY_VERSION: intFrom(1, 2 ** 31 - 1).optional(),
    CANARY_WEIGHT: z.coerce.number().min(0).max(1).default(0),
    MAXLEN: intFrom(1, 4096).default(200),
    MAX_K: intFrom(1, 1000).default(100),
    DEFAULT_K: intFrom(1, 1000).default(10),
    INFERENCE_TIMEOUT_MS: intFrom(1, 60_000).default(200),
    BREAKER_FAILURES: intFrom(1, 1000).default(5),
    BREAKER_COOLDOWN_MS: intFrom(1, 600_000).default(5000),
    BODY_LIMIT_BYTES: intFrom(64, 1_048_576).default(4096),
    EVENT_SINK: z.enum(["s3", "none"]).default("s3"),
    S3_ENDPOINT_URL: httpUrl.optional(),
    AWS_DEFAULT_REGION: z.string().default("us-east-1"),
    AWS_ACCESS_KEY_ID: z.string().optional(),
    AWS_SECRET_ACCESS_KEY: z.string().optional(),
    BUCKET_LOGS: z.string().default("logs"),
    EVENT_LOG_PREFIX: z.string().default("gateway-events"),
    EVENT_BATCH_MAX: intFrom(1, 100_000).default(1000),
    EVENT_FLUSH_INTERVAL_MS: intFrom(100, 3_600_000).default(10_000),
    ACTIVE_WINDOW_S: intFrom(1, 86_400).default(300),
    LAST_RECS_TTL_S: intFrom(1, 604_800).default(3600),
    POD_NAME: z.string().default(`gateway-${process.pid}`),
  })
  .superRefine((c, ctx) => {
    const need = (key: string, why: string) => ctx.addIssue({ code: "custom", path: [key], message: why });
    if (c.BACKEND === "triton" && !c.TRITON_URL) need("TRITON_URL", "required when BACKEND=triton");
    if (c.BACKEND === "onnx" && !c.MODEL_DIR) need("MODEL_DIR", "required when BACKEND=onnx");
    if (c.CANARY_WEIGHT > 0 && c.CANARY_VERSION === undefined)
      need("CANARY_VERSION", `required when CANARY_WEIGHT > 0 (is ${c.CANARY_WEIGHT})`);
    if (c.DEFAULT_K > c.MAX_K) need("DEFAULT_K", `must be <= MAX_K (${c.MAX_K})`);
    if (c.EVENT_SINK === "s3") {
      for (const key of ["S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] as const)
        if (!c[key]) need(key, "required when EVENT_SINK=s3");
    }
  });

export type GatewayConfig = z.output<typeof schema>;

export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return Object.freeze(parseEnv("gateway", schema, env));
}

export type Track = "stable" | "canary";

/** The tracks that serve traffic: canary only with a positive weight. */
export function trackVersions(c: GatewayConfig): Partial<Record<Track, number>> {
  return c.CANARY_WEIGHT > 0 && c.CANARY_VERSION !== undefined
    ? { stable: c.STABLE_VERSION, canary: c.CANARY_VERSION }
    : { stable: c.STABLE_VERSION };
}
