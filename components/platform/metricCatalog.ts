import { LEASE_END_METRIC, VM_LEASE_END_METRIC } from "./leaseMetrics";

/**
 * The metrics the estate's dashboards and alert rules query, by the exporter that provides them.
 * A query naming a metric outside this list is a typo or a new contract: add it here with its source.
 */
export const METRIC_CATALOG: Readonly<Record<string, readonly string[]>> = {
  prometheus: ["up"],
  // kube-state-metrics: docs/metrics/{cluster/node,workload/pod,workload/job}-metrics.md
  "kube-state-metrics": [
    "kube_node_status_condition",
    "kube_node_labels",
    "kube_pod_status_phase",
    "kube_job_failed",
    "kube_job_status_failed",
  ],
  "node-exporter": ["node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes"],
  // The kubelet's cAdvisor and volume statistics endpoints.
  kubelet: [
    "container_cpu_usage_seconds_total",
    "container_memory_working_set_bytes",
    "kubelet_volume_stats_used_bytes",
    "kubelet_volume_stats_capacity_bytes",
  ],
  // dcgm-exporter's default-counters.csv.
  "dcgm-exporter": [
    "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_FB_USED",
    "DCGM_FI_DEV_FB_FREE",
    "DCGM_FI_DEV_GPU_TEMP",
    "DCGM_FI_DEV_POWER_USAGE",
  ],
  // Ray's system metrics (ray/dashboard/modules/metrics/dashboards/default_dashboard_panels.py).
  ray: [
    "ray_tasks",
    "ray_actors",
    "ray_resources",
    "ray_object_store_memory",
    "ray_node_cpu_utilization",
    "ray_node_gpus_utilization",
    "ray_node_mem_used",
    "ray_node_mem_total",
  ],
  // Argo Workflows 3.6 and later (docs/metrics.md, `total_count`).
  "argo-workflows": ["argo_workflows_total_count"],
  // mlflow server --expose-prometheus: prometheus_flask_exporter with the prefix `mlflow`.
  mlflow: ["mlflow_http_request_total", "mlflow_http_request_duration_seconds_bucket"],
  "postgres-exporter": [
    "pg_up",
    "pg_stat_database_numbackends",
    "pg_settings_max_connections",
    "pg_stat_database_xact_commit",
    "pg_stat_database_xact_rollback",
    "pg_database_size_bytes",
  ],
  // The inference gateway (model-server/gateway/src/metrics.ts, names in model-server/README.md).
  gateway: [
    "ssept_gateway_requests_total",
    "ssept_gateway_request_duration_seconds_bucket",
    "ssept_gateway_recommendations_total",
    "ssept_gateway_fallbacks_total",
    "ssept_gateway_events_total",
    "ssept_gateway_online_hits_total",
    "ssept_gateway_online_hit_checks_total",
    "ssept_gateway_catalogue_coverage",
    "ssept_gateway_active_users",
    "ssept_gateway_circuit_state",
    "ssept_gateway_model_version_info",
  ],
  // Asked of the gateway by the serving dashboards (model-server/README.md), not exported yet: their
  // panels stay empty until it does.
  "gateway (requested)": [
    "ssept_gateway_recommended_item_popularity_bucket",
    "ssept_gateway_top_item_events",
  ],
  // The user simulator (model-server/simulator/src/metrics.ts).
  simulator: ["ssept_simulator_sessions_total", "ssept_simulator_requests_total"],
  // Triton Inference Server's metrics endpoint (:8002), docs/user_guide/metrics.md.
  triton: [
    "nv_inference_request_success",
    "nv_inference_request_failure",
    "nv_inference_count",
    "nv_inference_exec_count",
    "nv_inference_request_duration_us",
    "nv_inference_queue_duration_us",
    "nv_inference_compute_infer_duration_us",
    "nv_gpu_utilization",
  ],
  "gpu-lease-metrics": [LEASE_END_METRIC, VM_LEASE_END_METRIC],
};

export const KNOWN_METRICS: ReadonlySet<string> = new Set(Object.values(METRIC_CATALOG).flat());

const KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "and",
  "or",
  "unless",
  "offset",
  "bool",
  "inf",
  "nan",
]);

/**
 * Metric names a PromQL expression selects. Strings, label matchers, range and offset durations,
 * label lists of by/without/on/ignoring/group_*, Grafana variables and function names are not metrics.
 */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
    .replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, " ")
    .replace(/\boffset\s+\d+[smhdwy]/g, " ");
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)) {
    if (m[2]) continue;
    if (KEYWORDS.has(m[1].toLowerCase())) continue;
    names.add(m[1]);
  }
  return [...names];
}
