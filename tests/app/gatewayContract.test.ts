/**
 * The contract between the gateway and simulator Deployments (components/app) and the services'
 * own config parsers (model-server/{gateway,simulator}/src/config.ts): the environment each pod gets, with the S3
 * Secret's variables and the Redis password as Kubernetes resolves them, must parse, and carry
 * what the component declares.
 */
import { gatewayEnv, GatewaySpec } from "../../components/app/gatewayManifests";
import { s3Environment } from "../../components/platform/s3Credentials";
import { simulatorDeployment } from "../../components/app/simulatorManifests";
import { loadGatewayConfig, trackVersions } from "../../model-server/gateway/src/config";
import { loadSimulatorConfig } from "../../model-server/simulator/src/config";

const spec: GatewaySpec = {
  namespace: "serving",
  image: "ghcr.io/sse-pt-platform/gateway:0.1.0",
  replicas: 2,
  resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "500m", memory: "256Mi" } },
  modelName: "ssept-ml-1m",
  versions: { stable: 3, canary: 4 },
  canaryWeightPercent: 10,
  maxlen: 200,
  inferenceTimeoutMs: 250,
  s3SecretName: "s3-credentials",
};
const buckets = {
  "raw-data": "b-raw-data",
  "processed-data": "b-processed-data",
  features: "b-features",
  models: "b-models",
  logs: "b-logs",
  "mlflow-artifacts": "b-mlflow-artifacts",
  "ray-checkpoints": "b-ray-checkpoints",
};

/** The container's environment as the kubelet builds it: envFrom the S3 Secret, then env (secretKeyRef and fieldRef resolved). */
function podEnvironment(s: GatewaySpec): Record<string, string> {
  const fromSecret = s3Environment(
    { endpoint: "https://chi.tacc.chameleoncloud.org:7480", accessKey: "AK", secretKey: "SK" },
    buckets,
  ) as Record<string, string>;
  const env: Record<string, string> = { ...fromSecret };
  for (const e of gatewayEnv(s) as { name: string; value?: string }[]) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    else if (e.name === "REDIS_PASSWORD") env[e.name] = "redis-password";
    else if (e.name === "POD_NAME") env[e.name] = "gateway-7d9f-abcde";
    else throw new Error(`gatewayEnv: ${e.name} comes from a source this test does not resolve`);
  }
  return env;
}

describe("gateway env contract", () => {
  test("the Deployment's environment parses in the gateway and names both tracks", () => {
    const c = loadGatewayConfig(podEnvironment(spec));
    expect(c).toMatchObject({
      PORT: 8080,
      BACKEND: "triton",
      TRITON_URL: "http://triton.serving.svc.cluster.local:8000",
      MODEL_NAME: "ssept-ml-1m",
      CANARY_WEIGHT: 0.1,
      MAXLEN: 200,
      INFERENCE_TIMEOUT_MS: 250,
      REDIS_URL: "redis://redis.serving.svc.cluster.local:6379",
      REDIS_PASSWORD: "redis-password",
      EVENT_SINK: "s3",
      BUCKET_LOGS: "b-logs",
      S3_ENDPOINT_URL: "https://chi.tacc.chameleoncloud.org:7480",
    });
    expect(trackVersions(c)).toEqual({ stable: 3, canary: 4 });
  });

  test("with canary weight 0 the gateway serves stable only", () => {
    const c = loadGatewayConfig(podEnvironment({ ...spec, canaryWeightPercent: 0 }));
    expect(trackVersions(c)).toEqual({ stable: 3 });
  });
});

describe("simulator env contract", () => {
  test("the Deployment's environment parses in the simulator: gateway URL, data prefix, rate, metrics port", () => {
    const d = simulatorDeployment({
      namespace: "simulator",
      image: "ghcr.io/sse-pt-platform/simulator:0.1.0",
      replicas: 1,
      gatewayUrl: "http://gateway.serving.svc.cluster.local:8080",
      dataPrefix: "ml-1m/latest",
      usersPerSecond: 5,
      thinkTimeMs: 2000,
      sessionLength: 20,
      s3SecretName: "s3-credentials",
    }) as { spec: { template: { spec: { containers: { env: { name: string; value: string }[] }[] } } } };
    const env: Record<string, string> = {
      ...(s3Environment(
        { endpoint: "https://chi.tacc.chameleoncloud.org:7480", accessKey: "AK", secretKey: "SK" },
        buckets,
      ) as Record<string, string>),
      ...Object.fromEntries(d.spec.template.spec.containers[0].env.map((e) => [e.name, e.value])),
    };
    expect(loadSimulatorConfig(env)).toMatchObject({
      GATEWAY_URL: "http://gateway.serving.svc.cluster.local:8080",
      DATA_PREFIX: "ml-1m/latest",
      BUCKET_FEATURES: "b-features",
      USERS_PER_SECOND: 5,
      THINK_TIME_MS: 2000,
      SESSION_LENGTH: 20,
      METRICS_PORT: 9464,
    });
  });
});
