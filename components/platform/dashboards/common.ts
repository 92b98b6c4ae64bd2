import * as cog from "@grafana/grafana-foundation-sdk/cog";
import * as common from "@grafana/grafana-foundation-sdk/common";
import { Dashboard, DashboardBuilder, Panel, RowPanel } from "@grafana/grafana-foundation-sdk/dashboard";
import { DataqueryBuilder } from "@grafana/grafana-foundation-sdk/prometheus";
import { PanelBuilder as StatPanelBuilder } from "@grafana/grafana-foundation-sdk/stat";
import { PanelBuilder as TimeseriesPanelBuilder } from "@grafana/grafana-foundation-sdk/timeseries";

/**
 * The Prometheus datasource Grafana's sidecar provisions; its uid is pinned in
 * charts/kube-prometheus-stack/values.yaml (grafana.sidecar.datasources.uid).
 */
export const PROMETHEUS_DATASOURCE = { type: "prometheus", uid: "prometheus" } as const;

/** Tag every dashboard of the estate carries, so that Grafana's search lists them together. */
export const DASHBOARD_TAG = "sse-pt";

/** A dashboard of the estate: its uid doubles as the ConfigMap and file name. */
export interface DashboardDefinition {
  uid: string;
  build: () => Dashboard;
}

export interface Target {
  expr: string;
  legend?: string;
}

function queries(targets: readonly Target[]): cog.Builder<cog.Dataquery>[] {
  return targets.map((t, i) => {
    const q = new DataqueryBuilder()
      .datasource({ ...PROMETHEUS_DATASOURCE })
      .refId(String.fromCharCode(65 + i))
      .expr(t.expr);
    return t.legend ? q.legendFormat(t.legend) : q;
  });
}

export interface PanelOptions {
  unit?: string;
  description?: string;
  /** Grid width out of 24. */
  width?: number;
  height?: number;
  min?: number;
  max?: number;
}

/** A time series panel over Prometheus queries, with a legend listing the last and max values. */
export function timeseries(title: string, targets: readonly Target[], options: PanelOptions = {}) {
  const panel = new TimeseriesPanelBuilder()
    .title(title)
    .datasource({ ...PROMETHEUS_DATASOURCE })
    .targets(queries(targets))
    .span(options.width ?? 12)
    .height(options.height ?? 8)
    .lineWidth(1)
    .fillOpacity(10)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.Table)
        .placement(common.LegendPlacement.Bottom)
        .calcs(["lastNotNull", "max"]),
    );
  if (options.unit) panel.unit(options.unit);
  if (options.description) panel.description(options.description);
  if (options.min !== undefined) panel.min(options.min);
  if (options.max !== undefined) panel.max(options.max);
  return panel;
}

/** A single-value panel showing the last value of one query. */
export function stat(title: string, target: Target, options: PanelOptions = {}) {
  const panel = new StatPanelBuilder()
    .title(title)
    .datasource({ ...PROMETHEUS_DATASOURCE })
    .targets(queries([target]))
    .span(options.width ?? 6)
    .height(options.height ?? 4)
    .graphMode(common.BigValueGraphMode.None)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(["lastNotNull"]));
  if (options.unit) panel.unit(options.unit);
  if (options.description) panel.description(options.description);
  return panel;
}

/** The settings every dashboard of the estate shares: tag, UTC, read-only, 30 s refresh. */
export function dashboard(uid: string, title: string, description: string): DashboardBuilder {
  return new DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags([DASHBOARD_TAG])
    .timezone("utc")
    .readonly()
    .refresh("30s")
    .time({ from: "now-6h", to: "now" });
}

/**
 * The dashboard as plain JSON (the SDK's objects carry helper functions), with its panels, rows
 * included, numbered 1..n in order: Grafana needs ids unique within a dashboard.
 */
export function toJsonModel(built: Dashboard): Dashboard {
  const model = JSON.parse(JSON.stringify(built)) as Dashboard;
  let id = 0;
  const number = (p: Panel | RowPanel): Panel | RowPanel => {
    id += 1;
    const numbered = { ...p, id };
    if (p.type === "row" && Array.isArray((p as RowPanel).panels)) {
      (numbered as RowPanel).panels = (p as RowPanel).panels.map((child) => number(child) as Panel);
    }
    return numbered;
  };
  return { ...model, panels: (model.panels ?? []).map(number) };
}
