import * as yaml from "js-yaml";
import * as k8s from "@pulumi/kubernetes";
import { k3sAgentConfig } from "../../components/chameleon/k3sCommands";
import {
  DEVICE_PLUGIN_CHART_DIR,
  devicePluginValues,
  GpuSupport,
  nvidiaRuntimeClassSpec,
} from "../../components/platform/gpuSupport";
import { chartValues, readChartPin } from "../../components/platform/helmRelease";
import { ResourceRecord, runUnderMocks } from "../harness";

const RELEASE = "kubernetes:helm.sh/v3:Release";
const RUNTIME_CLASS = "kubernetes:node.k8s.io/v1:RuntimeClass";
const NAMESPACE = "kubernetes:core/v1:Namespace";

type Build = Awaited<ReturnType<typeof runUnderMocks>>;
type Values = Record<string, unknown>;

/** What the cluster writes into a GPU node's k3s config: the other side of the contract. */
function gpuNode(): {
  labels: Record<string, string>;
  taints: { key: string; value: string; effect: string }[];
  runtime: string;
} {
  const config = yaml.load(
    k3sAgentConfig({
      nodeName: "gpu",
      privateIp: "192.168.50.20",
      serverUrl: "https://192.168.50.10:6443",
      gpu: true,
    }),
  ) as Record<string, string | string[]>;
  const labels = Object.fromEntries((config["node-label"] as string[]).map((l) => l.split("=")));
  const taints = (config["node-taint"] as string[]).map((t) => {
    const [kv, effect] = t.split(":");
    const [key, value] = kv.split("=");
    return { key, value, effect };
  });
  return { labels, taints, runtime: config["default-runtime"] as string };
}

/** Whether a pod with these tolerations may run on a node with these taints (Kubernetes' matching rules). */
function tolerates(tolerations: Values[], taints: { key: string; value: string; effect: string }[]): boolean {
  return taints.every((taint) =>
    tolerations.some(
      (t) =>
        (t.key === undefined || t.key === taint.key) &&
        (t.effect === undefined || t.effect === taint.effect) &&
        (t.operator === "Exists" || t.value === taint.value),
    ),
  );
}

function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

describe("device plugin values", () => {
  const values = chartValues(DEVICE_PLUGIN_CHART_DIR, "staging", devicePluginValues());

  test("run it only on GPU nodes, tolerating their taint, under the nvidia runtime they register", () => {
    const node = gpuNode();
    expect(values.runtimeClassName).toBe("nvidia");
    expect(values.runtimeClassName).toBe(node.runtime);
    expect(values.nodeSelector).toEqual({ "node-role": "gpu" });
    expect(selects(values.nodeSelector as Record<string, string>, node.labels)).toBe(true);
    expect(values.tolerations).toEqual([
      { key: "nvidia.com/gpu", operator: "Equal", value: "present", effect: "NoSchedule" },
    ]);
    expect(tolerates(values.tolerations as Values[], node.taints)).toBe(true);
    // A CPU node (no GPU label) is not selected.
    expect(selects(values.nodeSelector as Record<string, string>, { "kubernetes.io/os": "linux" })).toBe(
      false,
    );
  });

  test("replace the chart's affinity, which waits for feature-discovery labels nobody sets", () => {
    const terms = (
      values.affinity as {
        nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: Values[] } };
      }
    ).nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
    expect(terms).toEqual([{ matchExpressions: [{ key: "node-role", operator: "In", values: ["gpu"] }] }]);
  });

  test("keep the plugin unprivileged, bounded, and without feature discovery", () => {
    expect(values.securityContext).toEqual({});
    expect(values).toMatchObject({ gfd: { enabled: false }, nfd: { enabled: false }, failOnInitError: true });
    expect(values.resources).toEqual({
      requests: { cpu: "50m", memory: "64Mi" },
      limits: { cpu: "200m", memory: "256Mi" },
    });
    expect(values.compatWithCPUManager).toBeUndefined();
  });

  test("come from a pinned chart of NVIDIA's repository", () => {
    expect(readChartPin(DEVICE_PLUGIN_CHART_DIR)).toEqual({
      repository: "https://nvidia.github.io/k8s-device-plugin",
      chart: "nvidia-device-plugin",
      version: "0.18.2",
    });
  });
});

test("the nvidia RuntimeClass sends the pods that use it to GPU nodes", () => {
  const node = gpuNode();
  const spec = nvidiaRuntimeClassSpec();
  expect(spec.handler).toBe(node.runtime);
  const scheduling = spec.scheduling as { nodeSelector: Record<string, string>; tolerations: Values[] };
  expect(selects(scheduling.nodeSelector, node.labels)).toBe(true);
  expect(tolerates(scheduling.tolerations, node.taints)).toBe(true);
});

describe("GpuSupport", () => {
  let b: Build;
  const one = (type: string): ResourceRecord => {
    const found = b.resources.filter((r) => r.type === type);
    expect(found).toHaveLength(1);
    return found[0];
  };

  beforeAll(async () => {
    b = await runUnderMocks(() => {
      const provider = new k8s.Provider("k8s", { kubeconfig: "apiVersion: v1\nkind: Config\n" });
      new GpuSupport("gpu", { environment: "production", provider });
    });
  });

  test("declares the nvidia RuntimeClass with the GPU scheduling rules", () => {
    expect(one(RUNTIME_CLASS).inputs).toMatchObject({
      metadata: { name: "nvidia" },
      handler: "nvidia",
      scheduling: {
        nodeSelector: { "node-role": "gpu" },
        tolerations: [{ key: "nvidia.com/gpu", operator: "Equal", value: "present", effect: "NoSchedule" }],
      },
    });
  });

  test("releases the pinned device plugin into nvidia-gpu, after the RuntimeClass, with the computed values", () => {
    const release = one(RELEASE);
    expect(release.inputs).toMatchObject({
      chart: "nvidia-device-plugin",
      version: "0.18.2",
      repositoryOpts: { repo: "https://nvidia.github.io/k8s-device-plugin" },
      namespace: "nvidia-gpu",
      values: {
        runtimeClassName: "nvidia",
        nodeSelector: { "node-role": "gpu" },
        tolerations: [{ key: "nvidia.com/gpu", operator: "Equal", value: "present", effect: "NoSchedule" }],
      },
    });
    expect(release.dependencies).toContain(one(RUNTIME_CLASS).urn);
    expect(one(NAMESPACE).inputs).toMatchObject({ metadata: { name: "nvidia-gpu" } });
  });

  test("every Kubernetes resource uses the given provider", () => {
    const cluster = b.resources.filter((r) => r.type.startsWith("kubernetes:"));
    expect(cluster.length).toBeGreaterThanOrEqual(4);
    for (const r of cluster) expect(r.provider).toMatch(/::k8s$/);
  });
});
