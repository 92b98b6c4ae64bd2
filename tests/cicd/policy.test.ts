import { ResourceValidationArgs, Secret, StackValidationArgs } from "@pulumi/policy";
import { gatewayReplicasPolicy, POLICIES, secretDataPolicy, splitSecrets } from "../../policy/policies";
import {
  gatewayReplicas,
  gpuPodsWithoutToleration,
  isPinnedImage,
  openAdminPorts,
  plainSecretData,
  PolicyInput,
  RESOURCE_RULES,
  unpinnedImages,
} from "../../policy/rules";
import { BuildResult, buildStack, ResourceRecord } from "../harness";

// The policy pack over the mock harness's records of the committed stacks: those must pass, and
// each record altered the way a mistake would alter it must fail with a message naming it.
const builds: Record<string, BuildResult> = {};
beforeAll(async () => {
  for (const stack of ["staging", "production"]) builds[stack] = await buildStack(stack);
}, 120_000);

const asInput = (r: ResourceRecord): PolicyInput => ({
  type: r.type,
  name: r.name,
  props: r.inputs,
  secretPaths: r.secretPaths,
});
const clone = <T>(v: T): T => structuredClone(v);
const violations = (r: PolicyInput) => [
  ...Object.values(RESOURCE_RULES).flatMap((rule) => rule.check(r)),
  ...plainSecretData(r),
];

describe.each(["staging", "production"])("%s passes every policy", (stack) => {
  test("resource policies", () => {
    const found = builds[stack].resources.flatMap((r) => violations(asInput(r)));
    expect(found).toEqual([]);
  });
  test("the checks have something to check", () => {
    const types = builds[stack].resources.map((r) => r.type);
    expect(
      types.filter((t) => t === "openstack:networking/secGroupRule:SecGroupRule").length,
    ).toBeGreaterThanOrEqual(3);
    expect(types.filter((t) => t === "kubernetes:core/v1:Secret").length).toBeGreaterThan(3);
    const gpu = builds[stack].resources.filter((r) => JSON.stringify(r.inputs).includes('"nvidia.com/gpu":'));
    expect(gpu.length).toBeGreaterThan(0);
  });
  test("stack policy", () => {
    expect(gatewayReplicas(builds[stack].resources.map(asInput), stack)).toEqual([]);
  });
});

const rule = (props: Record<string, unknown>): PolicyInput => ({
  type: "openstack:networking/secGroupRule:SecGroupRule",
  name: "bad-rule",
  props: { direction: "ingress", ethertype: "IPv4", ...props },
});

describe("security-group rules", () => {
  test("a committed admin rule opened to the world fails", () => {
    const ssh = builds.production.resources.find(
      (r) => r.type.endsWith("SecGroupRule") && r.inputs.portRangeMin === 22,
    )!;
    expect(ssh).toBeDefined();
    const open = asInput(clone(ssh));
    open.props.remoteIpPrefix = "0.0.0.0/0";
    expect(openAdminPorts(open)).toEqual([
      `${ssh.name}: opens port 22 to 0.0.0.0/0 (only adminCidrs may reach it)`,
    ]);
  });
  test.each([
    [
      { protocol: "tcp", portRangeMin: 6443, portRangeMax: 6443, remoteIpPrefix: "::/0" },
      /opens port 6443 to ::\/0/,
    ],
    [
      { protocol: "tcp", portRangeMin: 1, portRangeMax: 65535, remoteIpPrefix: "0.0.0.0/0" },
      /opens all ports/,
    ],
    [{ protocol: "tcp", portRangeMin: 20, portRangeMax: 30, remoteIpPrefix: "0.0.0.0/0" }, /opens port 22/],
    [{ protocol: "udp", remoteIpPrefix: "0.0.0.0/0" }, /opens all udp ports/],
    [{ remoteIpPrefix: "0.0.0.0/0" }, /every protocol and port/],
    [{ protocol: "tcp", portRangeMin: 22, portRangeMax: 22 }, /port 22 to any source/],
  ])("%j fails", (props, message) => {
    expect(openAdminPorts(rule(props))).toEqual([expect.stringMatching(message)]);
  });
  test.each([
    [{ protocol: "tcp", portRangeMin: 443, portRangeMax: 443, remoteIpPrefix: "0.0.0.0/0" }],
    [{ protocol: "tcp", portRangeMin: 22, portRangeMax: 22, remoteIpPrefix: "129.114.0.0/16" }],
    [{ protocol: "tcp", portRangeMin: 22, portRangeMax: 22, remoteGroupId: "sg-1" }],
    [{ direction: "egress", remoteIpPrefix: "0.0.0.0/0" }],
  ])("%j passes", (props) => {
    expect(openAdminPorts(rule(props))).toEqual([]);
  });
});

describe("images", () => {
  test.each([
    ["ghcr.io/x/gateway:0.1.0", true],
    ["nvcr.io/nvidia/tritonserver:24.12-py3", true],
    [`ghcr.io/x/gateway@sha256:${"a".repeat(64)}`, true],
    ["localhost:5000/gateway", false],
    ["nginx", false],
    ["nginx:latest", false],
  ])("%s pinned: %s", (ref, pinned) => expect(isPinnedImage(ref)).toBe(pinned));

  test("an unpinned image anywhere in a committed workload fails, naming the path", () => {
    const deployment = builds.production.resources.find((r) => r.type === "kubernetes:apps/v1:Deployment")!;
    const bad = asInput(clone(deployment));
    const spec = bad.props.spec as { template: { spec: { containers: { image: string }[] } } };
    spec.template.spec.containers[0].image = "nginx:latest";
    expect(unpinnedImages(bad)).toEqual([
      `${deployment.name}: spec.template.spec.containers[0].image is "nginx:latest", not pinned to a tag or digest`,
    ]);
  });
});

describe("GPU pods", () => {
  test("a committed GPU pod spec without the toleration fails", () => {
    const gpu = builds.production.resources.find(
      (r) => r.type.startsWith("kubernetes:") && JSON.stringify(r.inputs).includes('"nvidia.com/gpu":"1"'),
    )!;
    const bad = asInput(clone(gpu));
    const strip = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(strip);
      else if (v && typeof v === "object") {
        delete (v as Record<string, unknown>).tolerations;
        Object.values(v).forEach(strip);
      }
    };
    strip(bad.props);
    expect(gpuPodsWithoutToleration(bad)).toEqual([
      expect.stringMatching(
        /requests nvidia.com\/gpu but does not tolerate nvidia.com\/gpu=present:NoSchedule$/,
      ),
    ]);
  });
  test("Exists on the key, or an exact match, tolerates; another key does not", () => {
    const pod = (tolerations: unknown[]): PolicyInput => ({
      type: "kubernetes:core/v1:Pod",
      name: "p",
      props: {
        spec: { containers: [{ name: "c", resources: { limits: { "nvidia.com/gpu": "1" } } }], tolerations },
      },
    });
    expect(gpuPodsWithoutToleration(pod([{ key: "nvidia.com/gpu", operator: "Exists" }]))).toEqual([]);
    expect(
      gpuPodsWithoutToleration(
        pod([{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule", operator: "Equal" }]),
      ),
    ).toEqual([]);
    expect(gpuPodsWithoutToleration(pod([{ key: "other", operator: "Exists" }]))).toHaveLength(1);
  });
});

describe("Kubernetes Secrets", () => {
  test("a committed Secret whose data arrives in plain text fails, naming each key", () => {
    const secret = builds.production.resources.find(
      (r) => r.type === "kubernetes:core/v1:Secret" && r.secretPaths.length > 0 && r.inputs.stringData,
    )!;
    const keys = Object.keys(secret.inputs.stringData as object);
    expect(plainSecretData({ ...asInput(secret), secretPaths: [] })).toEqual(
      keys.map((k) => `${secret.name}: stringData.${k} is not a Pulumi secret`),
    );
  });

  test("the pack's remediation hook reads secretness from the engine's props and throws on plain data", () => {
    const args = (props: Record<string, unknown>) =>
      ({ type: "kubernetes:core/v1:Secret", name: "s3", props }) as unknown as ResourceValidationArgs;
    const remediate = secretDataPolicy.remediateResource!;
    expect(
      remediate(args({ stringData: { key: new Secret("k"), secret: new Secret("s") } })),
    ).toBeUndefined();
    expect(remediate(args({ stringData: new Secret({ key: "k" }) }))).toBeUndefined();
    expect(() => remediate(args({ stringData: { key: new Secret("k"), secret: "s" } }))).toThrow(
      "s3: stringData.secret is not a Pulumi secret",
    );
    expect(splitSecrets({ a: [new Secret("x")], b: { c: new Secret({ d: 1 }) } })).toEqual({
      props: { a: ["x"], b: { c: { d: 1 } } },
      secretPaths: ["a[0]", "b.c"],
    });
  });
});

describe("production gateway replicas", () => {
  const gateway = (replicas: number): PolicyInput => ({
    type: "kubernetes:apps/v1:Deployment",
    name: "serving-gateway",
    props: {
      metadata: { name: "gateway", labels: { "app.kubernetes.io/component": "gateway" } },
      spec: { replicas },
    },
  });
  test("one replica fails in production only", () => {
    expect(gatewayReplicas([gateway(1)], "production")).toEqual([
      "serving-gateway: production gateway has 1 replica(s); needs at least 2",
    ]);
    expect(gatewayReplicas([gateway(2)], "production")).toEqual([]);
    expect(gatewayReplicas([gateway(1)], "staging")).toEqual([]);
  });
  test("the stack policy takes the environment from the pack's config", () => {
    const reported: string[] = [];
    const run = (environment: string) =>
      gatewayReplicasPolicy.validateStack(
        {
          resources: [{ ...gateway(1), urn: "u", opts: {} }],
          getConfig: () => ({ environment }),
        } as unknown as StackValidationArgs,
        (m: string) => reported.push(m),
      );
    run("staging");
    expect(reported).toEqual([]);
    run("production");
    expect(reported).toHaveLength(1);
  });
  test("every policy has a unique name and a description", () => {
    const names = POLICIES.map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
    expect(POLICIES.every((p) => p.description.length > 10)).toBe(true);
  });
});
