/** One batch row per user: the user id and the item sequence, left-padded with 0 to maxlen. */
export interface InferenceRequest {
  users: number[];
  sequences: number[][];
}

export interface InferenceResult {
  /** Per row, item ids best first (the graph's top-k, already without padding/seen items). */
  items: number[][];
  scores: number[][];
}

export interface InferenceBackend {
  readonly kind: "triton" | "onnx";
  readonly modelName: string;
  readonly version: number;
  infer(request: InferenceRequest, signal: AbortSignal): Promise<InferenceResult>;
  /** Whether the backend can serve now (Triton's model readiness; for ONNX, a loaded session). */
  ready(signal: AbortSignal): Promise<boolean>;
  close(): Promise<void>;
}

/** A backend answered with something other than a usable result: the message says what. */
export class BackendError extends Error {
  constructor(
    message: string,
    readonly reason: "unreachable" | "timeout" | "error" | "bad_response",
  ) {
    super(message);
    this.name = "BackendError";
  }
}

/** Row-major [B, maxlen] of a batch, checked for shape. */
export function flattenSequences(request: InferenceRequest, maxlen: number): number[] {
  if (request.users.length !== request.sequences.length)
    throw new Error(`batch: ${request.users.length} users but ${request.sequences.length} sequences`);
  const flat: number[] = [];
  for (const seq of request.sequences) {
    if (seq.length !== maxlen)
      throw new Error(`item_seq row has ${seq.length} items, the model takes ${maxlen}`);
    flat.push(...seq);
  }
  return flat;
}

/** Splits flat row-major output data into rows of `width`. */
export function rows<T>(flat: ArrayLike<T>, batch: number, width: number): T[][] {
  const out: T[][] = [];
  for (let r = 0; r < batch; r++) out.push(Array.from({ length: width }, (_, c) => flat[r * width + c]));
  return out;
}
