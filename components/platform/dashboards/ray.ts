import { Dashboard, RowBuilder } from "@grafana/grafana-foundation-sdk/dashboard";
import { dashboard, DashboardDefinition, toJsonModel, stat, timeseries } from "./common";

/** The RayCluster: nodes, logical resources, tasks and actors, hardware use (Ray's own metrics). */
export function rayDashboard(): Dashboard {
  return toJsonModel(
    dashboard(
      "ssept-ray",
      "SSE-PT / Ray",
      "The RayCluster that trains and tunes SSE-PT: logical CPUs and GPUs, tasks, actors, node hardware and the object store.",
    )
      .withRow(new RowBuilder("Scheduler"))
      .withPanel(stat("Ray nodes", { expr: "count(ray_node_mem_total)" }))
      .withPanel(
        stat(
          "Logical GPUs in use",
          { expr: 'sum(ray_resources{Name="GPU",State="USED"})' },
          { unit: "short" },
        ),
      )
      .withPanel(
        stat(
          "Logical CPUs in use",
          { expr: 'sum(ray_resources{Name="CPU",State="USED"})' },
          { unit: "short" },
        ),
      )
      .withPanel(
        stat("Failed RayJob submitters", { expr: 'sum(kube_job_failed{namespace="ray",condition="true"})' }),
      )
      .withPanel(
        timeseries("Tasks by state", [{ expr: "sum by (State) (ray_tasks)", legend: "{{State}}" }], {
          unit: "short",
        }),
      )
      .withPanel(
        timeseries("Actors by state", [{ expr: "sum by (State) (ray_actors)", legend: "{{State}}" }], {
          unit: "short",
        }),
      )
      .withPanel(
        timeseries(
          "Logical CPUs",
          [
            { expr: 'sum(ray_resources{Name="CPU",State="USED"})', legend: "used" },
            { expr: 'sum(ray_resources{Name="CPU"})', legend: "total" },
          ],
          { unit: "short" },
        ),
      )
      .withPanel(
        timeseries(
          "Logical GPUs",
          [
            { expr: 'sum(ray_resources{Name="GPU",State="USED"})', legend: "used" },
            { expr: 'sum(ray_resources{Name="GPU"})', legend: "total" },
          ],
          { unit: "short" },
        ),
      )
      .withRow(new RowBuilder("Nodes"))
      .withPanel(
        timeseries(
          "Node CPU",
          [{ expr: "avg by (instance) (ray_node_cpu_utilization)", legend: "{{instance}}" }],
          {
            unit: "percent",
            min: 0,
            max: 100,
          },
        ),
      )
      .withPanel(
        timeseries(
          "Node GPU",
          [
            {
              expr: "avg by (instance, GpuIndex) (ray_node_gpus_utilization)",
              legend: "{{instance}} gpu {{GpuIndex}}",
            },
          ],
          { unit: "percent", min: 0, max: 100 },
        ),
      )
      .withPanel(
        timeseries(
          "Node memory",
          [
            {
              expr: "sum by (instance) (ray_node_mem_used) / sum by (instance) (ray_node_mem_total)",
              legend: "{{instance}}",
            },
          ],
          { unit: "percentunit", min: 0, max: 1 },
        ),
      )
      .withPanel(
        timeseries(
          "Object store memory",
          [{ expr: "sum by (Location) (ray_object_store_memory)", legend: "{{Location}}" }],
          { unit: "bytes" },
        ),
      )
      .build(),
  );
}

export const RAY_DASHBOARD: DashboardDefinition = { uid: "ssept-ray", build: rayDashboard };
