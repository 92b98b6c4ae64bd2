import { Prometheus } from "./prometheus";

/**
 * The canary gate: canary against stable over the soak window, from the gateway's metrics
 * (model-server/gateway/src/metrics.ts, named in model-server/README.md). Every series below
 * carries `track` = stable | canary. The gateway answers a failed or slow model with a popularity
 * fallback rather than a 5xx, so a track's errors are its fallbacks.
 */
export const METRICS = {
  /** Recommendation lists served, by track and source (model | fallback). */
  served: "ssept_gateway_recommendations_total",
  /** Popularity fallbacks by track and reason: the model's failures. */
  fallbacks: "ssept_gateway_fallbacks_total",
  latencyBucket: "ssept_gateway_request_duration_seconds_bucket",
  /** view/click events of users with a remembered top-10, and those whose item was in it. */
  scored: "ssept_gateway_online_hit_checks_total",
  hits: "ssept_gateway_online_hits_total",
} as const;
export const RECOMMEND_ROUTE = "/v1/recommendations";

export const TRACKS = ["stable", "canary"] as const;
export type Track = (typeof TRACKS)[number];

/**
 * Fewest samples of a counter in the window: `increase()` extrapolates from the first and last
 * sample, so two scrapes can fake a window's worth of traffic.
 */
export const MIN_SAMPLES = 5;
/** Share of the soak window a track must have been serving for: a canary live 10 minutes has not soaked. */
export const MIN_COVERAGE = 0.9;

export interface TrackStats {
  samples: number;
  /** Minutes since the track's first sample inside the window. */
  coveredMinutes: number;
  requests: number;
  errors: number;
  errorRatio: number;
  p95Ms: number;
  scored: number;
  hits: number;
  hr10: number;
}

export interface GateThresholds {
  minRequests: number;
  maxHrDrop: number;
  maxLatencyRatio: number;
  maxErrorRatio: number;
  p95SloMs: number;
}

export type Decision = "promote" | "hold" | "rollback";

export interface GateResult {
  decision: Decision;
  reasons: string[];
  stats: Partial<Record<Track, TrackStats>>;
  windowMinutes: number;
  at: string;
}

export function gateQueries(
  windowMinutes: number,
): Record<keyof Omit<TrackStats, "errorRatio" | "hr10">, string> {
  const w = `[${windowMinutes}m]`;
  return {
    samples: `min by (track) (count_over_time(${METRICS.served}${w}))`,
    coveredMinutes: `min by (track) ((time() - min_over_time(timestamp(${METRICS.served})[${windowMinutes}m:1m])) / 60)`,
    requests: `sum by (track) (increase(${METRICS.served}${w}))`,
    errors: `sum by (track) (increase(${METRICS.fallbacks}${w}))`,
    p95Ms: `1000 * histogram_quantile(0.95, sum by (track, le) (rate(${METRICS.latencyBucket}{route="${RECOMMEND_ROUTE}"}${w})))`,
    scored: `sum by (track) (increase(${METRICS.scored}${w}))`,
    hits: `sum by (track) (increase(${METRICS.hits}${w}))`,
  };
}

/** Reads both tracks' numbers; a track missing from a query is missing from the result. */
export async function readStats(
  prometheus: Prometheus,
  windowMinutes: number,
  at: Date,
): Promise<Partial<Record<Track, Partial<TrackStats>>>> {
  const queries = gateQueries(windowMinutes);
  const stats: Partial<Record<Track, Partial<TrackStats>>> = {};
  for (const [field, query] of Object.entries(queries)) {
    const values = await prometheus.byLabel(query, "track", at);
    for (const track of TRACKS) {
      if (values[track] === undefined) continue;
      (stats[track] ??= {})[field as keyof TrackStats] = values[track];
    }
  }
  for (const s of Object.values(stats)) {
    // No fallback series in the window means no errors, not missing data.
    if (s.requests !== undefined) s.errors ??= 0;
    if (s.requests) s.errorRatio = (s.errors ?? 0) / s.requests;
    if (s.scored) s.hr10 = (s.hits ?? 0) / s.scored;
  }
  return stats;
}

const fmt = (n: number, digits = 4) => (Number.isInteger(n) ? String(n) : n.toFixed(digits));

/**
 * Pure decision over the numbers. Missing or thin data on either track holds (never promotes);
 * a canary worse than allowed on any one measure rolls back; otherwise it promotes.
 */
export function decide(
  raw: Partial<Record<Track, Partial<TrackStats>>>,
  t: GateThresholds,
  windowMinutes: number,
  at: Date,
): GateResult {
  const hold: string[] = [];
  const stats: Partial<Record<Track, TrackStats>> = {};
  for (const track of TRACKS) {
    const s = raw[track];
    const missing = (["samples", "coveredMinutes", "requests", "p95Ms", "scored"] as const).filter(
      (f) => s?.[f] === undefined,
    );
    if (!s || missing.length > 0) {
      hold.push(`${track}: no data for ${missing.join(", ")} in the last ${windowMinutes}m`);
      continue;
    }
    if (s.samples! < MIN_SAMPLES)
      hold.push(`${track}: ${fmt(s.samples!)} samples in the window, need ${MIN_SAMPLES}`);
    if (s.coveredMinutes! < windowMinutes * MIN_COVERAGE)
      hold.push(
        `${track}: serving for ${fmt(s.coveredMinutes!, 1)} of the ${windowMinutes} min soak window, need ${fmt(windowMinutes * MIN_COVERAGE, 1)}`,
      );
    if (s.requests! < t.minRequests)
      hold.push(`${track}: ${fmt(s.requests!, 0)} requests, need ${t.minRequests}`);
    if (s.scored! < t.minRequests)
      hold.push(`${track}: ${fmt(s.scored!, 0)} scored recommendations, need ${t.minRequests}`);
    stats[track] = {
      samples: s.samples!,
      coveredMinutes: s.coveredMinutes!,
      requests: s.requests!,
      errors: s.errors ?? 0,
      errorRatio: s.errorRatio ?? 0,
      p95Ms: s.p95Ms!,
      scored: s.scored!,
      hits: s.hits ?? 0,
      hr10: s.hr10 ?? 0,
    };
  }
  const result = (decision: Decision, reasons: string[]): GateResult => ({
    decision,
    reasons,
    stats,
    windowMinutes,
    at: at.toISOString(),
  });
  if (hold.length > 0) return result("hold", hold);

  const canary = stats.canary!;
  const stable = stats.stable!;
  const bad: string[] = [];
  if (canary.errorRatio > t.maxErrorRatio)
    bad.push(`canary error (fallback) ratio ${fmt(canary.errorRatio)} above ${t.maxErrorRatio}`);
  if (canary.p95Ms > t.p95SloMs)
    bad.push(`canary p95 ${fmt(canary.p95Ms, 1)} ms above the SLO ${t.p95SloMs} ms`);
  if (canary.p95Ms > stable.p95Ms * t.maxLatencyRatio)
    bad.push(
      `canary p95 ${fmt(canary.p95Ms, 1)} ms above ${t.maxLatencyRatio} x stable's ${fmt(stable.p95Ms, 1)} ms`,
    );
  if (canary.hr10 < stable.hr10 - t.maxHrDrop)
    bad.push(`canary HR@10 ${fmt(canary.hr10)} more than ${t.maxHrDrop} below stable's ${fmt(stable.hr10)}`);
  if (bad.length > 0) return result("rollback", bad);
  return result("promote", [
    `canary HR@10 ${fmt(canary.hr10)} vs stable ${fmt(stable.hr10)}, p95 ${fmt(canary.p95Ms, 1)} vs ${fmt(stable.p95Ms, 1)} ms, error (fallback) ratio ${fmt(canary.errorRatio)}`,
  ]);
}

/** The decision and every number, as Markdown for $GITHUB_STEP_SUMMARY. */
export function gateSummary(r: GateResult, versions: { stable?: string; canary?: string }): string {
  const rows: [string, (s: TrackStats) => string][] = [
    ["samples (min per series)", (s) => fmt(s.samples)],
    ["minutes in window", (s) => fmt(s.coveredMinutes, 1)],
    ["recommendations served", (s) => fmt(s.requests, 0)],
    ["model errors (fallbacks)", (s) => fmt(s.errors, 0)],
    ["error ratio", (s) => fmt(s.errorRatio)],
    ["p95 latency (ms)", (s) => fmt(s.p95Ms, 1)],
    ["hit checks (events after a top-10)", (s) => fmt(s.scored, 0)],
    ["online HR@10", (s) => fmt(s.hr10)],
  ];
  const cell = (track: Track, f: (s: TrackStats) => string) => (r.stats[track] ? f(r.stats[track]!) : "—");
  return [
    `## Canary gate: **${r.decision.toUpperCase()}**`,
    "",
    `Soak window: last ${r.windowMinutes} min before ${r.at}. Stable v${versions.stable ?? "?"}, canary v${versions.canary ?? "?"}.`,
    "",
    ...r.reasons.map((x) => `- ${x}`),
    "",
    "| measure | stable | canary |",
    "|---|---|---|",
    ...rows.map(([name, f]) => `| ${name} | ${cell("stable", f)} | ${cell("canary", f)} |`),
    "",
  ].join("\n");
}
