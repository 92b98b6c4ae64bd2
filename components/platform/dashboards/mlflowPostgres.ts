import { Dashboard, RowBuilder } from "@grafana/grafana-foundation-sdk/dashboard";
import { dashboard, DashboardDefinition, toJsonModel, stat, timeseries } from "./common";

const MLFLOW = 'namespace="mlflow",service="mlflow"';
const POSTGRES = 'namespace="mlflow",service="mlflow-postgres"';

/**
 * The MLflow tracking server (its prometheus_flask_exporter metrics, prefixed `mlflow_`) and its
 * Postgres (postgres_exporter sidecar, `pg_`).
 */
export function mlflowPostgresDashboard(): Dashboard {
  return toJsonModel(
    dashboard(
      "ssept-mlflow-postgres",
      "SSE-PT / MLflow and Postgres",
      "MLflow tracking server requests and latency; its Postgres connections, transactions, size and volume.",
    )
      .withRow(new RowBuilder("MLflow"))
      .withPanel(stat("MLflow servers up", { expr: `sum(up{${MLFLOW}})` }))
      .withPanel(stat("Postgres reachable", { expr: `min(pg_up{${POSTGRES}})` }))
      .withPanel(
        timeseries(
          "Requests by status",
          [
            {
              expr: `sum by (status) (rate(mlflow_http_request_total{${MLFLOW}}[$__rate_interval]))`,
              legend: "{{status}}",
            },
          ],
          { unit: "reqps" },
        ),
      )
      .withPanel(
        timeseries(
          "Request latency",
          [
            {
              expr: `histogram_quantile(0.95, sum by (le) (rate(mlflow_http_request_duration_seconds_bucket{${MLFLOW}}[$__rate_interval])))`,
              legend: "p95",
            },
            {
              expr: `histogram_quantile(0.5, sum by (le) (rate(mlflow_http_request_duration_seconds_bucket{${MLFLOW}}[$__rate_interval])))`,
              legend: "p50",
            },
          ],
          { unit: "s" },
        ),
      )
      .withRow(new RowBuilder("Postgres"))
      .withPanel(
        timeseries(
          "Connections",
          [
            { expr: `sum by (datname) (pg_stat_database_numbackends{${POSTGRES}})`, legend: "{{datname}}" },
            { expr: `max(pg_settings_max_connections{${POSTGRES}})`, legend: "max" },
          ],
          { unit: "short" },
        ),
      )
      .withPanel(
        timeseries(
          "Transactions",
          [
            {
              expr: `sum by (datname) (rate(pg_stat_database_xact_commit{${POSTGRES}}[$__rate_interval]))`,
              legend: "{{datname}} commits",
            },
            {
              expr: `sum by (datname) (rate(pg_stat_database_xact_rollback{${POSTGRES}}[$__rate_interval]))`,
              legend: "{{datname}} rollbacks",
            },
          ],
          { unit: "ops" },
        ),
      )
      .withPanel(
        timeseries(
          "Database size",
          [{ expr: `pg_database_size_bytes{${POSTGRES}}`, legend: "{{datname}}" }],
          {
            unit: "bytes",
          },
        ),
      )
      .withPanel(
        timeseries(
          "Volumes used",
          [
            {
              expr: 'max by (persistentvolumeclaim) (kubelet_volume_stats_used_bytes{namespace="mlflow"} / kubelet_volume_stats_capacity_bytes{namespace="mlflow"})',
              legend: "{{persistentvolumeclaim}}",
            },
          ],
          { unit: "percentunit", min: 0, max: 1 },
        ),
      )
      .build(),
  );
}

export const MLFLOW_POSTGRES_DASHBOARD: DashboardDefinition = {
  uid: "ssept-mlflow-postgres",
  build: mlflowPostgresDashboard,
};
