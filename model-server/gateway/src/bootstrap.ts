import { GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { readFile } from "node:fs/promises";
import * as path from "node:path";
import { createClient } from "redis";
import { z } from "zod";
import { EnvConfigError, booleanFlag, httpUrl, parseEnv } from "../../common/env";
import { s3Client } from "./s3Sink";
import { FeatureStore, RedisClient } from "./store";

export const ONLINE_FORMAT = "ssept-online-sequences/v1";

const manifestSchema = z.object({
  format: z.literal(ONLINE_FORMAT),
  dataset: z.string(),
  version: z.string(),
  maxlen: z.number().int().positive(),
  num_users: z.number().int().positive(),
  num_items: z.number().int().positive(),
  mask_seen_items: z.boolean(),
  users_written: z.number().int().nonnegative(),
});
export type OnlineManifest = z.infer<typeof manifestSchema>;

const recordSchema = z.object({
  user: z.number().int().positive(),
  items: z.array(z.number().int().positive()),
});

export interface LoadedFeatures {
  manifest: OnlineManifest;
  records: { user: number; items: number[] }[];
}

/** Parses and checks `manifest.json` + `sequences.jsonl` as `ssept features` writes them. */
export function parseOnlineFeatures(
  manifestText: string,
  sequencesText: string,
  source: string,
): LoadedFeatures {
  const m = manifestSchema.safeParse(JSON.parse(manifestText));
  if (!m.success)
    throw new Error(
      `${source}/manifest.json: ${m.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  const manifest = m.data;
  const records: LoadedFeatures["records"] = [];
  const lines = sequencesText.split("\n");
  lines.forEach((line, index) => {
    if (line.trim() === "") return;
    const where = `${source}/sequences.jsonl line ${index + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`${where}: not JSON`);
    }
    const r = recordSchema.safeParse(value);
    if (!r.success)
      throw new Error(`${where}: ${r.error.issues[0].path.join(".")}: ${r.error.issues[0].message}`);
    if (r.data.user > manifest.num_users)
      throw new Error(`${where}: user ${r.data.user} > num_users ${manifest.num_users}`);
    const bad = r.data.items.find((i) => i > manifest.num_items);
    if (bad !== undefined) throw new Error(`${where}: item ${bad} > num_items ${manifest.num_items}`);
    if (r.data.items.length > manifest.maxlen)
      throw new Error(`${where}: ${r.data.items.length} items > maxlen ${manifest.maxlen}`);
    records.push(r.data);
  });
  if (records.length !== manifest.users_written)
    throw new Error(`${source}: ${records.length} sequences but the manifest says ${manifest.users_written}`);
  return { manifest, records };
}

/**
 * Replaces the online features in Redis: each user's sequence (capped at `maxlen`), the
 * popularity list counted from them, then the meta hash last, so a gateway only sees a
 * complete load as ready.
 */
export async function loadIntoRedis(redis: RedisClient, prefix: string, f: LoadedFeatures, maxlen: number) {
  const store = new FeatureStore(redis, prefix);
  const counts = new Map<number, number>();
  const chunk = 500;
  for (let start = 0; start < f.records.length; start += chunk) {
    const multi = redis.multi();
    for (const { user, items } of f.records.slice(start, start + chunk)) {
      const key = store.key("seq", user);
      multi.del(key);
      const capped = items.slice(-maxlen);
      if (capped.length) multi.rPush(key, capped.map(String));
      for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
    }
    await multi.exec();
  }
  const popular = store.key("popular");
  const members = [...counts].map(([item, score]) => ({ score, value: String(item) }));
  const multi = redis.multi().del(popular);
  for (let start = 0; start < members.length; start += chunk)
    multi.zAdd(popular, members.slice(start, start + chunk));
  await multi
    .hSet(store.key("meta"), {
      num_users: String(f.manifest.num_users),
      num_items: String(f.manifest.num_items),
      maxlen: String(f.manifest.maxlen),
      mask_seen_items: String(f.manifest.mask_seen_items),
      dataset: f.manifest.dataset,
      version: f.manifest.version,
      loaded_at: new Date().toISOString(),
    })
    .exec();
  return { users: f.records.length, items: counts.size };
}

async function s3Text(client: S3Client, bucket: string, key: string): Promise<string> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (!out.Body) throw new Error(`s3://${bucket}/${key}: empty response`);
  return out.Body.transformToString("utf-8");
}

/** The greatest `<dataset>/<version>` holding online/manifest.json (the trainer's "latest"). */
async function latestVersion(client: S3Client, bucket: string, dataset: string): Promise<string> {
  const versions = new Set<string>();
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: `${dataset}/`, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? [])
      if (o.Key?.endsWith("/online/manifest.json")) versions.add(o.Key.split("/")[1]);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  if (!versions.size) throw new Error(`s3://${bucket}/${dataset}/: no <version>/online/manifest.json`);
  return [...versions].sort().at(-1) as string;
}

const envSchema = z
  .object({
    REDIS_URL: z.string().regex(/^rediss?:\/\//, "must be a redis:// or rediss:// URL"),
    REDIS_PASSWORD: z.string().optional(),
    REDIS_KEY_PREFIX: z.string().default("ssept"),
    MAXLEN: z.coerce.number().int().positive().default(200),
    FEATURES_DIR: z.string().optional(),
    DATASET: z.string().optional(),
    FEATURES_VERSION: z.string().default("latest"),
    S3_ENDPOINT_URL: httpUrl.optional(),
    AWS_DEFAULT_REGION: z.string().default("us-east-1"),
    AWS_ACCESS_KEY_ID: z.string().optional(),
    AWS_SECRET_ACCESS_KEY: z.string().optional(),
    BUCKET_FEATURES: z.string().default("features"),
    SKIP_IF_LOADED: booleanFlag.default("true"),
  })
  .superRefine((c, ctx) => {
    if (c.FEATURES_DIR) return;
    for (const key of ["DATASET", "S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] as const)
      if (!c[key])
        ctx.addIssue({ code: "custom", path: [key], message: "required unless FEATURES_DIR is set" });
  });

export async function bootstrapMain(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const c = parseEnv("bootstrap", envSchema, env);
  let features: LoadedFeatures;
  if (c.FEATURES_DIR) {
    const dir = c.FEATURES_DIR;
    const [manifest, sequences] = await Promise.all([
      readFile(path.join(dir, "manifest.json"), "utf-8"),
      readFile(path.join(dir, "sequences.jsonl"), "utf-8"),
    ]);
    features = parseOnlineFeatures(manifest, sequences, dir);
  } else {
    const client = s3Client({
      endpoint: c.S3_ENDPOINT_URL as string,
      region: c.AWS_DEFAULT_REGION,
      accessKeyId: c.AWS_ACCESS_KEY_ID as string,
      secretAccessKey: c.AWS_SECRET_ACCESS_KEY as string,
    });
    const dataset = c.DATASET as string;
    const version =
      c.FEATURES_VERSION === "latest"
        ? await latestVersion(client, c.BUCKET_FEATURES, dataset)
        : c.FEATURES_VERSION;
    const prefix = `${dataset}/${version}/online`;
    const [manifest, sequences] = await Promise.all([
      s3Text(client, c.BUCKET_FEATURES, `${prefix}/manifest.json`),
      s3Text(client, c.BUCKET_FEATURES, `${prefix}/sequences.jsonl`),
    ]);
    client.destroy();
    features = parseOnlineFeatures(manifest, sequences, `s3://${c.BUCKET_FEATURES}/${prefix}`);
  }
  if (features.manifest.maxlen > c.MAXLEN)
    throw new Error(`MAXLEN ${c.MAXLEN}: the features were written with maxlen ${features.manifest.maxlen}`);
  const redis = createClient({ url: c.REDIS_URL, password: c.REDIS_PASSWORD });
  await redis.connect();
  try {
    const loaded = await new FeatureStore(redis, c.REDIS_KEY_PREFIX).meta();
    const { dataset, version } = features.manifest;
    if (c.SKIP_IF_LOADED && loaded?.dataset === dataset && loaded.version === version)
      return `bootstrap: ${dataset}/${version} already loaded, nothing to do`;
    const n = await loadIntoRedis(redis, c.REDIS_KEY_PREFIX, features, c.MAXLEN);
    return `bootstrap: loaded ${dataset}/${version}: ${n.users} user sequences, ${n.items} distinct items`;
  } finally {
    await redis.close();
  }
}

if (require.main === module) {
  bootstrapMain()
    .then((msg) => console.log(msg))
    .catch((err: Error) => {
      console.error(err instanceof EnvConfigError ? err.message : `bootstrap failed: ${err.message}`);
      process.exit(1);
    });
}
