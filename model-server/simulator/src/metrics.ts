import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export function simulatorMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "ssept_simulator_" });
  return {
    registry,
    sessions: new Counter({
      name: "ssept_simulator_sessions_total",
      help: "Simulated user sessions by outcome (completed | failed)",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    activeSessions: new Gauge({
      name: "ssept_simulator_active_sessions",
      help: "Simulated users in a session now",
      registers: [registry],
    }),
    skippedArrivals: new Counter({
      name: "ssept_simulator_skipped_arrivals_total",
      help: "Arrivals not started because MAX_ACTIVE_USERS sessions were running",
      registers: [registry],
    }),
    requests: new Counter({
      name: "ssept_simulator_requests_total",
      help: "Requests to the gateway by kind (recommend | event) and HTTP status (or 'error')",
      labelNames: ["kind", "code"] as const,
      registers: [registry],
    }),
    latency: new Histogram({
      name: "ssept_simulator_request_duration_seconds",
      help: "Gateway latency seen by simulated users, by kind",
      labelNames: ["kind"] as const,
      buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    checks: new Counter({
      name: "ssept_simulator_next_item_checks_total",
      help: "Held-out next items replayed after a recommendation, by track and source",
      labelNames: ["track", "source"] as const,
      registers: [registry],
    }),
    hits: new Counter({
      name: "ssept_simulator_next_item_hits_total",
      help: "Held-out next items that were in the top-k just shown, by track and source",
      labelNames: ["track", "source"] as const,
      registers: [registry],
    }),
  };
}

export type SimulatorMetrics = ReturnType<typeof simulatorMetrics>;
