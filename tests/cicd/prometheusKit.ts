import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { METRICS, RECOMMEND_ROUTE } from "../../tools/promotion/gate";

/** What one track did during a stretch of time, per second. */
export interface TrackTraffic {
  rps: number;
  errorShare: number;
  /** Share of requests per latency bucket upper bound (seconds); the rest lands in +Inf. */
  latency: Record<string, number>;
  scoredPerSecond: number;
  hitRate: number;
}

export interface Stretch {
  start: Date;
  minutes: number;
  stepSeconds: number;
  tracks: Partial<Record<"stable" | "canary", TrackTraffic>>;
}

const BUCKETS = ["0.025", "0.05", "0.1", "0.25", "0.5", "1"];

/**
 * OpenMetrics text of the gateway's and simulator's counters for each stretch, as a scrape every
 * `stepSeconds` would have recorded them (counters start at 0 at the start of each stretch).
 */
export function recordedSeries(stretches: Stretch[]): string {
  const families: Record<string, { type: string; lines: string[] }> = {
    [METRICS.served.replace(/_total$/, "")]: { type: "counter", lines: [] },
    [METRICS.fallbacks.replace(/_total$/, "")]: { type: "counter", lines: [] },
    [METRICS.latencyBucket.replace(/_bucket$/, "")]: { type: "histogram", lines: [] },
    [METRICS.scored.replace(/_total$/, "")]: { type: "counter", lines: [] },
    [METRICS.hits.replace(/_total$/, "")]: { type: "counter", lines: [] },
  };
  const [served, fallbacks, lat, scored, hits] = Object.values(families);
  for (const s of stretches) {
    for (const [track, t] of Object.entries(s.tracks)) {
      if (!t) continue;
      const steps = Math.floor((s.minutes * 60) / s.stepSeconds);
      for (let i = 0; i <= steps; i++) {
        const elapsed = i * s.stepSeconds;
        const ts = (s.start.getTime() / 1000 + elapsed).toFixed(3);
        const n = t.rps * elapsed;
        const errors = Math.round(n * t.errorShare);
        served.lines.push(
          `${METRICS.served}{track="${track}",source="model"} ${Math.round(n) - errors} ${ts}`,
        );
        served.lines.push(`${METRICS.served}{track="${track}",source="fallback"} ${errors} ${ts}`);
        fallbacks.lines.push(`${METRICS.fallbacks}{track="${track}",reason="timeout"} ${errors} ${ts}`);
        const route = `route="${RECOMMEND_ROUTE}",source="model",track="${track}"`;
        let cumulative = 0;
        for (const le of BUCKETS) {
          cumulative += t.latency[le] ?? 0;
          lat.lines.push(`${METRICS.latencyBucket}{${route},le="${le}"} ${Math.round(n * cumulative)} ${ts}`);
        }
        lat.lines.push(`${METRICS.latencyBucket}{${route},le="+Inf"} ${Math.round(n)} ${ts}`);
        // Another route's latency on the same histogram must not count.
        lat.lines.push(
          `${METRICS.latencyBucket}{route="/v1/events",source="none",track="${track}",le="+Inf"} ${Math.round(n)} ${ts}`,
        );
        const sc = t.scoredPerSecond * elapsed;
        scored.lines.push(`${METRICS.scored}{track="${track}"} ${Math.round(sc)} ${ts}`);
        hits.lines.push(`${METRICS.hits}{track="${track}"} ${Math.round(sc * t.hitRate)} ${ts}`);
      }
    }
  }
  // OpenMetrics wants each series' samples together and in time order.
  const bySeries = (lines: string[]) => {
    const groups = new Map<string, string[]>();
    for (const l of lines) {
      const key = l.slice(0, l.indexOf("} ") + 1);
      groups.set(key, [...(groups.get(key) ?? []), l]);
    }
    return [...groups.values()].flat();
  };
  const out: string[] = [];
  for (const [name, f] of Object.entries(families)) {
    out.push(`# TYPE ${name} ${f.type}`, ...bySeries(f.lines));
  }
  out.push("# EOF", "");
  return out.join("\n");
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

// A safety net: servers a failed or timed-out hook never stopped die with the test process.
const started = new Set<ChildProcess>();
process.on("exit", () => started.forEach((c) => c.kill("SIGKILL")));

export interface RunningPrometheus {
  url: string;
  stop(): Promise<void>;
}

/**
 * Loads the series into a fresh TSDB with `promtool tsdb create-blocks-from openmetrics` and starts
 * Debian's `prometheus` on it, on a loopback port. Fails loudly when either binary is missing.
 */
export async function startPrometheus(openMetrics: string): Promise<RunningPrometheus> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ssept-prom-"));
  const input = path.join(dir, "series.om");
  const data = path.join(dir, "data");
  fs.writeFileSync(input, openMetrics);
  fs.writeFileSync(path.join(dir, "prometheus.yml"), "global:\n  scrape_interval: 1h\nscrape_configs: []\n");
  execFileSync("promtool", ["tsdb", "create-blocks-from", "openmetrics", input, data], { stdio: "pipe" });
  const port = await freePort();
  const child: ChildProcess = spawn(
    "prometheus",
    [
      `--config.file=${path.join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${data}`,
      "--storage.tsdb.retention.time=10y",
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  started.add(child);
  child.once("exit", () => started.delete(child));
  let stderr = "";
  child.stderr?.on("data", (d) => (stderr += String(d)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`prometheus exited ${child.exitCode}: ${stderr.slice(-2000)}`);
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill();
      throw new Error(`prometheus not ready after 30 s: ${stderr.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => {
          fs.rmSync(dir, { recursive: true, force: true });
          resolve();
        });
        child.kill("SIGTERM");
      }),
  };
}
