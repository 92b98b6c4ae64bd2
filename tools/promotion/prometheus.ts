/** Instant PromQL queries against Prometheus's HTTP API, grouped by one label. */
export class PrometheusError extends Error {}

export class Prometheus {
  private readonly base: string;
  constructor(url: string) {
    if (!/^https?:\/\//.test(url))
      throw new PrometheusError(`Prometheus URL must be http(s)://..., got ${JSON.stringify(url)}`);
    this.base = url.replace(/\/+$/, "");
  }

  /** Evaluates `query` at `time` and returns one number per value of `label` (NaN and ±Inf dropped). */
  async byLabel(query: string, label: string, time: Date): Promise<Record<string, number>> {
    const url = new URL(`${this.base}/api/v1/query`);
    url.searchParams.set("query", query);
    url.searchParams.set("time", (time.getTime() / 1000).toFixed(3));
    let response: Response;
    try {
      response = await fetch(url);
    } catch (err) {
      throw new PrometheusError(`Prometheus at ${this.base} did not answer: ${(err as Error).message}`);
    }
    const body = (await response.json().catch(() => ({}))) as {
      status?: string;
      error?: string;
      data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    if (!response.ok || body.status !== "success" || !body.data)
      throw new PrometheusError(`query ${query} failed (${response.status}): ${body.error ?? "no data"}`);
    if (body.data.resultType !== "vector")
      throw new PrometheusError(`query ${query} returned a ${body.data.resultType}, expected a vector`);
    const out: Record<string, number> = {};
    for (const sample of body.data.result) {
      const value = Number(sample.value[1]);
      const key = sample.metric[label];
      if (key !== undefined && Number.isFinite(value)) out[key] = value;
    }
    return out;
  }
}
