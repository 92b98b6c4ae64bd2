import { CLUSTER_GPU_DASHBOARD } from "./clusterGpu";
import { DashboardDefinition } from "./common";
import { MLFLOW_POSTGRES_DASHBOARD } from "./mlflowPostgres";
import { RAY_DASHBOARD } from "./ray";

export type { DashboardDefinition } from "./common";
export { PROMETHEUS_DATASOURCE } from "./common";
export { DASHBOARD_LABEL, dashboardConfigMapManifest, grafanaDashboard } from "./configMap";

/**
 * The dashboards the Monitoring component installs. To add one: write a builder next to these
 * (a pure function returning the JSON model, built with the helpers of ./common) and list it here,
 * or, for a dashboard that belongs to another component, call `grafanaDashboard` from it.
 */
export const PLATFORM_DASHBOARDS: readonly DashboardDefinition[] = [
  CLUSTER_GPU_DASHBOARD,
  RAY_DASHBOARD,
  MLFLOW_POSTGRES_DASHBOARD,
];
