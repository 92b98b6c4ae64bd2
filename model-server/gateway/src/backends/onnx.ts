import { existsSync } from "node:fs";
import * as path from "node:path";
import * as ort from "onnxruntime-node";
import {
  BackendError,
  InferenceBackend,
  InferenceRequest,
  InferenceResult,
  flattenSequences,
  rows,
} from "./types";

/** `<modelDir>/<model>/<version>/model.onnx`: the Triton repository layout `ssept export` writes. */
export function onnxModelPath(modelDir: string, modelName: string, version: number): string {
  return path.join(modelDir, modelName, String(version), "model.onnx");
}

/** The exported graph run in-process with ONNX Runtime: the same model.onnx Triton serves. */
export class OnnxBackend implements InferenceBackend {
  readonly kind = "onnx";

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly modelName: string,
    readonly version: number,
    private readonly maxlen: number,
  ) {}

  static async load(
    modelDir: string,
    modelName: string,
    version: number,
    maxlen: number,
    threads = 1,
  ): Promise<OnnxBackend> {
    const file = onnxModelPath(modelDir, modelName, version);
    if (!existsSync(file)) throw new Error(`MODEL_DIR: no ${file} (model ${modelName} version ${version})`);
    const session = await ort.InferenceSession.create(file, {
      executionProviders: ["cpu"],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
    });
    const expected = ["user_id", "item_seq"];
    if (expected.some((name) => !session.inputNames.includes(name)))
      throw new Error(
        `${file}: inputs ${session.inputNames.join(", ")}; the gateway needs ${expected.join(", ")}`,
      );
    for (const name of ["top_items", "top_scores"])
      if (!session.outputNames.includes(name))
        throw new Error(`${file}: outputs ${session.outputNames.join(", ")}; the gateway needs ${name}`);
    return new OnnxBackend(session, modelName, version, maxlen);
  }

  async infer(request: InferenceRequest): Promise<InferenceResult> {
    const batch = request.users.length;
    const flat = flattenSequences(request, this.maxlen);
    const feeds = {
      user_id: new ort.Tensor("int64", BigInt64Array.from(request.users, BigInt), [batch]),
      item_seq: new ort.Tensor("int64", BigInt64Array.from(flat, BigInt), [batch, this.maxlen]),
    };
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await this.session.run(feeds);
    } catch (err) {
      throw new BackendError(`onnxruntime: ${(err as Error).message}`, "error");
    }
    const items = out.top_items;
    const scores = out.top_scores;
    const k = items.dims[1];
    return {
      items: rows(items.data as BigInt64Array, batch, k).map((r) => r.map(Number)),
      scores: rows(scores.data as Float32Array, batch, k),
    };
  }

  async ready(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
