import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5];

/** Every metric the gateway exports (names documented in model-server/README.md). */
export interface MetricSources {
  activeUsers(): Promise<number>;
  topItems(): Promise<{ item: number; events: number }[]>;
}

export function gatewayMetrics(sources: MetricSources) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "ssept_gateway_" });
  const m = {
    registry,
    requests: new Counter({
      name: "ssept_gateway_requests_total",
      help: "HTTP requests by route, method and status code",
      labelNames: ["route", "method", "code"] as const,
      registers: [registry],
    }),
    latency: new Histogram({
      name: "ssept_gateway_request_duration_seconds",
      help: "HTTP request latency by route, recommendation source and track",
      labelNames: ["route", "source", "track"] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    inference: new Histogram({
      name: "ssept_gateway_inference_duration_seconds",
      help: "Backend inference latency (successful calls) by track and backend",
      labelNames: ["track", "backend"] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    recommendations: new Counter({
      name: "ssept_gateway_recommendations_total",
      help: "Recommendation lists served, by track and source (model | fallback)",
      labelNames: ["track", "source"] as const,
      registers: [registry],
    }),
    fallbacks: new Counter({
      name: "ssept_gateway_fallbacks_total",
      help: "Popularity fallbacks by track and reason",
      labelNames: ["track", "reason"] as const,
      registers: [registry],
    }),
    events: new Counter({
      name: "ssept_gateway_events_total",
      help: "Events accepted, by type",
      labelNames: ["type"] as const,
      registers: [registry],
    }),
    hitChecks: new Counter({
      name: "ssept_gateway_online_hit_checks_total",
      help: "view/click events of users with a remembered top-10, by the track that served it",
      labelNames: ["track"] as const,
      registers: [registry],
    }),
    hits: new Counter({
      name: "ssept_gateway_online_hits_total",
      help: "view/click events whose item was in the user's last top-10, by track",
      labelNames: ["track"] as const,
      registers: [registry],
    }),
    coverage: new Gauge({
      name: "ssept_gateway_catalogue_coverage",
      help: "Share of the catalogue this replica has recommended at least once since it started",
      registers: [registry],
    }),
    activeUsers: new Gauge({
      name: "ssept_gateway_active_users",
      help: "Users with a request or event within ACTIVE_WINDOW_S (shared through Redis)",
      registers: [registry],
      async collect() {
        try {
          this.set(await sources.activeUsers());
        } catch {
          // Redis down: keep the last value; readiness reports the outage.
        }
      },
    }),
    recommendedPopularity: new Histogram({
      name: "ssept_gateway_recommended_item_popularity",
      help: "Popularity percentile of each recommended item (0 = the most popular, 1 = never interacted with), by track",
      labelNames: ["track"] as const,
      buckets: [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1],
      registers: [registry],
    }),
    topItemEvents: new Gauge({
      name: "ssept_gateway_top_item_events",
      help: "Events of the 10 most interacted-with items within ACTIVE_WINDOW_S (shared through Redis)",
      labelNames: ["item"] as const,
      registers: [registry],
      async collect() {
        try {
          const top = await sources.topItems();
          this.reset();
          for (const { item, events } of top) this.set({ item: String(item) }, events);
        } catch {
          // Redis down: keep the last values; readiness reports the outage.
        }
      },
    }),
    breaker: new Gauge({
      name: "ssept_gateway_circuit_state",
      help: "Backend circuit breaker per track: 0 closed, 1 half-open, 2 open",
      labelNames: ["track"] as const,
      registers: [registry],
    }),
    modelVersion: new Gauge({
      name: "ssept_gateway_model_version_info",
      help: "1 for the model version each track serves",
      labelNames: ["track", "model", "version", "backend"] as const,
      registers: [registry],
    }),
    eventLogBuffered: new Gauge({
      name: "ssept_gateway_event_log_buffered",
      help: "Events waiting to be written to the logs bucket",
      registers: [registry],
    }),
    eventLogWritten: new Counter({
      name: "ssept_gateway_event_log_written_total",
      help: "Events written to the logs bucket",
      registers: [registry],
    }),
    eventLogFlushes: new Counter({
      name: "ssept_gateway_event_log_flushes_total",
      help: "Batch writes to the logs bucket by outcome",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    eventLogDropped: new Counter({
      name: "ssept_gateway_event_log_dropped_total",
      help: "Events dropped because the buffer was full while the bucket was unreachable",
      registers: [registry],
    }),
  };
  return m;
}

export type GatewayMetrics = ReturnType<typeof gatewayMetrics>;
