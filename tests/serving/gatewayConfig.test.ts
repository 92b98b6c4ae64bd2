import { EnvConfigError } from "../../model-server/common/env";
import { loadGatewayConfig, trackVersions } from "../../model-server/gateway/src/config";
import { assignTrack, userBucket } from "../../model-server/gateway/src/tracks";

const minimal = { STABLE_VERSION: "3", TRITON_URL: "http://triton:8000/", EVENT_SINK: "none" };

function problems(env: NodeJS.ProcessEnv): string[] {
  try {
    loadGatewayConfig(env);
  } catch (err) {
    if (err instanceof EnvConfigError) return err.problems;
    throw err;
  }
  throw new Error("config was accepted");
}

describe("gateway config from the environment", () => {
  test("defaults, and the trailing slash of URLs dropped", () => {
    expect(loadGatewayConfig(minimal)).toMatchObject({
      PORT: 8080,
      BACKEND: "triton",
      TRITON_URL: "http://triton:8000",
      MODEL_NAME: "ssept-ml-1m",
      MAXLEN: 200,
      MAX_K: 100,
      DEFAULT_K: 10,
      CANARY_WEIGHT: 0,
      BUCKET_LOGS: "logs",
    });
  });

  test("every bad variable is named with its value and what is allowed; secrets are not shown", () => {
    expect(
      problems({
        STABLE_VERSION: "0",
        PORT: "http",
        CANARY_WEIGHT: "1.5",
        BACKEND: "tensorflow",
        REDIS_URL: "localhost:6379",
        AWS_SECRET_ACCESS_KEY: "",
      }),
    ).toEqual([
      'PORT ("http"): Expected number, received nan',
      'REDIS_URL ("localhost:6379"): must be a redis:// or rediss:// URL',
      "BACKEND (\"tensorflow\"): Invalid enum value. Expected 'triton' | 'onnx', received 'tensorflow'",
      'STABLE_VERSION ("0"): Number must be greater than or equal to 1',
      'CANARY_WEIGHT ("1.5"): Number must be less than or equal to 1',
    ]);
    expect(
      problems({
        STABLE_VERSION: "1",
        BACKEND: "onnx",
        CANARY_WEIGHT: "0.1",
        AWS_SECRET_ACCESS_KEY: "hunter2",
      }),
    ).toEqual([
      "MODEL_DIR (unset): required when BACKEND=onnx",
      "CANARY_VERSION (unset): required when CANARY_WEIGHT > 0 (is 0.1)",
      "S3_ENDPOINT_URL (unset): required when EVENT_SINK=s3",
      "AWS_ACCESS_KEY_ID (unset): required when EVENT_SINK=s3",
    ]);
    expect(problems({ ...minimal, DEFAULT_K: "50", MAX_K: "20" })).toEqual([
      'DEFAULT_K ("50"): must be <= MAX_K (20)',
    ]);
    expect(problems({ ...minimal, BACKEND: "triton", TRITON_URL: undefined })).toEqual([
      "TRITON_URL (unset): required when BACKEND=triton",
    ]);
  });

  test("canary weight 0 removes the canary track even with a version", () => {
    expect(trackVersions(loadGatewayConfig({ ...minimal, CANARY_VERSION: "4" }))).toEqual({ stable: 3 });
    expect(
      trackVersions(loadGatewayConfig({ ...minimal, CANARY_VERSION: "4", CANARY_WEIGHT: "0.2" })),
    ).toEqual({
      stable: 3,
      canary: 4,
    });
  });
});

describe("track assignment", () => {
  test("stable per user, and the canary share follows the weight", () => {
    const users = Array.from({ length: 20_000 }, (_, i) => String(i + 1));
    for (const weight of [0, 0.05, 0.25, 0.5, 1]) {
      const canary = users.filter((u) => assignTrack(u, weight) === "canary").length / users.length;
      expect(Math.abs(canary - weight)).toBeLessThan(0.01);
    }
    expect(users.map((u) => assignTrack(u, 0.3))).toEqual(users.map((u) => assignTrack(u, 0.3)));
  });

  test("raising the weight only moves stable users to canary, never back", () => {
    for (let u = 1; u <= 2000; u++)
      if (assignTrack(String(u), 0.1) === "canary") expect(assignTrack(String(u), 0.2)).toBe("canary");
  });

  test("the bucket is sha256-based and fixed across processes", () => {
    // Pinned: a change here moves users between tracks in production.
    expect([userBucket("1"), userBucket("42"), userBucket("6040")]).toEqual([9619, 6628, 9794]);
  });
});
