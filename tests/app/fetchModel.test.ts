/**
 * Triton's init container (k8s-manifests/serving/fetch-model.py) against the real Ceph RGW of
 * tests/services/services.sh: a repository written by the trainer's own triton_repository.py is
 * uploaded, and the script must copy exactly the tracks' versions with the config the component
 * composes, and fail naming the missing key otherwise.
 */
import { execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { FETCH_SCRIPT_FILE, tritonConfigSuffix } from "../../components/app/tritonManifests";
import { REPO_ROOT } from "../harness";

const PYTHON = "/usr/bin/python3";
const BUCKET = "models";

/** The RGW's endpoint and keys: the environment, else `services.sh env`. */
function s3Env(): Record<string, string> {
  const keys = ["S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"];
  let env: Record<string, string | undefined> = process.env;
  if (!env.S3_ENDPOINT_URL) {
    const run = spawnSync("bash", [path.join(REPO_ROOT, "tests/services/services.sh"), "env"], {
      encoding: "utf8",
    });
    env = Object.fromEntries(
      [...run.stdout.matchAll(/^export ([A-Z0-9_]+)="?([^"\n]*)"?$/gm)].map((m) => [m[1], m[2]]),
    );
  }
  const missing = keys.filter((k) => !env[k]);
  if (missing.length > 0) {
    throw new Error(
      `no S3 (Ceph RGW) for this test: run \`bash tests/services/services.sh start ceph\` (missing ${missing.join(", ")})`,
    );
  }
  return {
    ...Object.fromEntries(keys.map((k) => [k, env[k] as string])),
    AWS_DEFAULT_REGION: "us-east-1",
    AWS_REQUEST_CHECKSUM_CALCULATION: "WHEN_REQUIRED",
    AWS_RESPONSE_CHECKSUM_VALIDATION: "WHEN_REQUIRED",
  };
}

/** Runs Python with boto3 and the trainer package on the path. */
function python(code: string, env: Record<string, string>): string {
  return execFileSync(PYTHON, ["-c", code], {
    encoding: "utf8",
    env: { ...process.env, ...env, PYTHONPATH: path.join(REPO_ROOT, "trainer-image") },
  });
}

describe("fetch-model.py against Ceph RGW", () => {
  const env = s3Env();
  const prefix = `test-fetch-${crypto.randomBytes(4).toString("hex")}/triton`;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "fetch-model-"));
  const models: Record<string, Buffer> = {};

  beforeAll(() => {
    // The trainer's exporter writes the repository (versions 3, 4 and 5); each "model" is distinct bytes.
    const local = path.join(work, "exported");
    for (const v of [3, 4, 5]) {
      models[v] = crypto.randomBytes(2048 + v);
      fs.writeFileSync(path.join(work, `m${v}.onnx`), models[v]);
    }
    python(
      [
        "import sys, pathlib, boto3",
        "from ssept.triton_repository import write_repository",
        `root = pathlib.Path(${JSON.stringify(local)})`,
        "for v in (3, 4, 5):",
        `    write_repository(root, 'ssept-test', v, pathlib.Path(${JSON.stringify(work)}) / f'm{v}.onnx', maxlen=200, k=10)`,
        "s3 = boto3.client('s3', endpoint_url=__import__('os').environ['S3_ENDPOINT_URL'])",
        "for p in root.rglob('*'):",
        "    if p.is_file():",
        `        s3.upload_file(str(p), ${JSON.stringify(BUCKET)}, ${JSON.stringify(prefix)} + '/' + str(p.relative_to(root)))`,
      ].join("\n"),
      env,
    );
  });

  afterAll(() => {
    python(
      [
        "import os, boto3",
        "s3 = boto3.resource('s3', endpoint_url=os.environ['S3_ENDPOINT_URL'])",
        `s3.Bucket(${JSON.stringify(BUCKET)}).objects.filter(Prefix=${JSON.stringify(prefix.split("/")[0] + "/")}).delete()`,
      ].join("\n"),
      env,
    );
    fs.rmSync(work, { recursive: true, force: true });
  });

  function fetch(extra: Record<string, string>) {
    const repository = fs.mkdtempSync(path.join(work, "repo-"));
    const run = spawnSync(PYTHON, [FETCH_SCRIPT_FILE], {
      encoding: "utf8",
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        ...env,
        MODEL_BUCKET: BUCKET,
        MODEL_PREFIX: prefix,
        MODEL_NAME: "ssept-test",
        MODEL_CONFIG: "cpu",
        REPOSITORY: repository,
        ...extra,
      },
    });
    return { ...run, repository };
  }

  test("copies exactly the tracks' versions and the CPU config with the version policy and threads appended", () => {
    const suffix = tritonConfigSuffix({ versions: [3, 4], gpu: false, cpuLimit: "2" });
    const run = fetch({ MODEL_VERSIONS: "4 3", MODEL_CONFIG_APPEND: suffix });
    expect([run.status, run.stderr]).toEqual([0, ""]);
    expect(run.stdout).toContain("ssept-test versions 3 4 (cpu)");
    const dir = path.join(run.repository, "ssept-test");
    expect(fs.readdirSync(dir).sort()).toEqual(["3", "4", "config.pbtxt"]);
    expect(fs.readFileSync(path.join(dir, "3", "model.onnx"))).toEqual(models[3]);
    expect(fs.readFileSync(path.join(dir, "4", "model.onnx"))).toEqual(models[4]);
    const config = fs.readFileSync(path.join(dir, "config.pbtxt"), "utf8");
    expect(config).toContain("kind: KIND_CPU");
    expect(config).not.toContain("KIND_GPU");
    expect(config.endsWith(`]\n${suffix}`)).toBe(true);
    expect(config.match(/version_policy/g)).toHaveLength(1);
  });

  test("on a GPU node it takes the GPU config", () => {
    const run = fetch({
      MODEL_VERSIONS: "5",
      MODEL_CONFIG: "gpu",
      MODEL_CONFIG_APPEND: "version_policy: { specific: { versions: [ 5 ] } }\n",
    });
    expect(run.status).toBe(0);
    expect(fs.readFileSync(path.join(run.repository, "ssept-test", "config.pbtxt"), "utf8")).toContain(
      "kind: KIND_GPU",
    );
  });

  test("a version that was never exported fails, naming the key", () => {
    const run = fetch({ MODEL_VERSIONS: "3 9", MODEL_CONFIG_APPEND: "" });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(`s3://${BUCKET}/${prefix}/ssept-test/9/model.onnx`);
  });

  test("bad settings fail before any download, naming the variable", () => {
    expect(fetch({ MODEL_VERSIONS: "0", MODEL_CONFIG_APPEND: "" }).stderr).toContain("MODEL_VERSIONS='0'");
    expect(fetch({ MODEL_VERSIONS: "3", MODEL_CONFIG: "tpu" }).stderr).toContain("MODEL_CONFIG=tpu");
    expect(fetch({ MODEL_VERSIONS: "3", MODEL_NAME: "" }).stderr).toContain("MODEL_NAME is not set");
  });
});
