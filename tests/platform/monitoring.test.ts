import * as pulumi from "@pulumi/pulumi";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { LeaseEnd, renderLeaseMetrics } from "../../components/platform/leaseMetrics";
import { apiServerCidr, Monitoring } from "../../components/platform/monitoring";
import { monitoringNetworkPolicies } from "../../components/platform/monitoringNetworkPolicies";
import { PlatformConfig } from "../../stacks/config";
import { clusterEndpoints, monitoringArgs } from "../../stacks/estate";
import { pinnedImage } from "../../stacks/configSchema";
import { BuildResult, ResourceRecord, runUnderMocks } from "../harness";
import { checkKubernetes, secretSources } from "../k8sValidation";
import {
  byType,
  DEPLOYMENT,
  NAMESPACE,
  NETPOL,
  one,
  PASSWORD,
  RELEASE,
  SECRET,
  SERVICE,
  SERVICE_MONITOR,
  stackConfig,
  testCluster,
} from "./workloadKit";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const CONFIG_MAP = "kubernetes:core/v1:ConfigMap";
const RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule";

const LEASES: LeaseEnd[] = [
  { name: "ssept-production-gpu-0", site: "chi-uc", end: "2027-01-04 18:00" },
  { name: "ssept-production-gpu-1", site: "chi-uc", end: "2027-01-06 18:00" },
];

interface Built extends Omit<BuildResult, "stack"> {
  config: PlatformConfig;
}

async function build(
  config: PlatformConfig,
  args: { gpu: boolean; leaseEnds?: pulumi.Input<LeaseEnd[]> } = { gpu: true, leaseEnds: LEASES },
): Promise<Built> {
  const run = await runUnderMocks(() => {
    const m = new Monitoring("monitoring", monitoringArgs(config, testCluster(config), args));
    return {
      grafanaNamespace: pulumi.output(m.grafana.namespace),
      grafanaName: pulumi.output(m.grafana.name),
      grafanaPort: pulumi.output(m.grafana.port),
      prometheusUrl: pulumi.output(m.prometheusUrl),
      grafanaInternalUrl: pulumi.output(m.grafanaInternalUrl),
      adminPassword: m.adminPassword,
    };
  });
  return { ...run, config };
}

const inputs = (r: ResourceRecord): Json => r.inputs;

describe("Monitoring (production, GPU, leases)", () => {
  let b: Built;
  beforeAll(async () => {
    b = await build(stackConfig("production"));
  });

  test("every child hangs off the component and every Kubernetes object uses the given provider", () => {
    const component = b.resources.find((r) => r.type === "ssept:platform:Monitoring")!;
    expect(component.name).toBe("monitoring");
    const provider = b.resources.find((r) => r.type === "pulumi:providers:kubernetes")!;
    const children = b.resources.filter((r) => r.custom && !r.type.startsWith("pulumi:providers:"));
    expect(children.length).toBeGreaterThan(20);
    for (const r of children) {
      expect([r.name, r.parent]).toEqual([r.name, component.urn]);
      if (r.type.startsWith("kubernetes:")) expect([r.name, r.provider]).toEqual([r.name, provider.urn]);
      else expect([r.name, r.provider]).toEqual([r.name, expect.stringContaining("pulumi:providers:random")]);
    }
  });

  test("the monitoring namespace starts closed and gets the monitoring flows", () => {
    const ns = one(b, NAMESPACE, "monitoring-ns");
    expect(inputs(ns).metadata.name).toBe("monitoring");
    const names = byType(b, NETPOL).map((p) => inputs(p).metadata.name);
    const expected = monitoringNetworkPolicies({
      apiServerCidr: apiServerCidr(clusterEndpoints(b.config).nodeCidr),
    }).map((p) => p.name);
    expect(names.sort()).toEqual(["allow-dns", "default-deny", ...expected].sort());
    for (const p of byType(b, NETPOL)) {
      expect(inputs(p).metadata.namespace).toBe("monitoring");
      expect(() => new NetworkPolicy(inputs(p)).validate()).not.toThrow();
    }
    // Chameleon mode: the API server is one of the nodes of the configured subnet.
    const api = byType(b, NETPOL).find((p) => inputs(p).metadata.name === "api-server")!;
    expect(inputs(api).spec.egress[0].to[0]).toEqual({ ipBlock: { cidr: "192.168.60.0/24" } });
    expect(() => new Namespace(inputs(ns)).validate()).not.toThrow();
  });

  test("kube-prometheus-stack: pinned, retention and volume from config, open selectors, no secret in values", () => {
    const release = one(b, RELEASE, "monitoring-kube-prometheus-stack");
    const r = inputs(release);
    expect([r.chart, r.version, r.repositoryOpts.repo, r.namespace]).toEqual([
      "kube-prometheus-stack",
      "88.5.3",
      "https://prometheus-community.github.io/helm-charts",
      "monitoring",
    ]);
    const spec = r.values.prometheus.prometheusSpec;
    expect(spec.retention).toBe(b.config.monitoring.retention);
    expect(spec.retention).toBe("15d");
    expect(spec.storageSpec.volumeClaimTemplate.spec.resources.requests.storage).toBe("30Gi");
    expect(spec.nodeSelector).toEqual({ "ssept.io/data-volume": "cinder" });
    expect(spec.serviceMonitorSelectorNilUsesHelmValues).toBe(false);
    expect(spec.podMonitorSelectorNilUsesHelmValues).toBe(false);
    expect(spec.ruleSelectorNilUsesHelmValues).toBe(false);
    expect(r.values.grafana.admin.existingSecret).toBe("grafana-admin");
    expect(r.values.grafana["grafana.ini"]["auth.anonymous"].enabled).toBe(false);
    expect(r.values["kube-state-metrics"].metricLabelsAllowlist).toEqual(["nodes=[node-role]"]);
    // The admin password reaches Grafana through the Secret only.
    expect(release.secretPaths).toEqual([]);
    const password = one(b, PASSWORD, "monitoring-grafana-admin-password");
    expect(inputs(password)).toMatchObject({ length: 32, special: false });
    const generated = [...new Set(b.secretValues.filter((s) => s.startsWith("mockpw-")))];
    expect(generated).toHaveLength(1);
    expect(JSON.stringify(r)).not.toContain(generated[0]);
  });

  test("the Grafana admin Secret holds the generated password as a Pulumi secret", () => {
    const secret = one(b, SECRET, "monitoring-grafana-admin");
    const s = inputs(secret);
    expect(s.metadata).toMatchObject({ name: "grafana-admin", namespace: "monitoring" });
    expect(s.stringData["admin-user"]).toBe("admin");
    expect(s.stringData["admin-password"]).toMatch(/^mockpw-/);
    // Pulumi marks the whole stringData secret once one of its values is.
    expect(secret.secretPaths.some((p) => p === "stringData" || p === "stringData.admin-password")).toBe(
      true,
    );
    expect(() => new Secret(s).validate()).not.toThrow();
    expect(b.outputs.adminPassword).toEqual({ value: s.stringData["admin-password"], secret: true });
    // Nothing but the Secret carries it.
    for (const r of b.resources.filter((x) => x !== secret && x.type.startsWith("kubernetes:"))) {
      expect([r.name, JSON.stringify(r.inputs).includes(s.stringData["admin-password"])]).toEqual([
        r.name,
        false,
      ]);
    }
  });

  test("the DCGM exporter runs on GPU nodes with its ServiceMonitor", () => {
    const r = inputs(one(b, RELEASE, "monitoring-dcgm-exporter"));
    expect([r.chart, r.version, r.namespace]).toEqual(["dcgm-exporter", "4.8.2", "monitoring"]);
    expect(r.values.nodeSelector).toEqual({ "node-role": "gpu" });
    expect(r.values.runtimeClassName).toBe("nvidia");
    expect(r.values.tolerations).toContainEqual({
      key: "nvidia.com/gpu",
      operator: "Equal",
      value: "present",
      effect: "NoSchedule",
    });
    expect(r.values.serviceMonitor.enabled).toBe(true);
  });

  test("dashboards are ConfigMaps labelled for Grafana's sidecar, one JSON model each", () => {
    const maps = byType(b, CONFIG_MAP).filter((c) => inputs(c).metadata.labels?.grafana_dashboard === "1");
    expect(maps.map((c) => inputs(c).metadata.name).sort()).toEqual(
      ["dashboard-ssept-cluster-gpu", "dashboard-ssept-mlflow-postgres", "dashboard-ssept-ray"].sort(),
    );
    for (const c of maps) {
      const cm = inputs(c);
      expect(cm.metadata.namespace).toBe("monitoring");
      const [file] = Object.keys(cm.data);
      const model = JSON.parse(cm.data[file]);
      expect(file).toBe(`${model.uid}.json`);
      expect(model.panels.length).toBeGreaterThan(5);
      expect(() => new ConfigMap(cm).validate()).not.toThrow();
    }
  });

  test("alert rules: every file applied, valid, with production's SLO substituted", () => {
    const rules = byType(b, RULE);
    expect(rules.map((r) => inputs(r).metadata.name).sort()).toEqual(
      [
        "ssept-gpu-lease",
        "ssept-gpu-node",
        "ssept-inference",
        "ssept-mlflow",
        "ssept-serving",
        "ssept-storage",
        "ssept-training",
      ].sort(),
    );
    for (const r of rules) {
      expect(inputs(r).metadata.namespace).toBe("monitoring");
      expect(() => new PrometheusRule(inputs(r)).validate()).not.toThrow();
      expect(JSON.stringify(inputs(r))).not.toMatch(/__[A-Z][A-Z0-9_]*__/);
    }
    const inference = inputs(rules.find((r) => inputs(r).metadata.name === "ssept-inference")!);
    const latency = inference.spec.groups[0].rules.find((x: Json) => x.alert === "InferenceLatencyOverSlo");
    expect(b.config.serving.p95SloMs).toBe(200);
    expect(latency.expr).toMatch(/> 0\.2$/);
  });

  test("the lease exporter serves the leases' ends, pinned, sized, probed and non-root", () => {
    const cm = inputs(one(b, CONFIG_MAP, "monitoring-lease-metrics-config"));
    expect(cm.data["metrics.prom"]).toBe(renderLeaseMetrics(LEASES));
    const deployment = inputs(one(b, DEPLOYMENT, "monitoring-lease-metrics-deployment"));
    expect(() => new Deployment(deployment).validate()).not.toThrow();
    const pod = deployment.spec.template.spec;
    expect(deployment.spec.selector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
    for (const c of pod.containers) {
      expect(pinnedImage.safeParse(c.image).success).toBe(true);
      expect(c.resources.requests.cpu && c.resources.requests.memory).toBeTruthy();
      expect(c.resources.limits.cpu && c.resources.limits.memory).toBeTruthy();
      expect(c.readinessProbe && c.livenessProbe).toBeTruthy();
      expect(c.securityContext.privileged).not.toBe(true);
    }
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.volumes.find((v: Json) => v.name === "metrics").configMap.name).toBe(cm.metadata.name);
    const service = inputs(one(b, SERVICE, "monitoring-lease-metrics-service"));
    expect(() => new Service(service).validate()).not.toThrow();
    expect(service.spec.selector).toEqual(deployment.spec.template.metadata.labels);
    const monitor = inputs(one(b, SERVICE_MONITOR, "monitoring-lease-metrics-servicemonitor"));
    expect(() => new ServiceMonitor(monitor).validate()).not.toThrow();
    expect(monitor.spec.selector.matchLabels).toEqual(service.metadata.labels);
    expect(monitor.spec.endpoints[0].port).toBe(service.spec.ports[0].name);
  });

  test("outputs: Grafana's ServiceRef and the in-cluster URLs", () => {
    expect(b.outputs.grafanaNamespace.value).toBe("monitoring");
    expect(b.outputs.grafanaName.value).toBe("kube-prometheus-stack-grafana");
    expect(b.outputs.grafanaPort.value).toBe(80);
    expect(b.outputs.prometheusUrl.value).toBe(
      "http://kube-prometheus-stack-prometheus.monitoring.svc.cluster.local:9090",
    );
    expect(b.outputs.grafanaInternalUrl.value).toBe(
      "http://kube-prometheus-stack-grafana.monitoring.svc.cluster.local:80",
    );
  });

  test("passes the estate's cross-cutting Kubernetes checks", () => {
    expect(checkKubernetes(b.resources, { secretValues: secretSources(b.resources) })).toEqual([]);
  });

  test("no Ingress is created (the ingress component routes to the ServiceRef)", () => {
    expect(b.resources.filter((r) => /Ingress(Route)?$/.test(r.type))).toEqual([]);
  });
});

describe("Monitoring, other estates", () => {
  test("staging: its own retention, volume and SLO", async () => {
    const b = await build(stackConfig("staging"));
    const spec = inputs(one(b, RELEASE, "monitoring-kube-prometheus-stack")).values.prometheus.prometheusSpec;
    expect([spec.retention, spec.storageSpec.volumeClaimTemplate.spec.resources.requests.storage]).toEqual([
      "7d",
      "10Gi",
    ]);
    const inference = inputs(byType(b, RULE).find((r) => inputs(r).metadata.name === "ssept-inference")!);
    expect(inference.spec.groups[0].rules[0].expr).toMatch(/> 0\.25$/);
  });

  test("no GPU, no leases, no MLflow: no DCGM exporter, no lease exporter, no MLflow rules", async () => {
    const b = await build(
      stackConfig("staging", { enableMlflow: "false", enableArgo: "false", enableRay: "false" }),
      {
        gpu: false,
      },
    );
    expect(byType(b, RELEASE).map((r) => r.name)).toEqual(["monitoring-kube-prometheus-stack"]);
    expect(b.resources.filter((r) => r.name.startsWith("monitoring-lease-metrics"))).toEqual([]);
    expect(byType(b, SERVICE_MONITOR)).toEqual([]);
    expect(byType(b, RULE).map((r) => inputs(r).metadata.name)).not.toContain("ssept-mlflow");
    expect(byType(b, RULE).map((r) => inputs(r).metadata.name)).toContain("ssept-gpu-node");
  });

  test("existing cluster: the API server may be anywhere, Prometheus may run on any node", async () => {
    const config = stackConfig("staging", {
      clusterMode: "existing",
      existingS3Endpoint: "https://s3.example.org",
      domain: "ml.example.org",
    });
    expect(apiServerCidr(clusterEndpoints(config).nodeCidr)).toBe("0.0.0.0/0");
    expect(apiServerCidr(clusterEndpoints(stackConfig("staging")).nodeCidr)).toBe("192.168.50.0/24");
    const b = await build(config, { gpu: false });
    const values = inputs(one(b, RELEASE, "monitoring-kube-prometheus-stack")).values;
    expect(values.prometheus.prometheusSpec.nodeSelector).toBeUndefined();
    const api = byType(b, NETPOL).find((p) => inputs(p).metadata.name === "api-server")!;
    expect(inputs(api).spec.egress[0].to[0]).toEqual({ ipBlock: { cidr: "0.0.0.0/0" } });
  });
});
