import { Dashboard, RowBuilder } from "@grafana/grafana-foundation-sdk/dashboard";
import { dashboard, DashboardDefinition, stat, timeseries, toJsonModel } from "./common";

const RATE = "$__rate_interval";
const recs = `ssept_gateway_request_duration_seconds_bucket{route="/v1/recommendations"}`;
const quantile = (q: number, by = "le") =>
  `histogram_quantile(${q}, sum by (${by}) (rate(${recs}[${RATE}])))`;
/** Triton's cumulative microsecond counters over its request count: mean time per request, in seconds. */
const perRequest = (counter: string) =>
  `sum by (version) (rate(${counter}{model=~"ssept-.*"}[${RATE}])) / sum by (version) (rate(nv_inference_request_success{model=~"ssept-.*"}[${RATE}])) / 1e6`;

/** Latency, throughput and errors at the gateway; queueing, compute and batching inside Triton; GPU use. */
export function servingDashboard(): Dashboard {
  return toJsonModel(
    dashboard(
      "ssept-serving",
      "SSE-PT / Serving",
      "The recommendation gateway and Triton: request latency percentiles, throughput and errors, Triton's queue and compute time per request, dynamic batch size and GPU utilisation.",
    )
      .withRow(new RowBuilder("Gateway"))
      .withPanel(
        stat("Requests / s", { expr: `sum(rate(ssept_gateway_requests_total[${RATE}]))` }, { unit: "reqps" }),
      )
      .withPanel(
        stat(
          "5xx ratio",
          {
            expr: `sum(rate(ssept_gateway_requests_total{code=~"5.."}[${RATE}])) / sum(rate(ssept_gateway_requests_total[${RATE}]))`,
          },
          { unit: "percentunit" },
        ),
      )
      .withPanel(stat("p95 latency", { expr: quantile(0.95) }, { unit: "s" }))
      .withPanel(
        stat(
          "Open circuit breakers",
          { expr: "sum(ssept_gateway_circuit_state == 2) or vector(0)" },
          {
            description:
              "Tracks whose backend the gateway has stopped calling (it serves the popularity fallback).",
          },
        ),
      )
      .withPanel(
        timeseries(
          "Recommendation latency",
          [
            { expr: quantile(0.5), legend: "p50" },
            { expr: quantile(0.95), legend: "p95" },
            { expr: quantile(0.99), legend: "p99" },
          ],
          { unit: "s", min: 0 },
        ),
      )
      .withPanel(
        timeseries(
          "p95 latency by track and source",
          [{ expr: quantile(0.95, "le, track, source"), legend: "{{track}} {{source}}" }],
          { unit: "s", min: 0 },
        ),
      )
      .withPanel(
        timeseries(
          "Throughput by route",
          [{ expr: `sum by (route) (rate(ssept_gateway_requests_total[${RATE}]))`, legend: "{{route}}" }],
          { unit: "reqps", min: 0 },
        ),
      )
      .withPanel(
        timeseries(
          "Responses by status",
          [{ expr: `sum by (code) (rate(ssept_gateway_requests_total[${RATE}]))`, legend: "{{code}}" }],
          {
            unit: "reqps",
            min: 0,
            description: "4xx are rejected inputs; 5xx count against the error budget.",
          },
        ),
      )
      .withRow(new RowBuilder("Triton"))
      .withPanel(
        timeseries(
          "Queue vs compute time per request",
          [
            { expr: perRequest("nv_inference_queue_duration_us"), legend: "queue v{{version}}" },
            { expr: perRequest("nv_inference_compute_infer_duration_us"), legend: "compute v{{version}}" },
            { expr: perRequest("nv_inference_request_duration_us"), legend: "total v{{version}}" },
          ],
          {
            unit: "s",
            min: 0,
            description:
              "Triton's cumulative microsecond counters divided by successful requests: time waiting for a batch versus running the model.",
          },
        ),
      )
      .withPanel(
        timeseries(
          "Dynamic batch size",
          [
            {
              expr: `sum by (version) (rate(nv_inference_count{model=~"ssept-.*"}[${RATE}])) / sum by (version) (rate(nv_inference_exec_count{model=~"ssept-.*"}[${RATE}]))`,
              legend: "v{{version}}",
            },
          ],
          {
            unit: "short",
            min: 0,
            description: "Inferences per model execution (nv_inference_count / nv_inference_exec_count).",
          },
        ),
      )
      .withPanel(
        timeseries(
          "Triton requests by version",
          [
            {
              expr: `sum by (version) (rate(nv_inference_request_success{model=~"ssept-.*"}[${RATE}]))`,
              legend: "ok v{{version}}",
            },
            {
              expr: `sum by (version) (rate(nv_inference_request_failure{model=~"ssept-.*"}[${RATE}]))`,
              legend: "failed v{{version}}",
            },
          ],
          { unit: "reqps", min: 0 },
        ),
      )
      .withPanel(
        timeseries(
          "GPU utilisation",
          [
            { expr: "avg by (gpu_uuid) (nv_gpu_utilization)", legend: "triton {{gpu_uuid}}" },
            {
              expr: "avg by (Hostname, gpu) (DCGM_FI_DEV_GPU_UTIL) / 100",
              legend: "dcgm {{Hostname}} gpu {{gpu}}",
            },
          ],
          {
            unit: "percentunit",
            min: 0,
            max: 1,
            description: "Empty while Triton runs on CPU (no GPU window).",
          },
        ),
      )
      .build(),
  );
}

/** The simulator's events over its finished sessions: the mean session length in events. */
const eventsPerSession = `sum(rate(ssept_simulator_requests_total{kind="event"}[${RATE}])) / sum(rate(ssept_simulator_sessions_total[${RATE}]))`;

/** What users do: events by type, active users, the most viewed items, session lengths. */
export function userActivityDashboard(): Dashboard {
  return toJsonModel(
    dashboard(
      "ssept-user-activity",
      "SSE-PT / User activity",
      "Events users send to the gateway (views, clicks, ratings), active users, the most viewed items and how long (simulated) sessions last.",
    )
      .withPanel(stat("Active users", { expr: "max(ssept_gateway_active_users)" }))
      .withPanel(
        stat(
          "Events / min",
          { expr: `sum(rate(ssept_gateway_events_total[${RATE}])) * 60` },
          { unit: "short" },
        ),
      )
      .withPanel(
        stat(
          "Simulated sessions / min",
          { expr: `sum(rate(ssept_simulator_sessions_total[${RATE}])) * 60` },
          { unit: "short" },
        ),
      )
      .withPanel(
        stat(
          "Events per session",
          { expr: eventsPerSession },
          {
            unit: "short",
            description: "Events the simulated users sent per session that ended, over the window.",
          },
        ),
      )
      .withPanel(
        timeseries(
          "Events per minute by type",
          [{ expr: `sum by (type) (rate(ssept_gateway_events_total[${RATE}])) * 60`, legend: "{{type}}" }],
          { unit: "short", min: 0 },
        ),
      )
      .withPanel(
        timeseries("Active users", [{ expr: "max(ssept_gateway_active_users)", legend: "active" }], {
          unit: "short",
          min: 0,
        }),
      )
      .withPanel(
        timeseries(
          "Top items (views in the active window)",
          [{ expr: "max by (item) (ssept_gateway_top_item_events)", legend: "item {{item}}" }],
          { unit: "short", min: 0 },
        ),
      )
      .withPanel(
        timeseries(
          "Session length (events)",
          [
            { expr: eventsPerSession, legend: "events per session" },
            {
              expr: `sum by (outcome) (rate(ssept_simulator_sessions_total[${RATE}])) * 60`,
              legend: "sessions / min {{outcome}}",
            },
          ],
          { unit: "short", min: 0 },
        ),
      )
      .build(),
  );
}

/** Online HR@10 of one track: hits over view/click events of users with a remembered top-10. */
const hitRate = (track: string) =>
  `sum(rate(ssept_gateway_online_hits_total{track="${track}"}[${RATE}])) / sum(rate(ssept_gateway_online_hit_checks_total{track="${track}"}[${RATE}]))`;
const fallbackRatio = `sum by (track) (rate(ssept_gateway_recommendations_total{source="fallback"}[${RATE}])) / sum by (track) (rate(ssept_gateway_recommendations_total[${RATE}]))`;

/** Is the model any good online: HR@10 per track, coverage, popularity bias, fallbacks, versions. */
export function recommendationPerformanceDashboard(): Dashboard {
  return toJsonModel(
    dashboard(
      "ssept-recommendations",
      "SSE-PT / Recommendation performance",
      "Online HR@10 of the stable and canary tracks side by side (a viewed or clicked item was in that user's last top-10), catalogue coverage, popularity bias, fallback rate, and the model version each track serves.",
    )
      .withPanel(stat("HR@10 stable", { expr: hitRate("stable") }, { unit: "percentunit" }))
      .withPanel(stat("HR@10 canary", { expr: hitRate("canary") }, { unit: "percentunit" }))
      .withPanel(
        stat(
          "Catalogue coverage",
          { expr: "max(ssept_gateway_catalogue_coverage)" },
          {
            unit: "percentunit",
            description:
              "Share of the catalogue recommended at least once since the gateway replica started.",
          },
        ),
      )
      .withPanel(
        stat(
          "Fallback ratio",
          {
            expr: `sum(rate(ssept_gateway_recommendations_total{source="fallback"}[${RATE}])) / sum(rate(ssept_gateway_recommendations_total[${RATE}]))`,
          },
          { unit: "percentunit" },
        ),
      )
      .withPanel(
        timeseries(
          "Online HR@10 by track",
          [
            { expr: hitRate("stable"), legend: "stable" },
            { expr: hitRate("canary"), legend: "canary" },
          ],
          { unit: "percentunit", min: 0, max: 1, width: 24 },
        ),
      )
      .withPanel(
        timeseries("Fallback ratio by track", [{ expr: fallbackRatio, legend: "{{track}}" }], {
          unit: "percentunit",
          min: 0,
          max: 1,
        }),
      )
      .withPanel(
        timeseries(
          "Fallbacks by reason",
          [{ expr: `sum by (reason) (rate(ssept_gateway_fallbacks_total[${RATE}]))`, legend: "{{reason}}" }],
          {
            unit: "reqps",
            min: 0,
            description: "cold-start users, backend errors, deadlines, an open breaker.",
          },
        ),
      )
      .withPanel(
        timeseries(
          "Popularity bias by track",
          [
            {
              expr: `histogram_quantile(0.5, sum by (le, track) (rate(ssept_gateway_recommended_item_popularity_bucket[${RATE}])))`,
              legend: "median percentile {{track}}",
            },
          ],
          {
            unit: "percentunit",
            min: 0,
            max: 1,
            description:
              "Median popularity percentile of recommended items (0 = the most popular item): lower means the track leans on popular items.",
          },
        ),
      )
      .withPanel(
        timeseries(
          "Catalogue coverage",
          [{ expr: "max(ssept_gateway_catalogue_coverage)", legend: "coverage" }],
          {
            unit: "percentunit",
            min: 0,
            max: 1,
          },
        ),
      )
      .withPanel(
        timeseries(
          "Recommendations by track and source",
          [
            {
              expr: `sum by (track, source) (rate(ssept_gateway_recommendations_total[${RATE}]))`,
              legend: "{{track}} {{source}}",
            },
          ],
          { unit: "reqps", min: 0 },
        ),
      )
      .withPanel(
        timeseries(
          "Model version per track",
          [
            {
              expr: "max by (track, version) (ssept_gateway_model_version_info)",
              legend: "{{track}} v{{version}}",
            },
          ],
          {
            unit: "short",
            description: "1 for the version each track serves; a change of line marks a promotion.",
          },
        ),
      )
      .build(),
  );
}

export const SERVING_DASHBOARD: DashboardDefinition = { uid: "ssept-serving", build: servingDashboard };
export const USER_ACTIVITY_DASHBOARD: DashboardDefinition = {
  uid: "ssept-user-activity",
  build: userActivityDashboard,
};
export const RECOMMENDATIONS_DASHBOARD: DashboardDefinition = {
  uid: "ssept-recommendations",
  build: recommendationPerformanceDashboard,
};

/** Installed by the Serving component (components/app/serving.ts) when monitoring is on. */
export const SERVING_DASHBOARDS: readonly DashboardDefinition[] = [
  SERVING_DASHBOARD,
  USER_ACTIVITY_DASHBOARD,
  RECOMMENDATIONS_DASHBOARD,
];
