import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { chartValues, readChartPin } from "../../components/platform/helmRelease";
import {
  API_SERVER_PORTS,
  MONITORING_PODS,
  monitoringNetworkPolicies,
  SCRAPE_PORTS,
} from "../../components/platform/monitoringNetworkPolicies";
import {
  DCGM_EXPORTER_DIR,
  dcgmExporterValues,
  GRAFANA_ADMIN_SECRET,
  KUBE_PROMETHEUS_STACK_DIR,
  kubePrometheusStackValues,
  MONITORING_SERVICES,
  prometheusRetentionSize,
  serviceUrl,
} from "../../components/platform/monitoringValues";

import { PlatformConfig } from "../../stacks/config";
import { prometheusOptions } from "../../stacks/estate";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const CHAMELEON = { mode: "chameleon" } as PlatformConfig["cluster"];
const EXISTING = { mode: "existing" } as PlatformConfig["cluster"];

const values = (retention: string, storageGi: number, cluster = CHAMELEON): Json =>
  chartValues(
    KUBE_PROMETHEUS_STACK_DIR,
    "staging",
    kubePrometheusStackValues(prometheusOptions({ monitoring: { retention, storageGi }, cluster })),
  );

describe("kube-prometheus-stack values", () => {
  const v = values("15d", 30);

  test("pinned chart", () => {
    expect(readChartPin(KUBE_PROMETHEUS_STACK_DIR)).toEqual({
      repository: "https://prometheus-community.github.io/helm-charts",
      chart: "kube-prometheus-stack",
      version: "88.5.3",
    });
  });

  test("selectors are opened: every ServiceMonitor, PodMonitor, Probe and rule of the estate is picked up", () => {
    const spec = v.prometheus.prometheusSpec;
    for (const kind of ["rule", "serviceMonitor", "podMonitor", "probe", "scrapeConfig"]) {
      expect([kind, spec[`${kind}SelectorNilUsesHelmValues`]]).toEqual([kind, false]);
    }
    for (const selector of [
      "ruleSelector",
      "ruleNamespaceSelector",
      "serviceMonitorSelector",
      "serviceMonitorNamespaceSelector",
      "podMonitorSelector",
      "podMonitorNamespaceSelector",
    ]) {
      expect([selector, spec[selector]]).toEqual([selector, {}]);
    }
  });

  test("retention and volume size come from config", () => {
    for (const [retention, gi] of [
      ["7d", 10],
      ["15d", 30],
    ] as const) {
      const spec = values(retention, gi).prometheus.prometheusSpec;
      expect(spec.retention).toBe(retention);
      expect(spec.storageSpec.volumeClaimTemplate.spec.resources.requests.storage).toBe(`${gi}Gi`);
      expect(spec.storageSpec.volumeClaimTemplate.spec.accessModes).toEqual(["ReadWriteOnce"]);
      expect(spec.retentionSize).toBe(prometheusRetentionSize(gi));
    }
  });

  test("on Chameleon, Prometheus's volume lands on the Cinder data volume's node; elsewhere anywhere", () => {
    expect(values("15d", 30).prometheus.prometheusSpec.nodeSelector).toEqual({
      "ssept.io/data-volume": "cinder",
    });
    expect(values("15d", 30, EXISTING).prometheus.prometheusSpec.nodeSelector).toBeUndefined();
  });

  test("size-based retention keeps the volume under the 85 % alert", () => {
    expect(prometheusRetentionSize(10)).toBe("8192MB");
    expect(prometheusRetentionSize(1)).toBe("819MB");
    for (const gi of [1, 7, 20, 500]) {
      const mb = Number(prometheusRetentionSize(gi).replace("MB", ""));
      expect(mb / (gi * 1024)).toBeLessThan(0.85);
    }
    expect(() => prometheusRetentionSize(0)).toThrow(/prometheusStorageGi = 0/);
  });

  test("Grafana: admin login from an existing Secret, no password in values, anonymous access off", () => {
    expect(v.grafana.admin).toEqual({
      existingSecret: GRAFANA_ADMIN_SECRET.name,
      userKey: GRAFANA_ADMIN_SECRET.userKey,
      passwordKey: GRAFANA_ADMIN_SECRET.passwordKey,
    });
    expect(v.grafana.adminPassword).toBeUndefined();
    expect(JSON.stringify(v)).not.toMatch(/adminPassword/);
    expect(v.grafana["grafana.ini"]["auth.anonymous"].enabled).toBe(false);
    expect(v.grafana["grafana.ini"].users.allow_sign_up).toBe(false);
  });

  test("Grafana loads dashboards from ConfigMaps labelled grafana_dashboard=1 in any namespace", () => {
    expect(v.grafana.sidecar.dashboards).toMatchObject({
      enabled: true,
      label: "grafana_dashboard",
      labelValue: "1",
      searchNamespace: "ALL",
    });
  });

  test("kube-state-metrics exposes the node-role label", () => {
    expect(v["kube-state-metrics"].metricLabelsAllowlist).toContain("nodes=[node-role]");
  });

  test("components k3s does not expose are not scraped", () => {
    for (const component of ["kubeControllerManager", "kubeScheduler", "kubeProxy", "kubeEtcd"]) {
      expect([component, v[component].enabled]).toEqual([component, false]);
    }
  });

  test("every workload the chart runs has requests and limits", () => {
    const resources = [
      v.prometheusOperator.resources,
      v.prometheusOperator.admissionWebhooks.patch.resources,
      v.prometheusOperator.prometheusConfigReloader.resources,
      v.prometheus.prometheusSpec.resources,
      v.alertmanager.alertmanagerSpec.resources,
      v.grafana.resources,
      v.grafana.sidecar.resources,
      v["kube-state-metrics"].resources,
      v["prometheus-node-exporter"].resources,
    ];
    for (const r of resources) {
      expect(Object.keys(r.requests).sort()).toEqual(["cpu", "memory"]);
      expect(Object.keys(r.limits).sort()).toEqual(["cpu", "memory"]);
    }
  });

  test("Service names the other components address are fixed by the values", () => {
    expect(v.fullnameOverride).toBe("kube-prometheus-stack");
    expect(MONITORING_SERVICES.prometheus.name).toBe(`${v.fullnameOverride}-prometheus`);
    expect(MONITORING_SERVICES.alertmanager.name).toBe(`${v.fullnameOverride}-alertmanager`);
    expect(MONITORING_SERVICES.grafana.name).toBe(v.grafana.fullnameOverride);
    expect(serviceUrl("monitoring", MONITORING_SERVICES.prometheus)).toBe(
      "http://kube-prometheus-stack-prometheus.monitoring.svc.cluster.local:9090",
    );
  });
});

describe("dcgm-exporter values", () => {
  const v: Json = chartValues(DCGM_EXPORTER_DIR, "production", dcgmExporterValues());

  test("pinned chart", () => {
    expect(readChartPin(DCGM_EXPORTER_DIR)).toEqual({
      repository: "https://nvidia.github.io/dcgm-exporter/helm-charts",
      chart: "dcgm-exporter",
      version: "4.8.2",
    });
  });

  test("runs only on GPU nodes, tolerating their taint, with its ServiceMonitor", () => {
    expect(v.nodeSelector).toEqual({ "node-role": "gpu" });
    expect(v.tolerations).toEqual([
      { key: "nvidia.com/gpu", operator: "Equal", value: "present", effect: "NoSchedule" },
    ]);
    expect(v.runtimeClassName).toBe("nvidia");
    expect(v.serviceMonitor.enabled).toBe(true);
    expect(Object.keys(v.resources.limits).sort()).toEqual(["cpu", "memory"]);
  });
});

describe("monitoring network policies", () => {
  const policies = monitoringNetworkPolicies({ apiServerCidr: "192.168.50.0/24" });
  const byName = (name: string): Json => {
    const found = policies.find((p) => p.name === name);
    if (!found) throw new Error(`no policy ${name}`);
    return found.spec;
  };
  const ports = (rule: Json) => (rule.ports ?? []).map((p: Json) => p.port);

  test.each(policies.map((p) => [p.name, p] as const))("%s validates as a NetworkPolicy", (_name, p) => {
    expect(() =>
      new NetworkPolicy({
        metadata: { name: p.name, namespace: "monitoring" },
        spec: p.spec as Json,
      }).validate(),
    ).not.toThrow();
  });

  test("Prometheus may scrape metrics ports in every namespace, and the nodes' kubelet and node-exporter", () => {
    const spec = byName("prometheus-scrape");
    expect(spec.podSelector.matchLabels).toEqual(MONITORING_PODS.prometheus);
    const allNamespaces = spec.egress.find(
      (r: Json) => JSON.stringify(r.to) === JSON.stringify([{ namespaceSelector: {} }]),
    );
    expect(ports(allNamespaces)).toEqual([...SCRAPE_PORTS]);
    expect(ports(allNamespaces)).toEqual(expect.arrayContaining(["metrics", 9400, 9187, 8080, 9090]));
    const nodes = spec.egress.find((r: Json) => r.to[0].ipBlock);
    expect(ports(nodes)).toEqual([10250, 9100]);
  });

  test("Grafana is reachable from Traefik in kube-system only (and the Ray dashboard), on its container port", () => {
    const spec = byName("grafana");
    expect(spec.ingress).toHaveLength(1);
    expect(spec.ingress[0].from[0]).toEqual({
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
      podSelector: { matchLabels: { "app.kubernetes.io/name": "traefik" } },
    });
    expect(spec.ingress[0].from[1]).toEqual({
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ray" } },
    });
    expect(ports(spec.ingress[0])).toEqual([3000]);
    expect(spec.egress.map(ports)).toEqual([[9090], [9093]]);
  });

  test("the API server (6443, and 443 through the kubernetes Service) is open to the pods that watch it", () => {
    const spec = byName("api-server");
    expect(spec.podSelector.matchExpressions[0].values.sort()).toEqual(
      [
        "grafana",
        "kube-prometheus-stack-prometheus-operator",
        "kube-state-metrics",
        "prometheus",
        "prometheus-node-exporter",
      ].sort(),
    );
    expect(spec.egress).toHaveLength(1);
    expect(ports(spec.egress[0])).toEqual([...API_SERVER_PORTS]);
    expect(spec.egress[0].to[0]).toEqual({ ipBlock: { cidr: "192.168.50.0/24" } });
  });

  test("Alertmanager takes alerts from Prometheus (through the namespace rule) and Grafana, and talks only to its peers", () => {
    const spec = byName("alertmanager");
    expect(spec.ingress[0].from).toEqual([{ podSelector: { matchLabels: MONITORING_PODS.grafana } }]);
    expect(spec.egress).toEqual([
      {
        to: [{ podSelector: { matchLabels: MONITORING_PODS.alertmanager } }],
        ports: [{ protocol: "TCP", port: 9094 }],
      },
    ]);
    expect(byName("scraped-by-prometheus")).toEqual({
      podSelector: {},
      policyTypes: ["Ingress"],
      ingress: [{ from: [{ podSelector: { matchLabels: MONITORING_PODS.prometheus } }] }],
    });
  });

  test("policy names are unique; no policy opens ingress to everything", () => {
    expect(new Set(policies.map((p) => p.name)).size).toBe(policies.length);
    for (const p of policies) {
      for (const rule of (p.spec.ingress ?? []) as Json[]) {
        expect([p.name, rule.from === undefined || rule.from.length === 0]).toEqual([p.name, false]);
      }
    }
  });
});
