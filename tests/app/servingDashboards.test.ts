/** The Serving, User activity and Recommendation performance dashboards, built without the Pulumi runtime. */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { Dashboard, Panel, RowPanel } from "@grafana/grafana-foundation-sdk/dashboard";
import { PROMETHEUS_DATASOURCE, dashboardConfigMapManifest } from "../../components/platform/dashboards";
import {
  recommendationPerformanceDashboard,
  SERVING_DASHBOARDS,
  servingDashboard,
  userActivityDashboard,
} from "../../components/platform/dashboards/serving";
import { PLATFORM_DASHBOARDS } from "../../components/platform/dashboards";
import { KNOWN_METRICS, METRIC_CATALOG, metricNames } from "../../components/platform/metricCatalog";

interface Query {
  expr: string;
  refId: string;
  datasource?: { type: string; uid: string };
  legendFormat?: string;
}
const panels = (m: Dashboard) =>
  (m.panels ?? []).flatMap((p) => [p, ...(p.type === "row" ? ((p as RowPanel).panels ?? []) : [])]);
const dataPanels = (m: Dashboard) => panels(m).filter((p): p is Panel => p.type !== "row");
const queries = (p: Panel) => (p.targets ?? []) as unknown as Query[];
const panel = (m: Dashboard, title: string) => {
  const found = dataPanels(m).find((p) => p.title === title);
  if (!found)
    throw new Error(
      `no panel "${title}" in ${m.uid}: ${dataPanels(m)
        .map((p) => p.title)
        .join(", ")}`,
    );
  return found;
};
const exprs = (m: Dashboard, title: string) => queries(panel(m, title)).map((q) => q.expr);

const models = SERVING_DASHBOARDS.map((d) => d.build());

describe("serving dashboards", () => {
  test("three dashboards with unique uids, none of them among the platform's", () => {
    expect(models.map((m) => m.uid)).toEqual([
      "ssept-serving",
      "ssept-user-activity",
      "ssept-recommendations",
    ]);
    SERVING_DASHBOARDS.forEach((d, i) => expect(models[i].uid).toBe(d.uid));
    const platform = new Set(PLATFORM_DASHBOARDS.map((d) => d.uid));
    for (const m of models) expect(platform.has(m.uid!)).toBe(false);
    for (const m of models) expect(() => dashboardConfigMapManifest(m)).not.toThrow();
  });

  test.each(models.map((m) => [m.uid!, m] as const))(
    "%s: every query uses the pinned datasource, has a unique refId and names only catalogued metrics",
    (_uid, m) => {
      expect(dataPanels(m).length).toBeGreaterThanOrEqual(6);
      const ids = panels(m).map((p) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const p of dataPanels(m)) {
        expect(p.datasource).toEqual(PROMETHEUS_DATASOURCE);
        const qs = queries(p);
        expect(qs.length).toBeGreaterThan(0);
        expect(new Set(qs.map((q) => q.refId)).size).toBe(qs.length);
        for (const q of qs) {
          expect(q.datasource).toEqual(PROMETHEUS_DATASOURCE);
          const names = metricNames(q.expr);
          expect(names.length).toBeGreaterThan(0);
          expect({ panel: p.title, unknown: names.filter((n) => !KNOWN_METRICS.has(n)) }).toEqual({
            panel: p.title,
            unknown: [],
          });
        }
      }
    },
  );

  test("Serving: p50/p95/p99, Triton queue vs compute per request, batch size from the two counters, GPU use", () => {
    const m = servingDashboard();
    const latency = exprs(m, "Recommendation latency");
    expect(latency.map((e) => /histogram_quantile\((0\.\d+)/.exec(e)?.[1])).toEqual(["0.5", "0.95", "0.99"]);
    const [queue, compute] = exprs(m, "Queue vs compute time per request");
    expect(queue).toContain("rate(nv_inference_queue_duration_us");
    expect(compute).toContain("rate(nv_inference_compute_infer_duration_us");
    for (const e of [queue, compute])
      expect(e).toMatch(/\/ sum by \(version\) \(rate\(nv_inference_request_success.*\/ 1e6$/);
    expect(exprs(m, "Dynamic batch size")[0]).toMatch(
      /rate\(nv_inference_count.*\/ sum by \(version\) \(rate\(nv_inference_exec_count/,
    );
    expect(exprs(m, "GPU utilisation").join(" ")).toContain("nv_gpu_utilization");
    expect(exprs(m, "Responses by status")[0]).toBe(
      "sum by (code) (rate(ssept_gateway_requests_total[$__rate_interval]))",
    );
  });

  test("Recommendation performance: HR@10 of stable and canary side by side, from hits over checks", () => {
    const m = recommendationPerformanceDashboard();
    const [stable, canary] = exprs(m, "Online HR@10 by track");
    expect(stable).toBe(
      'sum(rate(ssept_gateway_online_hits_total{track="stable"}[$__rate_interval])) / sum(rate(ssept_gateway_online_hit_checks_total{track="stable"}[$__rate_interval]))',
    );
    expect(canary).toBe(stable.replace(/stable/g, "canary"));
    expect(exprs(m, "Fallback ratio by track")[0]).toContain('source="fallback"');
    expect(exprs(m, "Model version per track")[0]).toContain("ssept_gateway_model_version_info");
    expect(exprs(m, "Catalogue coverage")[0]).toContain("ssept_gateway_catalogue_coverage");
    expect(exprs(m, "Popularity bias by track")[0]).toContain(
      "ssept_gateway_recommended_item_popularity_bucket",
    );
  });

  test("User activity: events per minute by type, active users, top items, session lengths", () => {
    const m = userActivityDashboard();
    expect(exprs(m, "Events per minute by type")[0]).toBe(
      "sum by (type) (rate(ssept_gateway_events_total[$__rate_interval])) * 60",
    );
    expect(exprs(m, "Active users")[0]).toContain("ssept_gateway_active_users");
    expect(exprs(m, "Top items (views in the active window)")[0]).toContain("ssept_gateway_top_item_events");
    expect(exprs(m, "Session length (events)")[0]).toContain(
      'sum(rate(ssept_simulator_requests_total{kind="event"}[$__rate_interval])) / sum(rate(ssept_simulator_sessions_total',
    );
  });

  test("the dashboards use the gateway's, Triton's and the simulator's metrics; builders are pure", () => {
    const used = new Set(
      models.flatMap((m) => dataPanels(m).flatMap((p) => queries(p).flatMap((q) => metricNames(q.expr)))),
    );
    for (const source of ["gateway", "gateway (requested)", "triton", "simulator"]) {
      const unused = METRIC_CATALOG[source].filter((n) => !used.has(n));
      expect([source, unused]).toEqual([source, []]);
    }
    for (const d of SERVING_DASHBOARDS) expect(d.build()).toEqual(d.build());
  });

  test("every query is valid PromQL (promtool parses each as a recording rule, Grafana's $__rate_interval as 5m)", () => {
    const exprs = models.flatMap((m) => dataPanels(m).flatMap((p) => queries(p).map((q) => q.expr)));
    const rules = {
      groups: [
        {
          name: "dashboards",
          rules: exprs.map((e, i) => ({
            record: `dashboard:query_${i}`,
            expr: e.replace(/\$__rate_interval/g, "5m"),
          })),
        },
      ],
    };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dashboard-promql-"));
    try {
      fs.writeFileSync(path.join(dir, "queries.yaml"), yaml.dump(rules, { lineWidth: -1 }));
      const run = spawnSync("promtool", ["check", "rules", path.join(dir, "queries.yaml")], {
        encoding: "utf8",
      });
      if (run.error) throw new Error("promtool is not installed: apt-get install -y prometheus");
      expect([run.status, run.stdout + run.stderr]).toEqual([
        0,
        expect.stringContaining(`SUCCESS: ${exprs.length} rules found`),
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
