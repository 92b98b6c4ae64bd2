import { Dashboard, RowBuilder } from "@grafana/grafana-foundation-sdk/dashboard";
import { dashboard, DashboardDefinition, toJsonModel, stat, timeseries } from "./common";

const READY = 'kube_node_status_condition{condition="Ready",status="true"}';
const GPU_NODES = 'max by (node) (kube_node_labels{label_node_role="gpu"})';

/** Nodes, namespaces and volumes of the cluster, then the GPUs (DCGM) and the GPU lease. */
export function clusterGpuDashboard(): Dashboard {
  return toJsonModel(
    dashboard(
      "ssept-cluster-gpu",
      "SSE-PT / Cluster and GPU",
      "k3s nodes, workloads and volumes; GPU utilisation, memory, temperature and power from DCGM; time left on the GPU lease.",
    )
      .withRow(new RowBuilder("Cluster"))
      .withPanel(stat("Nodes Ready", { expr: `sum(${READY})` }))
      .withPanel(
        stat("GPU nodes Ready", { expr: `sum(max by (node) (${READY}) and on (node) ${GPU_NODES})` }),
      )
      .withPanel(
        stat("Pods not running", { expr: 'sum(kube_pod_status_phase{phase=~"Pending|Failed|Unknown"})' }),
      )
      .withPanel(
        stat(
          "GPU lease time left",
          { expr: "min(ssept_gpu_lease_end_timestamp_seconds - time()) > 0" },
          { unit: "s", description: "Until the nearest GPU lease ends; empty when none is running." },
        ),
      )
      .withPanel(
        timeseries(
          "Node CPU",
          [
            {
              expr: '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[$__rate_interval]))',
              legend: "{{instance}}",
            },
          ],
          { unit: "percentunit", min: 0, max: 1 },
        ),
      )
      .withPanel(
        timeseries(
          "Node memory",
          [
            {
              expr: "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
              legend: "{{instance}}",
            },
          ],
          { unit: "percentunit", min: 0, max: 1 },
        ),
      )
      .withPanel(
        timeseries(
          "CPU by namespace",
          [
            {
              expr: 'sum by (namespace) (rate(container_cpu_usage_seconds_total{container!=""}[$__rate_interval]))',
              legend: "{{namespace}}",
            },
          ],
          { unit: "short", description: "CPU cores in use." },
        ),
      )
      .withPanel(
        timeseries(
          "Memory by namespace",
          [
            {
              expr: 'sum by (namespace) (container_memory_working_set_bytes{container!=""})',
              legend: "{{namespace}}",
            },
          ],
          { unit: "bytes" },
        ),
      )
      .withPanel(
        timeseries(
          "Persistent volumes used",
          [
            {
              expr: "max by (namespace, persistentvolumeclaim) (kubelet_volume_stats_used_bytes / kubelet_volume_stats_capacity_bytes)",
              legend: "{{namespace}}/{{persistentvolumeclaim}}",
            },
          ],
          { unit: "percentunit", min: 0, max: 1, width: 24 },
        ),
      )
      .withRow(new RowBuilder("GPU"))
      .withPanel(
        timeseries(
          "GPU utilisation",
          [{ expr: "DCGM_FI_DEV_GPU_UTIL", legend: "{{Hostname}} gpu {{gpu}}" }],
          {
            unit: "percent",
            min: 0,
            max: 100,
          },
        ),
      )
      .withPanel(
        timeseries(
          "GPU memory used",
          [
            {
              expr: "DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)",
              legend: "{{Hostname}} gpu {{gpu}}",
            },
          ],
          { unit: "percentunit", min: 0, max: 1 },
        ),
      )
      .withPanel(
        timeseries(
          "GPU temperature",
          [{ expr: "DCGM_FI_DEV_GPU_TEMP", legend: "{{Hostname}} gpu {{gpu}}" }],
          {
            unit: "celsius",
          },
        ),
      )
      .withPanel(
        timeseries("GPU power", [{ expr: "DCGM_FI_DEV_POWER_USAGE", legend: "{{Hostname}} gpu {{gpu}}" }], {
          unit: "watt",
        }),
      )
      .build(),
  );
}

export const CLUSTER_GPU_DASHBOARD: DashboardDefinition = {
  uid: "ssept-cluster-gpu",
  build: clusterGpuDashboard,
};
