import { CircuitBreaker } from "./circuitBreaker";
import type { Track } from "./config";
import { BackendError, InferenceBackend, InferenceResult } from "./backends/types";
import type { GatewayMetrics } from "./metrics";
import type { CatalogueMeta, FeatureStore } from "./store";
import { assignTrack } from "./tracks";

export type FallbackReason =
  "cold_start" | "circuit_open" | "timeout" | "unreachable" | "error" | "bad_response" | "no_items";

export interface Recommendation {
  user: number;
  track: Track;
  model: string;
  modelVersion: number;
  source: "model" | "fallback";
  fallbackReason?: FallbackReason;
  items: { item: number; score: number }[];
}

export interface RecommenderOptions {
  canaryWeight: number;
  maxlen: number;
  timeoutMs: number;
  hitK: number;
  lastRecsTtlS: number;
}

/** Rejects with a timeout BackendError after `ms`, aborting `controller`. */
function withDeadline<T>(work: (signal: AbortSignal) => Promise<T>, ms: number): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new BackendError(`no answer within ${ms} ms`, "timeout"));
    }, ms);
  });
  return Promise.race([work(controller.signal), deadline]).finally(() => clearTimeout(timer));
}

/** Track → backend, with a breaker each; cold start and any backend failure → popularity list. */
export class Recommender {
  readonly breakers: Partial<Record<Track, CircuitBreaker>> = {};
  private readonly recommended = new Set<number>();
  private popularityRank: { ranks: Map<number, number>; at: number } | null = null;
  private refreshing: Promise<void> | null = null;

  constructor(
    private readonly store: FeatureStore,
    private readonly backends: Partial<Record<Track, InferenceBackend>>,
    private readonly options: RecommenderOptions,
    private readonly metrics: GatewayMetrics,
    breakerFailures: number,
    breakerCooldownMs: number,
  ) {
    const states = { closed: 0, "half-open": 1, open: 2 } as const;
    for (const [track, backend] of Object.entries(backends) as [Track, InferenceBackend][]) {
      this.breakers[track] = new CircuitBreaker(breakerFailures, breakerCooldownMs, Date.now, (s) =>
        metrics.breaker.set({ track }, states[s]),
      );
      metrics.breaker.set({ track }, 0);
      metrics.modelVersion.set(
        { track, model: backend.modelName, version: String(backend.version), backend: backend.kind },
        1,
      );
    }
  }

  trackOf(user: number): Track {
    return this.backends.canary ? assignTrack(String(user), this.options.canaryWeight) : "stable";
  }

  async recommend(user: number, k: number, meta: CatalogueMeta): Promise<Recommendation> {
    const track = this.trackOf(user);
    const backend = this.backends[track] as InferenceBackend;
    const sequence = await this.store.sequence(user, this.options.maxlen);
    const base = { user, track, model: backend.modelName, modelVersion: backend.version };
    let reason: FallbackReason;
    if (sequence.length === 0) {
      reason = "cold_start";
    } else {
      const outcome = await this.infer(track, backend, user, sequence);
      if ("items" in outcome) {
        const items = outcome.items[0].slice(0, k).map((item, i) => ({ item, score: outcome.scores[0][i] }));
        if (items.length > 0) return this.served({ ...base, source: "model", items }, meta);
        reason = "no_items";
      } else {
        reason = outcome.reason;
      }
    }
    this.metrics.fallbacks.inc({ track, reason });
    const seen = meta.maskSeenItems ? new Set(sequence) : new Set<number>();
    const popular = await this.store.popular(k + seen.size);
    const items = popular.filter((p) => !seen.has(p.item)).slice(0, k);
    return this.served({ ...base, source: "fallback", fallbackReason: reason, items }, meta);
  }

  private async infer(
    track: Track,
    backend: InferenceBackend,
    user: number,
    sequence: number[],
  ): Promise<InferenceResult | { reason: FallbackReason }> {
    const breaker = this.breakers[track] as CircuitBreaker;
    if (!breaker.allow()) return { reason: "circuit_open" };
    const padded = new Array<number>(this.options.maxlen - sequence.length).fill(0).concat(sequence);
    const started = process.hrtime.bigint();
    try {
      const result = await withDeadline(
        (signal) => backend.infer({ users: [user], sequences: [padded] }, signal),
        this.options.timeoutMs,
      );
      breaker.success();
      this.metrics.inference.observe(
        { track, backend: backend.kind },
        Number(process.hrtime.bigint() - started) / 1e9,
      );
      return result;
    } catch (err) {
      breaker.failure();
      return { reason: err instanceof BackendError ? err.reason : "error" };
    }
  }

  /** item -> popularity rank (0 = most popular), refreshed from Redis at most once a minute. */
  private async ranks(): Promise<Map<number, number>> {
    const stale = !this.popularityRank || Date.now() - this.popularityRank.at > 60_000;
    if (stale && !this.refreshing) {
      this.refreshing = this.store
        .popularityRanking()
        .then((items) => {
          this.popularityRank = { ranks: new Map(items.map((item, rank) => [item, rank])), at: Date.now() };
        })
        .finally(() => (this.refreshing = null));
    }
    if (!this.popularityRank) await this.refreshing;
    else this.refreshing?.catch(() => undefined); // a failed background refresh keeps the old ranks
    return (this.popularityRank as { ranks: Map<number, number> }).ranks;
  }

  private async served(rec: Recommendation, meta: CatalogueMeta): Promise<Recommendation> {
    this.metrics.recommendations.inc({ track: rec.track, source: rec.source });
    for (const { item } of rec.items) this.recommended.add(item);
    const ranks = await this.ranks();
    const last = Math.max(1, meta.numItems - 1);
    for (const { item } of rec.items) {
      const rank = ranks.get(item);
      this.metrics.recommendedPopularity.observe(
        { track: rec.track },
        rank === undefined ? 1 : Math.min(1, rank / last),
      );
    }
    this.metrics.coverage.set(meta.numItems > 0 ? this.recommended.size / meta.numItems : 0);
    const top = rec.items.slice(0, this.options.hitK).map((i) => i.item);
    await this.store.rememberRecommendation(
      rec.user,
      { track: rec.track, items: top },
      this.options.lastRecsTtlS,
      Date.now(),
    );
    return rec;
  }
}
