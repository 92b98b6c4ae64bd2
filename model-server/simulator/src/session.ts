import type { HeldOutUser } from "./heldout";
import type { SimulatorMetrics } from "./metrics";

export interface SessionOptions {
  gatewayUrl: string;
  k: number;
  thinkTimeMs: number;
  sessionLength: number;
  requestTimeoutMs: number;
  /** Uniform in [0, 1): think times vary by ±50% around THINK_TIME_MS. */
  random: () => number;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
}

interface Shown {
  track: string;
  source: string;
  items: number[];
}

async function timed<T>(
  m: SimulatorMetrics,
  kind: string,
  work: () => Promise<{ status: number; value: T }>,
) {
  const end = m.latency.startTimer({ kind });
  try {
    const { status, value } = await work();
    m.requests.inc({ kind, code: String(status) });
    return { status, value };
  } catch (err) {
    m.requests.inc({ kind, code: "error" });
    throw err;
  } finally {
    end();
  }
}

/**
 * One simulated user: for each held-out item (up to sessionLength), ask for the top-k, think,
 * then view the true next item, and count whether it had been shown.
 */
export async function runSession(
  user: HeldOutUser,
  o: SessionOptions,
  m: SimulatorMetrics,
  stop: AbortSignal,
) {
  for (const item of user.items.slice(0, o.sessionLength)) {
    if (stop.aborted) return;
    const shown = await timed<Shown | null>(m, "recommend", async () => {
      const res = await fetch(`${o.gatewayUrl}/v1/recommendations?user=${user.user}&k=${o.k}`, {
        signal: AbortSignal.timeout(o.requestTimeoutMs),
      });
      const body = (await res.json()) as { track: string; source: string; items: { item: number }[] };
      return {
        status: res.status,
        value: res.ok
          ? { track: body.track, source: body.source, items: body.items.map((i) => i.item) }
          : null,
      };
    });
    if (!shown.value) throw new Error(`recommendations for user ${user.user}: HTTP ${shown.status}`);
    await o.sleep(o.thinkTimeMs * (0.5 + o.random()), stop);
    const labels = { track: shown.value.track, source: shown.value.source };
    m.checks.inc(labels);
    if (shown.value.items.includes(item)) m.hits.inc(labels);
    const posted = await timed(m, "event", async () => {
      const res = await fetch(`${o.gatewayUrl}/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user: user.user, item, type: "view", ts: new Date().toISOString() }),
        signal: AbortSignal.timeout(o.requestTimeoutMs),
      });
      await res.arrayBuffer();
      return { status: res.status, value: null };
    });
    if (posted.status !== 202) throw new Error(`event for user ${user.user}: HTTP ${posted.status}`);
  }
}
