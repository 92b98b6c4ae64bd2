import { DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { createClient } from "redis";
import { bootstrapMain, parseOnlineFeatures } from "../../model-server/gateway/src/bootstrap";
import { FeatureStore, RedisClient } from "../../model-server/gateway/src/store";
import { loadSimulatorConfig } from "../../model-server/simulator/src/config";
import { loadHeldOut } from "../../model-server/simulator/src/heldout";
import {
  ModelFixture,
  RedisServer,
  S3Env,
  exportModelFixture,
  servicesS3,
  servicesS3Client,
  startRedis,
} from "./services";

let fixture: ModelFixture;
let redis: RedisServer;
let client: RedisClient;
let s3env: S3Env;
let s3: S3Client;
const dataset = `bootstrap-test-${process.pid}-${Date.now()}`;

beforeAll(async () => {
  s3env = servicesS3();
  s3 = servicesS3Client(s3env);
  fixture = exportModelFixture();
  redis = await startRedis();
  client = createClient({ url: redis.url });
  await client.connect();
}, 120_000);

afterAll(async () => {
  const listed = await s3
    .send(new ListObjectsV2Command({ Bucket: "features", Prefix: `${dataset}/` }))
    .catch(() => null);
  const keys = (listed?.Contents ?? []).map((o) => ({ Key: o.Key as string }));
  if (keys.length) await s3.send(new DeleteObjectsCommand({ Bucket: "features", Delete: { Objects: keys } }));
  s3?.destroy();
  await client?.close();
  await redis?.stop();
  fixture?.remove();
});

const online = (name: string) => readFileSync(path.join(fixture.onlineDir, name), "utf-8");

async function put(key: string, body: string) {
  await s3.send(new PutObjectCommand({ Bucket: "features", Key: key, Body: body }));
}

test("loads the latest version's online features from the RGW bucket, once", async () => {
  const manifest = JSON.parse(online("manifest.json"));
  for (const version of ["2026-11-01", "2026-11-20"]) {
    await put(
      `${dataset}/${version}/online/manifest.json`,
      JSON.stringify({ ...manifest, dataset, version }),
    );
    await put(`${dataset}/${version}/online/sequences.jsonl`, online("sequences.jsonl"));
  }
  await put(`${dataset}/2026-12-01/split/test.txt`, readFileSync(fixture.heldout, "utf-8")); // no online/: not "latest"
  const env = { ...s3env, REDIS_URL: redis.url, REDIS_KEY_PREFIX: "boot", DATASET: dataset, MAXLEN: "20" };
  expect(await bootstrapMain(env)).toBe(
    `bootstrap: loaded ${dataset}/2026-11-20: 35 user sequences, 80 distinct items`,
  );
  const store = new FeatureStore(client, "boot");
  expect(await store.meta()).toEqual({
    numUsers: 40,
    numItems: 80,
    maxlen: 20,
    maskSeenItems: true,
    dataset,
    version: "2026-11-20",
  });
  const first = JSON.parse(online("sequences.jsonl").split("\n")[0]);
  expect(await store.sequence(first.user, 20)).toEqual(first.items);
  const counts = new Map<number, number>();
  for (const line of online("sequences.jsonl").trim().split("\n"))
    for (const item of JSON.parse(line).items) counts.set(item, (counts.get(item) ?? 0) + 1);
  const top = [...counts].sort((a, b) => b[1] - a[1])[0];
  expect((await store.popular(1))[0].score).toBe(top[1]);
  expect(await bootstrapMain(env)).toBe(`bootstrap: ${dataset}/2026-11-20 already loaded, nothing to do`);
  expect(await bootstrapMain({ ...env, FEATURES_VERSION: "2026-11-01" })).toMatch(/loaded .*2026-11-01/);
});

test("the simulator reads its held-out users from the same bucket", async () => {
  await put(`${dataset}/2026-11-20/split/test.txt`, readFileSync(fixture.heldout, "utf-8"));
  const users = await loadHeldOut(
    loadSimulatorConfig({ ...s3env, GATEWAY_URL: "http://gw:8080", DATA_PREFIX: `${dataset}/2026-11-20` }),
  );
  const lines = readFileSync(fixture.heldout, "utf-8").trim().split("\n");
  expect(users).toHaveLength(lines.length);
  expect(users[0]).toEqual({ user: Number(lines[0].split(" ")[0]), items: [Number(lines[0].split(" ")[1])] });
});

test("bad features are refused with the file and line named, and nothing is loaded", async () => {
  const manifest = online("manifest.json");
  const src = "s3://features/x/online";
  expect(() =>
    parseOnlineFeatures(manifest, '{"user":1,"items":[1,2]}\n{"user":2,"items":[81]}\n', src),
  ).toThrow(`${src}/sequences.jsonl line 2: item 81 > num_items 80`);
  expect(() => parseOnlineFeatures(manifest, "{oops\n", src)).toThrow(
    `${src}/sequences.jsonl line 1: not JSON`,
  );
  expect(() => parseOnlineFeatures(manifest, '{"user":0,"items":[]}\n', src)).toThrow(
    `${src}/sequences.jsonl line 1: user: Number must be greater than 0`,
  );
  expect(() => parseOnlineFeatures(manifest, '{"user":1,"items":[1]}\n', src)).toThrow(
    `${src}: 1 sequences but the manifest says 35`,
  );
  expect(() => parseOnlineFeatures('{"format":"other"}', "", src)).toThrow(
    /manifest.json: format: Invalid literal value/,
  );
  await expect(
    bootstrapMain({ REDIS_URL: redis.url, MAXLEN: "10", FEATURES_DIR: fixture.onlineDir }),
  ).rejects.toThrow("MAXLEN 10: the features were written with maxlen 20");
  await expect(bootstrapMain({ REDIS_URL: redis.url })).rejects.toThrow(
    /DATASET \(unset\): required unless FEATURES_DIR is set/,
  );
  await expect(
    bootstrapMain({
      ...s3env,
      REDIS_URL: redis.url,
      DATASET: `${dataset}-missing`,
      REDIS_KEY_PREFIX: "none",
    }),
  ).rejects.toThrow(`s3://features/${dataset}-missing/: no <version>/online/manifest.json`);
  expect(await new FeatureStore(client, "none").meta()).toBeNull();
});
