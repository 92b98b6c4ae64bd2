import type { GatewayMetrics } from "./metrics";

export interface GatewayEvent {
  user: number;
  item: number;
  type: "view" | "click" | "rate";
  ts: string;
  track: string;
  /** Whether the item was in the user's last top-10 (null: no recommendation remembered). */
  hit: boolean | null;
}

/** Where batches go: one object per batch. */
export interface ObjectSink {
  put(key: string, body: string): Promise<void>;
}

export interface EventLogOptions {
  prefix: string;
  writer: string;
  batchMax: number;
  flushIntervalMs: number;
  /** Events kept while the bucket is unreachable; beyond it the oldest are dropped and counted. */
  bufferMax: number;
}

/**
 * Buffers events and writes them as newline-delimited JSON objects
 * `<prefix>/dt=<YYYY-MM-DD>/<writer>-<epoch ms>-<seq>.jsonl`, when `batchMax` events are waiting,
 * every `flushIntervalMs`, and on close(). A failed write keeps its events for the next flush.
 */
export class EventLog {
  private buffer: string[] = [];
  private seq = 0;
  private flushing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sink: ObjectSink,
    private readonly options: EventLogOptions,
    private readonly metrics: GatewayMetrics,
    private readonly log: (msg: string) => void,
  ) {
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs);
    this.timer.unref();
  }

  append(event: GatewayEvent): void {
    this.buffer.push(JSON.stringify(event));
    if (this.buffer.length > this.options.bufferMax) {
      const over = this.buffer.length - this.options.bufferMax;
      this.buffer.splice(0, over);
      this.metrics.eventLogDropped.inc(over);
    }
    this.metrics.eventLogBuffered.set(this.buffer.length);
    if (this.buffer.length >= this.options.batchMax) void this.flush();
  }

  get pending(): number {
    return this.buffer.length;
  }

  /** Writes everything buffered now; flushes never overlap. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.writeAll());
    return this.flushing;
  }

  private async writeAll(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.splice(0, this.options.batchMax);
      const now = new Date();
      const key = `${this.options.prefix}/dt=${now.toISOString().slice(0, 10)}/${this.options.writer}-${now.getTime()}-${String(this.seq++).padStart(6, "0")}.jsonl`;
      try {
        await this.sink.put(key, batch.join("\n") + "\n");
        this.metrics.eventLogFlushes.inc({ outcome: "ok" });
        this.metrics.eventLogWritten.inc(batch.length);
      } catch (err) {
        this.buffer.unshift(...batch);
        this.metrics.eventLogFlushes.inc({ outcome: "error" });
        this.log(
          `event log: writing ${key} failed, ${this.buffer.length} events kept: ${(err as Error).message}`,
        );
        break;
      } finally {
        this.metrics.eventLogBuffered.set(this.buffer.length);
      }
    }
  }

  /** Stops the timer and writes what is left. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
