import { z } from "zod";
import { httpUrl, intFrom, parseEnv } from "../../common/env";

const schema = z
  .object({
    GATEWAY_URL: httpUrl,
    HELDOUT_FILE: z.string().optional(),
    DATA_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, "must be <dataset>/<version>")
      .optional(),
    HELDOUT_KEYS: z.string().default("split/test.txt"),
    BUCKET_FEATURES: z.string().default("features"),
    S3_ENDPOINT_URL: httpUrl.optional(),
    AWS_DEFAULT_REGION: z.string().default("us-east-1"),
    AWS_ACCESS_KEY_ID: z.string().optional(),
    AWS_SECRET_ACCESS_KEY: z.string().optional(),
    USERS_PER_SECOND: z.coerce.number().min(0).max(10_000).default(1),
    THINK_TIME_MS: intFrom(0, 3_600_000).default(2000),
    SESSION_LENGTH: intFrom(1, 10_000).default(5),
    MAX_ACTIVE_USERS: intFrom(1, 100_000).default(200),
    K: intFrom(1, 1000).default(10),
    REQUEST_TIMEOUT_MS: intFrom(1, 60_000).default(2000),
    DURATION_S: intFrom(0, 31_536_000).default(0),
    METRICS_PORT: intFrom(1, 65535).default(9400),
    SEED: intFrom(0, 2 ** 31 - 1).default(1),
  })
  .superRefine((c, ctx) => {
    if (c.HELDOUT_FILE) return;
    const need = (key: string) =>
      ctx.addIssue({ code: "custom", path: [key], message: "required unless HELDOUT_FILE is set" });
    for (const key of [
      "DATA_PREFIX",
      "S3_ENDPOINT_URL",
      "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY",
    ] as const)
      if (!c[key]) need(key);
  });

export type SimulatorConfig = z.output<typeof schema>;

export function loadSimulatorConfig(env: NodeJS.ProcessEnv = process.env): SimulatorConfig {
  return Object.freeze(parseEnv("simulator", schema, env));
}
