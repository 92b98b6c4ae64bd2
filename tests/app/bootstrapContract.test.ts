/**
 * The bootstrap Job (components/app) runs the gateway's own loader (model-server/gateway/src/
 * bootstrap.ts) with exactly the Job's environment and the S3 Secret's variables, against the Ceph
 * RGW of tests/services and a Redis started with the online store's command line: the trainer's
 * online features in the features bucket end up in Redis. Only REDIS_URL is pointed at the test's
 * Redis (the in-cluster name does not resolve here).
 */
import { execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { bootstrapJob } from "../../components/app/gatewayManifests";
import { s3Environment } from "../../components/platform/s3Credentials";
import { bootstrapMain } from "../../model-server/gateway/src/bootstrap";
import { REPO_ROOT } from "../harness";
import { startStoreRedis, StoreRedis } from "./redisKit";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const PASSWORD = "bootstrap-test-password-0001";
/** Bucket names as tests/services/services.sh creates them. */
const BUCKETS = {
  "raw-data": "raw-data",
  "processed-data": "processed-data",
  features: "features",
  models: "models",
  logs: "logs",
  "mlflow-artifacts": "mlflow-artifacts",
  "ray-checkpoints": "ray-checkpoints",
};

function services(): { endpoint: string; accessKey: string; secretKey: string } {
  let env: Record<string, string | undefined> = process.env;
  if (!env.S3_ENDPOINT_URL) {
    const run = spawnSync("bash", [path.join(REPO_ROOT, "tests/services/services.sh"), "env"], {
      encoding: "utf8",
    });
    env = Object.fromEntries(
      [...run.stdout.matchAll(/^export ([A-Z0-9_]+)="?([^"\n]*)"?$/gm)].map((m) => [m[1], m[2]]),
    );
  }
  const { S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY } = env;
  if (!S3_ENDPOINT_URL || !AWS_ACCESS_KEY_ID || !AWS_SECRET_ACCESS_KEY)
    throw new Error("no S3 (Ceph RGW) for this test: run `bash tests/services/services.sh start ceph`");
  return { endpoint: S3_ENDPOINT_URL, accessKey: AWS_ACCESS_KEY_ID, secretKey: AWS_SECRET_ACCESS_KEY };
}

describe("the bootstrap Job's environment loads the online features", () => {
  const s3 = services();
  const secretEnv = s3Environment(s3, BUCKETS) as Record<string, string>;
  const dataset = `test-boot-${crypto.randomBytes(4).toString("hex")}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bootstrap-"));
  let redis: StoreRedis;

  beforeAll(async () => {
    const manifest = {
      format: "ssept-online-sequences/v1",
      dataset,
      version: "2026-11-20",
      maxlen: 3,
      num_users: 2,
      num_items: 9,
      mask_seen_items: true,
      users_written: 2,
    };
    const sequences =
      [JSON.stringify({ user: 1, items: [4, 5, 6] }), JSON.stringify({ user: 2, items: [9] })].join("\n") +
      "\n";
    const upload = [
      "import os, sys, boto3",
      "s3 = boto3.client('s3', endpoint_url=os.environ['S3_ENDPOINT_URL'])",
      "prefix = sys.argv[1]",
      "s3.put_object(Bucket='features', Key=prefix + '/manifest.json', Body=sys.argv[2].encode())",
      "s3.put_object(Bucket='features', Key=prefix + '/sequences.jsonl', Body=sys.argv[3].encode())",
    ].join("\n");
    execFileSync(
      "/usr/bin/python3",
      ["-c", upload, `${dataset}/2026-11-20/online`, JSON.stringify(manifest), sequences],
      {
        env: { ...process.env, ...secretEnv },
      },
    );
    fs.mkdirSync(path.join(dir, "data"));
    redis = await startStoreRedis(path.join(dir, "data"), PASSWORD);
  });

  afterAll(async () => {
    await redis?.stop();
    execFileSync(
      "/usr/bin/python3",
      [
        "-c",
        "import os, sys, boto3; boto3.resource('s3', endpoint_url=os.environ['S3_ENDPOINT_URL']).Bucket('features').objects.filter(Prefix=sys.argv[1] + '/').delete()",
        dataset,
      ],
      { env: { ...process.env, ...secretEnv } },
    );
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("DATASET and FEATURES_VERSION from config, BUCKET_FEATURES and keys from the Secret, the password from redis-auth", async () => {
    const job = bootstrapJob({
      namespace: "serving",
      image: "ghcr.io/sse-pt-platform/gateway:0.1.0",
      features: { dataset, version: "latest" },
      maxlen: 3,
      s3SecretName: "s3-credentials",
    }) as Json;
    const env: Record<string, string> = { ...secretEnv };
    for (const e of job.spec.template.spec.containers[0].env) {
      if (e.value !== undefined) env[e.name] = e.value;
      else if (e.valueFrom?.secretKeyRef?.name === "redis-auth") env[e.name] = PASSWORD;
      else throw new Error(`bootstrap env ${e.name}: a source this test does not resolve`);
    }
    expect(env.REDIS_URL).toBe("redis://redis.serving.svc.cluster.local:6379");
    env.REDIS_URL = redis.url;

    const message = await bootstrapMain(env);
    expect(message).toContain(`loaded ${dataset}/2026-11-20: 2 user sequences`);
    expect(redis.cli("lrange", "ssept:seq:1", "0", "-1")).toBe("4\n5\n6");
    expect(redis.cli("hget", "ssept:meta", "dataset")).toBe(dataset);
  });
});
