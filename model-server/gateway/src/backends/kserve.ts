import { z } from "zod";
import {
  BackendError,
  InferenceBackend,
  InferenceRequest,
  InferenceResult,
  flattenSequences,
  rows,
} from "./types";

const outputTensor = z.object({
  name: z.string(),
  datatype: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  data: z.array(z.number()),
});
const inferResponse = z.object({ outputs: z.array(outputTensor) });

/**
 * Triton's KServe v2 HTTP/REST inference protocol, JSON tensors:
 * `POST /v2/models/<model>/versions/<version>/infer`. `user_id` is sent as [B, 1] because the
 * repository's config.pbtxt declares dims [1] (reshaped to [] for the graph).
 */
export class KServeBackend implements InferenceBackend {
  readonly kind = "triton";

  constructor(
    private readonly baseUrl: string,
    readonly modelName: string,
    readonly version: number,
    private readonly maxlen: number,
  ) {}

  private url(suffix: string): string {
    return `${this.baseUrl}/v2/models/${encodeURIComponent(this.modelName)}/versions/${this.version}${suffix}`;
  }

  async infer(request: InferenceRequest, signal: AbortSignal): Promise<InferenceResult> {
    const batch = request.users.length;
    const body = {
      inputs: [
        { name: "user_id", shape: [batch, 1], datatype: "INT64", data: request.users },
        {
          name: "item_seq",
          shape: [batch, this.maxlen],
          datatype: "INT64",
          data: flattenSequences(request, this.maxlen),
        },
      ],
      outputs: [{ name: "top_items" }, { name: "top_scores" }],
    };
    const response = await this.post(this.url("/infer"), body, signal);
    const text = await response.text().catch((err: Error) => {
      throw classify(err, signal);
    });
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new BackendError(`${this.describe()}: HTTP ${response.status}, body is not JSON`, "bad_response");
    }
    if (!response.ok) {
      const error = (json as { error?: unknown })?.error;
      throw new BackendError(
        `${this.describe()}: HTTP ${response.status}: ${typeof error === "string" ? error : text.slice(0, 200)}`,
        "error",
      );
    }
    const parsed = inferResponse.safeParse(json);
    if (!parsed.success)
      throw new BackendError(
        `${this.describe()}: malformed infer response: ${parsed.error.issues[0].message}`,
        "bad_response",
      );
    const items = this.output(parsed.data.outputs, "top_items", "INT64", batch);
    const scores = this.output(parsed.data.outputs, "top_scores", "FP32", batch);
    return {
      items: rows(items.data, batch, items.shape[1]),
      scores: rows(scores.data, batch, scores.shape[1]),
    };
  }

  private output(outputs: z.infer<typeof outputTensor>[], name: string, datatype: string, batch: number) {
    const out = outputs.find((o) => o.name === name);
    if (!out) throw new BackendError(`${this.describe()}: response has no output ${name}`, "bad_response");
    if (out.datatype !== datatype || out.shape.length !== 2 || out.shape[0] !== batch)
      throw new BackendError(
        `${this.describe()}: output ${name} is ${out.datatype}${JSON.stringify(out.shape)}, expected ${datatype}[${batch}, k]`,
        "bad_response",
      );
    if (out.data.length !== out.shape[0] * out.shape[1])
      throw new BackendError(
        `${this.describe()}: output ${name} has ${out.data.length} values for shape ${out.shape}`,
        "bad_response",
      );
    return out;
  }

  async ready(signal: AbortSignal): Promise<boolean> {
    try {
      const response = await fetch(this.url("/ready"), { signal });
      await response.arrayBuffer();
      return response.ok;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {}

  private async post(url: string, body: unknown, signal: AbortSignal): Promise<Response> {
    try {
      return await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal,
      });
    } catch (err) {
      throw classify(err as Error, signal);
    }
  }

  private describe(): string {
    return `triton ${this.modelName} v${this.version}`;
  }
}

function classify(err: Error, signal: AbortSignal): BackendError {
  if (signal.aborted) return new BackendError(`triton: no answer before the deadline`, "timeout");
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return new BackendError(
    `triton unreachable: ${cause?.code ?? cause?.message ?? err.message}`,
    "unreachable",
  );
}
