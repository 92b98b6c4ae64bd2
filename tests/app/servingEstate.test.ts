/**
 * Serving wired into the estate: config → estate → components. The committed stacks serve the
 * gateway publicly with both tracks, the plan's outputs carry its URL and the model versions, Triton
 * moves to the GPU node inside a GPU window, and bad serving config fails naming its key.
 */
import * as path from "path";
import { ConfigError, loadConfig, PROJECT } from "../../stacks/config";
import {
  BuildResult,
  buildStack,
  one,
  PLAN_CLOCK,
  placeholderSecret,
  readStackFile,
  REPO_ROOT,
} from "../harness";
import { checkKubernetes, secretSources } from "../k8sValidation";
import { KEYS } from "../../stacks/configSchema";
import { planMarkdown } from "../../tools/planMarkdown";
import { planModel } from "../../tools/planModel";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
const INGRESS = "kubernetes:networking.k8s.io/v1:Ingress";
const NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy";
const HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler";
/** Inside staging's first GPU window (Pulumi.staging.yaml). */
const IN_WINDOW = new Date("2027-01-05T15:00:00Z");

const tritonPod = (b: BuildResult) =>
  (one(b, DEPLOYMENT, "ssept-serving-triton-deployment").inputs as Json).spec.template.spec;

describe("the production estate serves", () => {
  let b: BuildResult;
  beforeAll(async () => {
    b = await buildStack("production");
  });

  test("the outputs carry the gateway's URL and the model version of each track", () => {
    expect(b.outputs.gatewayUrl).toEqual({
      value: expect.stringMatching(/^https:\/\/gateway\.129\.114\.\d+\.\d+\.sslip\.io$/),
      secret: false,
    });
    expect(b.outputs.modelVersions).toEqual({
      value: {
        stable: { model: "ssept-ml-1m", version: 1, alias: "production" },
        canary: { model: "ssept-ml-1m", version: 2, alias: "canary" },
      },
      secret: false,
    });
  });

  test("plan.md lists the gateway with its URL and the modelVersions output", () => {
    const md = planMarkdown(planModel(b), { clock: PLAN_CLOCK });
    const url = String(b.outputs.gatewayUrl.value);
    expect(md).toContain(`| Inference gateway (recommendations API) | ${url} | Public API, no login |`);
    const row = md.split("\n").find((l) => l.startsWith("| `modelVersions` |"))!;
    expect(row).toContain('"stable":{"model":"ssept-ml-1m","version":1,"alias":"production"}');
    expect(row).not.toContain("not built yet");
  });

  test("the gateway's route is public HTTPS to the gateway Service, and Traefik is admitted to its pods", () => {
    const ingress = one(b, INGRESS, "ssept-gateway-ingress").inputs as Json;
    expect(ingress.metadata.namespace).toBe("serving");
    expect(ingress.metadata.annotations).toEqual({
      "traefik.ingress.kubernetes.io/router.entrypoints": "websecure",
      "traefik.ingress.kubernetes.io/router.tls": "true",
    });
    expect(ingress.spec.rules[0].http.paths[0].backend.service).toEqual({
      name: "gateway",
      port: { number: 8080 },
    });
    const admit = one(b, NETPOL, "ssept-gateway-allow-traefik").inputs as Json;
    expect(admit.spec.podSelector.matchLabels).toEqual({
      "app.kubernetes.io/name": "gateway",
      "app.kubernetes.io/component": "gateway",
    });
    expect(admit.spec.ingress[0].ports).toEqual([{ protocol: "TCP", port: 8080 }]);
  });

  test("outside a GPU window Triton runs on CPU, scaled from servingReplicas to tritonMaxReplicas", () => {
    const pod = tritonPod(b);
    expect(pod.runtimeClassName).toBeUndefined();
    expect(pod.initContainers[0].env.find((e: Json) => e.name === "MODEL_CONFIG").value).toBe("cpu");
    expect(pod.initContainers[0].env.find((e: Json) => e.name === "MODEL_BUCKET").value).toBe(
      "ssept-production-models",
    );
    expect((one(b, HPA, "ssept-serving-triton-hpa").inputs as Json).spec).toMatchObject({
      minReplicas: 2,
      maxReplicas: 4,
    });
    const simulator = one(b, DEPLOYMENT, "ssept-simulator-deployment").inputs as Json;
    expect(simulator.spec.replicas).toBe(1);
  });

  test("the whole estate still passes the cross-cutting checks with serving in it", () => {
    expect(
      checkKubernetes(b.resources, { secretValues: secretSources(b.resources), wholeEstate: true }),
    ).toEqual([]);
  });
});

test("inside a GPU window Triton asks for the GPU node and waits for the GPU runtime", async () => {
  const b = await buildStack("staging", { now: IN_WINDOW });
  const pod = tritonPod(b);
  expect(pod.runtimeClassName).toBe("nvidia");
  expect(pod.containers[0].resources.limits["nvidia.com/gpu"]).toBe("1");
  // One GPU node in the window: one Triton pod, whatever tritonMaxReplicas says.
  expect((one(b, HPA, "ssept-serving-triton-hpa").inputs as Json).spec).toMatchObject({
    minReplicas: 1,
    maxReplicas: 1,
  });
  // A dependency on a component is recorded as its children: the RuntimeClass must be among them.
  const gpuSupport = b.resources.find((r) => r.type === "ssept:platform:GpuSupport")!;
  const runtimeClass = b.resources.find(
    (r) => r.parent === gpuSupport.urn && r.type === "kubernetes:node.k8s.io/v1:RuntimeClass",
  )!;
  expect(one(b, DEPLOYMENT, "ssept-serving-triton-deployment").dependencies).toContain(runtimeClass.urn);
  // Staging's canary takes half the users.
  const gateway = (one(b, DEPLOYMENT, "ssept-serving-gateway-deployment").inputs as Json).spec.template.spec
    .containers[0];
  expect(gateway.env.find((e: Json) => e.name === "CANARY_WEIGHT").value).toBe("0.5");
});

describe("serving config", () => {
  function raw(changes: Record<string, string | null>): Record<string, string> {
    const { config } = readStackFile(path.join(REPO_ROOT, "Pulumi.staging.yaml"));
    for (const [k, spec] of Object.entries(KEYS)) {
      if (spec.secret && config[`${PROJECT}:${k}`] === undefined)
        config[`${PROJECT}:${k}`] = placeholderSecret(k);
    }
    // What a user puts in place of the committed placeholder credential ids before `pulumi up`.
    config[`${PROJECT}:kvmTaccCredentialId`] = "5d1c0b0e9a6f4c3b8e7d2a1f0c9b8a7d";
    config[`${PROJECT}:chiTaccCredentialId`] = "7e2d1c0b9a8f4e3d8c7b6a5f4e3d2c1b";
    for (const [k, v] of Object.entries(changes)) {
      if (v === null) delete config[`${PROJECT}:${k}`];
      else config[`${PROJECT}:${k}`] = v;
    }
    return config;
  }
  const problems = (changes: Record<string, string | null>) => {
    try {
      loadConfig(raw(changes), { now: PLAN_CLOCK });
    } catch (e) {
      if (e instanceof ConfigError) return e;
      throw e;
    }
    throw new Error(`accepted ${JSON.stringify(changes)}`);
  };

  test("serving needs the stable track's version", () => {
    const e = problems({ stableModelVersion: null });
    expect(e.keys).toEqual(["stableModelVersion"]);
    expect(e.message).toContain("enableServing");
    expect(() =>
      loadConfig(raw({ stableModelVersion: null, enableServing: "false", enableSimulator: "false" }), {
        now: PLAN_CLOCK,
      }),
    ).not.toThrow();
  });

  test.each([
    [{ servingReplicas: "5", tritonMaxReplicas: "4" }, "servingReplicas", /at most tritonMaxReplicas \(4\)/],
    [{ servingDataset: "movielens" }, "servingDataset", /one of ml-1m, wikipedia/],
    [{ onlineFeaturesVersion: "../v1" }, "onlineFeaturesVersion", /features version/],
    [{ simulatorReplicas: "-1" }, "simulatorReplicas", /from 0 to 20/],
    [{ redisResources: "1/1Gi:500m/1Gi" }, "redisResources", /requests no larger than limits/],
  ])("%j is refused, naming %s", (changes, key, message) => {
    const e = problems(changes as Record<string, string>);
    expect(e.keys).toEqual([key]);
    expect(e.message).toMatch(message);
  });

  test("without serving the estate declares no serving object and no serving output", async () => {
    const b = await buildStack("staging", {
      overrides: { enableServing: "false", enableSimulator: "false" },
    });
    expect(b.resources.filter((r) => r.type.startsWith("ssept:app:"))).toEqual([]);
    expect(b.outputs.gatewayUrl).toBeUndefined();
    expect(b.outputs.modelVersions).toBeUndefined();
  });
});
