import { createClient } from "redis";
import type { Track } from "./config";

export type RedisClient = ReturnType<typeof createClient>;

/** What the bootstrap loader records about the online features it loaded. */
export interface CatalogueMeta {
  numUsers: number;
  numItems: number;
  maxlen: number;
  maskSeenItems: boolean;
  dataset: string;
  version: string;
}

const ITEM_EVENTS_TTL_S = 86_400;

export interface LastRecommendation {
  track: Track;
  items: number[];
}

/** Redis failed or is unreachable: the gateway answers 503. */
export class StoreUnavailable extends Error {
  constructor(cause: unknown) {
    super(`feature store unavailable: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = "StoreUnavailable";
  }
}

async function guarded<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    throw new StoreUnavailable(err);
  }
}

export interface AppliedEvent {
  /** The recommendation the user saw last, if still remembered. */
  last: LastRecommendation | null;
}

/**
 * The online feature store in Redis, one key family per prefix:
 *   <p>:seq:<user>   list of item ids, oldest first, capped at maxlen (RPUSH + LTRIM)
 *   <p>:meta         hash: num_users, num_items, maxlen, mask_seen_items, dataset, version
 *   <p>:popular      sorted set item -> interaction count (the fallback list)
 *   <p>:last:<user>  the top-10 last served to the user (for online hit-rate), with a TTL
 *   <p>:active       sorted set user -> last activity (ms), for the active-users gauge
 *   <p>:item_events:<minute>  sorted set item -> events in that minute (expires after a day)
 */
export class FeatureStore {
  constructor(
    readonly redis: RedisClient,
    readonly prefix: string,
  ) {}

  key(...parts: (string | number)[]): string {
    return [this.prefix, ...parts].join(":");
  }

  async meta(): Promise<CatalogueMeta | null> {
    const h = await guarded(this.redis.hGetAll(this.key("meta")));
    if (!h.num_users) return null;
    return {
      numUsers: Number(h.num_users),
      numItems: Number(h.num_items),
      maxlen: Number(h.maxlen),
      maskSeenItems: h.mask_seen_items === "true",
      dataset: h.dataset ?? "",
      version: h.version ?? "",
    };
  }

  async sequence(user: number, maxlen: number): Promise<number[]> {
    const items = await guarded(this.redis.lRange(this.key("seq", user), -maxlen, -1));
    return items.map(Number);
  }

  /** The `count` most popular items, most popular first, with their counts. */
  async popular(count: number): Promise<{ item: number; score: number }[]> {
    const entries = await guarded(
      this.redis.zRangeWithScores(this.key("popular"), 0, count - 1, { REV: true }),
    );
    return entries.map((e) => ({ item: Number(e.value), score: e.score }));
  }

  async rememberRecommendation(user: number, rec: LastRecommendation, ttlSeconds: number, nowMs: number) {
    await guarded(
      this.redis
        .multi()
        .set(this.key("last", user), JSON.stringify(rec), { expiration: { type: "EX", value: ttlSeconds } })
        .zAdd(this.key("active"), { score: nowMs, value: String(user) })
        .exec(),
    );
  }

  /** Appends the item to the user's capped sequence and counts it, in one transaction. */
  async applyEvent(user: number, item: number, maxlen: number, nowMs: number): Promise<AppliedEvent> {
    const seqKey = this.key("seq", user);
    const replies = await guarded(
      this.redis
        .multi()
        .get(this.key("last", user))
        .rPush(seqKey, String(item))
        .lTrim(seqKey, -maxlen, -1)
        .zIncrBy(this.key("popular"), 1, String(item))
        .zAdd(this.key("active"), { score: nowMs, value: String(user) })
        .zIncrBy(this.minuteKey(nowMs), 1, String(item))
        .expire(this.minuteKey(nowMs), ITEM_EVENTS_TTL_S)
        .exec(),
    );
    const last = replies[0] as unknown as string | null;
    return { last: last ? (JSON.parse(last) as LastRecommendation) : null };
  }

  private minuteKey(ms: number): string {
    return this.key("item_events", Math.floor(ms / 60_000));
  }

  /** The `n` items with the most events over the minutes from `sinceMs` to `nowMs`. */
  async topItems(sinceMs: number, nowMs: number, n: number): Promise<{ item: number; events: number }[]> {
    const keys: string[] = [];
    for (let m = Math.floor(sinceMs / 60_000); m <= Math.floor(nowMs / 60_000); m++)
      keys.push(this.key("item_events", m));
    const all = await guarded(this.redis.zUnionWithScores(keys as [string, ...string[]]));
    return all
      .sort((a, b) => b.score - a.score)
      .slice(0, n)
      .map((e) => ({ item: Number(e.value), events: e.score }));
  }

  /** Every item with interactions, most popular first. */
  async popularityRanking(): Promise<number[]> {
    return (await guarded(this.redis.zRange(this.key("popular"), 0, -1, { REV: true }))).map(Number);
  }

  /** Users active since `sinceMs`; older entries are pruned on the way. */
  async activeUsers(sinceMs: number): Promise<number> {
    await guarded(this.redis.zRemRangeByScore(this.key("active"), "-inf", `(${sinceMs}`));
    return guarded(this.redis.zCard(this.key("active")));
  }
}
