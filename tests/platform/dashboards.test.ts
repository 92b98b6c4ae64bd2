import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { Dashboard, Panel, RowPanel } from "@grafana/grafana-foundation-sdk/dashboard";
import {
  PLATFORM_DASHBOARDS,
  PROMETHEUS_DATASOURCE,
  dashboardConfigMapManifest,
} from "../../components/platform/dashboards";
import { clusterGpuDashboard } from "../../components/platform/dashboards/clusterGpu";
import { mlflowPostgresDashboard } from "../../components/platform/dashboards/mlflowPostgres";
import { rayDashboard } from "../../components/platform/dashboards/ray";
import { KNOWN_METRICS, METRIC_CATALOG, metricNames } from "../../components/platform/metricCatalog";

interface Query {
  expr: string;
  refId: string;
  datasource?: { type: string; uid: string };
  legendFormat?: string;
}

function allPanels(model: Dashboard): (Panel | RowPanel)[] {
  return (model.panels ?? []).flatMap((p) => [
    p,
    ...(p.type === "row" ? ((p as RowPanel).panels ?? []) : []),
  ]);
}
const dataPanels = (model: Dashboard) => allPanels(model).filter((p): p is Panel => p.type !== "row");
const queriesOf = (panel: Panel) => (panel.targets ?? []) as unknown as Query[];

const models = PLATFORM_DASHBOARDS.map((d) => ({ definition: d, model: d.build() }));

describe("platform dashboards", () => {
  test("cluster/GPU, Ray and MLflow/Postgres dashboards are installed, with unique uids matching their definitions", () => {
    expect(models.map((m) => m.model.uid)).toEqual([
      "ssept-cluster-gpu",
      "ssept-ray",
      "ssept-mlflow-postgres",
    ]);
    for (const { definition, model } of models) expect(model.uid).toBe(definition.uid);
    expect(new Set(models.map((m) => m.model.title)).size).toBe(models.length);
  });

  test.each(models.map((m) => [m.model.uid!, m.model] as const))(
    "%s: every panel queries the pinned Prometheus datasource",
    (_uid, model) => {
      const panels = dataPanels(model);
      expect(panels.length).toBeGreaterThanOrEqual(6);
      for (const panel of panels) {
        expect(panel.datasource).toEqual(PROMETHEUS_DATASOURCE);
        const queries = queriesOf(panel);
        expect(queries.length).toBeGreaterThan(0);
        for (const q of queries) {
          expect(q.datasource).toEqual(PROMETHEUS_DATASOURCE);
          expect(q.expr.trim()).not.toBe("");
        }
        // refIds identify queries within a panel; Grafana drops duplicates.
        expect(new Set(queries.map((q) => q.refId)).size).toBe(queries.length);
      }
    },
  );

  test.each(models.map((m) => [m.model.uid!, m.model] as const))(
    "%s: panel ids are unique and titles are set",
    (_uid, model) => {
      const panels = allPanels(model);
      const ids = panels.map((p) => p.id);
      expect(ids.every((id) => typeof id === "number" && id > 0)).toBe(true);
      expect(new Set(ids).size).toBe(ids.length);
      for (const panel of panels) expect(panel.title).toBeTruthy();
    },
  );

  test.each(models.map((m) => [m.model.uid!, m.model] as const))(
    "%s: queries name only catalogued metrics",
    (_uid, model) => {
      for (const panel of dataPanels(model)) {
        for (const q of queriesOf(panel)) {
          const names = metricNames(q.expr);
          expect(names.length).toBeGreaterThan(0);
          expect({ panel: panel.title, unknown: names.filter((n) => !KNOWN_METRICS.has(n)) }).toEqual({
            panel: panel.title,
            unknown: [],
          });
        }
      }
    },
  );

  test("each dashboard covers its subject's own exporters", () => {
    const used = (model: Dashboard) =>
      new Set(dataPanels(model).flatMap((p) => queriesOf(p).flatMap((q) => metricNames(q.expr))));
    const uses = (model: Dashboard, source: string) => METRIC_CATALOG[source].some((m) => used(model).has(m));
    const cluster = clusterGpuDashboard();
    for (const source of [
      "kube-state-metrics",
      "node-exporter",
      "kubelet",
      "dcgm-exporter",
      "gpu-lease-metrics",
    ]) {
      expect([source, uses(cluster, source)]).toEqual([source, true]);
    }
    expect(uses(rayDashboard(), "ray")).toBe(true);
    expect(uses(mlflowPostgresDashboard(), "mlflow")).toBe(true);
    expect(uses(mlflowPostgresDashboard(), "postgres-exporter")).toBe(true);
  });

  test("builders are pure: two builds give the same model", () => {
    for (const d of PLATFORM_DASHBOARDS) expect(d.build()).toEqual(d.build());
  });

  test("the datasource uid is the one Grafana's sidecar provisions", () => {
    const values = yaml.load(
      fs.readFileSync(
        path.join(__dirname, "..", "..", "charts", "kube-prometheus-stack", "values.yaml"),
        "utf8",
      ),
    ) as {
      grafana: {
        sidecar: { datasources: { uid: string }; dashboards: { label: string; labelValue: string } };
      };
    };
    expect(values.grafana.sidecar.datasources.uid).toBe(PROMETHEUS_DATASOURCE.uid);
    const manifest = dashboardConfigMapManifest(clusterGpuDashboard());
    expect(manifest.labels[values.grafana.sidecar.dashboards.label]).toBe(
      values.grafana.sidecar.dashboards.labelValue,
    );
  });
});

describe("dashboardConfigMapManifest", () => {
  test("holds the JSON model under <uid>.json, labelled for Grafana's sidecar", () => {
    const model = rayDashboard();
    const manifest = dashboardConfigMapManifest(model);
    expect(manifest.name).toBe("dashboard-ssept-ray");
    expect(manifest.labels).toMatchObject({ grafana_dashboard: "1" });
    expect(Object.keys(manifest.data)).toEqual(["ssept-ray.json"]);
    expect(JSON.parse(manifest.data["ssept-ray.json"])).toEqual(model);
  });

  test("refuses a dashboard without a usable uid", () => {
    const model = rayDashboard();
    expect(() => dashboardConfigMapManifest({ ...model, uid: undefined })).toThrow(/uid/);
    expect(() => dashboardConfigMapManifest({ ...model, uid: "Has Spaces" })).toThrow(/uid "Has Spaces"/);
  });
});

describe("metricNames", () => {
  test("finds selected metrics and ignores functions, labels, durations, keywords and variables", () => {
    expect(
      metricNames(
        'histogram_quantile(0.95, sum by (le) (rate(ssept_gateway_request_duration_seconds_bucket{code=~"5..",le!="x"}[$__rate_interval])))',
      ),
    ).toEqual(["ssept_gateway_request_duration_seconds_bucket"]);
    expect(
      metricNames(
        'max by (node) (kube_node_status_condition{condition="Ready"}) == 0 and on (node) kube_node_labels offset 5m',
      ),
    ).toEqual(["kube_node_status_condition", "kube_node_labels"]);
    expect(metricNames("min(ssept_gpu_lease_end_timestamp_seconds - time()) > 0 or vector(1e10)")).toEqual([
      "ssept_gpu_lease_end_timestamp_seconds",
    ]);
  });

  test("a misspelt metric is caught by the catalog", () => {
    const unknown = metricNames("sum(rate(node_cpu_second_total[5m]))").filter((n) => !KNOWN_METRICS.has(n));
    expect(unknown).toEqual(["node_cpu_second_total"]);
  });
});
