/** @jest-environment ./tests/serving/hostTypedArrays.environment.js */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { KServeBackend } from "../../model-server/gateway/src/backends/kserve";
import { BackendError } from "../../model-server/gateway/src/backends/types";
import { recommend, startGateway } from "./gatewayKit";
import { ModelFixture, RedisServer, exportModelFixture, freePort, startRedis, waitFor } from "./services";

/**
 * A real Triton Inference Server: the one PyPI's nvidia-pytriton wheel ships, serving the
 * exported model.onnx (tests/serving/fixtures/pytriton_server.py). It needs a Python with
 * nvidia-pytriton, onnxruntime and numpy: SSEPT_PYTRITON_PYTHON, or /tmp/pytriton-venv/bin/python
 * (`python3 -m venv /tmp/pytriton-venv && /tmp/pytriton-venv/bin/pip install nvidia-pytriton
 * onnxruntime numpy`, as .ci/run does). Without one they are skipped and say so (in CI they fail); the protocol's error,
 * timeout and unreachable cases are covered against local servers in gateway.test.ts.
 */
const PYTHON = [process.env.SSEPT_PYTRITON_PYTHON, "/tmp/pytriton-venv/bin/python"].find(
  (p): p is string => !!p && existsSync(p),
);
if (!PYTHON && process.env.CI === "true")
  throw new Error("CI: no Python with nvidia-pytriton at /tmp/pytriton-venv (.ci/run installs it)");
const describeTriton = PYTHON ? describe : describe.skip;
if (!PYTHON)
  console.warn("triton.test.ts skipped: no Python with nvidia-pytriton (set SSEPT_PYTRITON_PYTHON)");

let fixture: ModelFixture;
let redis: RedisServer;
let triton: ChildProcess;
let tritonUrl: string;
let log = "";

describeTriton("KServe v2 client against a real Triton server", () => {
  beforeAll(async () => {
    fixture = exportModelFixture();
    redis = await startRedis();
    const python = PYTHON as string;
    // The Python backend's stub links the system libpython; point it at the interpreter's own
    // (pyenv and the like), or the stub runs one version's C runtime with another's stdlib.
    const libdir = execFileSync(
      python,
      ["-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"],
      {
        encoding: "utf-8",
      },
    ).trim();
    const [http, grpc, metrics] = [await freePort(), await freePort(), await freePort()];
    tritonUrl = `http://127.0.0.1:${http}`;
    triton = spawn(
      python,
      [
        path.join(__dirname, "fixtures/pytriton_server.py"),
        fixture.repository,
        fixture.modelName,
        String(fixture.maxlen),
        String(http),
        String(grpc),
        String(metrics),
        "1",
      ],
      {
        env: {
          ...process.env,
          LD_LIBRARY_PATH: [libdir, process.env.LD_LIBRARY_PATH].filter(Boolean).join(":"),
        },
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
      },
    );
    triton.stdout?.on("data", (d) => (log += d));
    triton.stderr?.on("data", (d) => (log += d));
    await waitFor(
      "triton model ready",
      async () => (await fetch(`${tritonUrl}/v2/models/${fixture.modelName}/versions/1/ready`)).ok,
      120_000,
    ).catch((err) => {
      throw new Error(`${err.message}\n${log.slice(-3000)}`);
    });
  }, 240_000);

  afterAll(async () => {
    if (triton?.pid && triton.exitCode === null) {
      const exited = new Promise((r) => triton.once("exit", r));
      process.kill(-triton.pid, "SIGTERM");
      await exited;
    }
    await redis?.stop();
    fixture?.remove();
  }, 60_000);

  test("a batch of three users: Triton's top-k equals PyTorch's", async () => {
    const backend = new KServeBackend(tritonUrl, fixture.modelName, 1, fixture.maxlen);
    expect(await backend.ready(AbortSignal.timeout(5000))).toBe(true);
    const users = Object.keys(fixture.expected["1"]).map(Number).slice(0, 3);
    const lines = readFileSync(path.join(fixture.onlineDir, "sequences.jsonl"), "utf-8");
    const seqs = new Map(
      lines
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l))
        .map((r) => [r.user, r.items as number[]]),
    );
    const padded = users.map((u) => {
      const s = seqs.get(u) as number[];
      return new Array(fixture.maxlen - s.length).fill(0).concat(s);
    });
    const result = await backend.infer({ users, sequences: padded }, AbortSignal.timeout(10_000));
    users.forEach((u, row) => {
      const want = fixture.expected["1"][String(u)];
      expect(result.items[row]).toEqual(want.items);
      result.scores[row].forEach((s, i) => expect(s).toBeCloseTo(want.scores[i], 4));
    });
  });

  test("Triton's own errors come back as BackendErrors with its message", async () => {
    const missing = new KServeBackend(tritonUrl, fixture.modelName, 9, fixture.maxlen);
    expect(await missing.ready(AbortSignal.timeout(5000))).toBe(false);
    const seq = new Array(fixture.maxlen).fill(0);
    await expect(missing.infer({ users: [1], sequences: [seq] }, AbortSignal.timeout(5000))).rejects.toThrow(
      /HTTP 404: Request for unknown model: 'ssept-test' version 9 is not found/,
    );
    const wrongShape = new KServeBackend(tritonUrl, fixture.modelName, 1, fixture.maxlen + 1);
    const err = await wrongShape
      .infer({ users: [1], sequences: [new Array(fixture.maxlen + 1).fill(0)] }, AbortSignal.timeout(5000))
      .catch((e) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect(err.reason).toBe("error");
    expect(err.message).toMatch(/HTTP 400: .*item_seq/);
  });

  test("the gateway with BACKEND=triton serves the model's answer, marked source model", async () => {
    const gw = await startGateway(fixture, redis.url, { BACKEND: "triton", TRITON_URL: tritonUrl });
    try {
      const user = Number(Object.keys(fixture.expected["1"])[0]);
      const { status, body } = await recommend(gw, `user=${user}&k=10`);
      expect(status).toBe(200);
      expect(body).toMatchObject({ source: "model", track: "stable", modelVersion: 1 });
      expect(body.items.map((i) => i.item)).toEqual(fixture.expected["1"][String(user)].items.slice(0, 10));
      expect((await fetch(`${gw.url}/readyz`)).status).toBe(200);
    } finally {
      await gw.close();
    }
  });
});
