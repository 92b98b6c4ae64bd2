import type { HeldOutUser } from "./heldout";
import type { SimulatorMetrics } from "./metrics";
import { SessionOptions, runSession } from "./session";

export interface SimulatorOptions extends SessionOptions {
  usersPerSecond: number;
  maxActiveUsers: number;
  /** 0: until stopped. */
  durationMs: number;
}

/** Mulberry32: a small seeded generator, so a run's arrivals and think times can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Starts sessions as a Poisson process of `usersPerSecond` arrivals, cycling through the held-out
 * users, never more than `maxActiveUsers` at once (extra arrivals are counted and dropped). Ends
 * after `durationMs` or when `stop` aborts, then waits for the running sessions.
 */
export async function simulate(
  users: HeldOutUser[],
  o: SimulatorOptions,
  m: SimulatorMetrics,
  stop: AbortSignal,
) {
  const running = new Set<Promise<void>>();
  const deadline = o.durationMs > 0 ? Date.now() + o.durationMs : Infinity;
  let next = 0;
  while (!stop.aborted && Date.now() < deadline) {
    if (o.usersPerSecond <= 0) {
      await o.sleep(1000, stop);
      continue;
    }
    await o.sleep((-Math.log(1 - o.random()) / o.usersPerSecond) * 1000, stop);
    if (stop.aborted || Date.now() >= deadline) break;
    if (running.size >= o.maxActiveUsers) {
      m.skippedArrivals.inc();
      continue;
    }
    const user = users[next++ % users.length];
    const session: Promise<void> = runSession(user, o, m, stop)
      .then(() => void m.sessions.inc({ outcome: "completed" }))
      .catch(() => void m.sessions.inc({ outcome: "failed" }))
      .finally(() => {
        running.delete(session);
        m.activeSessions.set(running.size);
      });
    running.add(session);
    m.activeSessions.set(running.size);
  }
  await Promise.all(running);
}
