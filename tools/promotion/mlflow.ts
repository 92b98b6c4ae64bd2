/**
 * The few MLflow model-registry calls promotion needs, over MLflow's REST API (2.x). MLflow sits
 * behind HTTP basic auth at the ingress; MLFLOW_TRACKING_USERNAME/PASSWORD are the same variables
 * the MLflow Python client reads.
 */
export interface ModelVersion {
  name: string;
  version: string;
  runId: string;
  aliases: string[];
  creationTimestamp: number;
}

export class MlflowError extends Error {}

interface RawVersion {
  name: string;
  version: string;
  run_id?: string;
  aliases?: string[];
  creation_timestamp?: string | number;
}

function toVersion(raw: RawVersion): ModelVersion {
  return {
    name: raw.name,
    version: String(raw.version),
    runId: raw.run_id ?? "",
    aliases: raw.aliases ?? [],
    creationTimestamp: Number(raw.creation_timestamp ?? 0),
  };
}

export class MlflowRegistry {
  private readonly base: string;
  private readonly auth?: string;

  constructor(trackingUri: string, credentials?: { username: string; password: string }) {
    if (!/^https?:\/\//.test(trackingUri))
      throw new MlflowError(`MLflow tracking URI must be http(s)://..., got ${JSON.stringify(trackingUri)}`);
    this.base = trackingUri.replace(/\/+$/, "");
    if (credentials)
      this.auth =
        "Basic " + Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64");
  }

  static fromEnv(env: NodeJS.ProcessEnv = process.env): MlflowRegistry {
    const uri = env.MLFLOW_TRACKING_URI;
    if (!uri)
      throw new MlflowError("set MLFLOW_TRACKING_URI (the stack's mlflowUrl output) or pass --mlflow");
    const username = env.MLFLOW_TRACKING_USERNAME;
    const password = env.MLFLOW_TRACKING_PASSWORD;
    return new MlflowRegistry(uri, username && password ? { username, password } : undefined);
  }

  private async call<T>(
    method: "GET" | "POST" | "DELETE",
    endpoint: string,
    params: Record<string, unknown>,
    notFound?: RegExp,
  ): Promise<T | null> {
    const url = new URL(`${this.base}/api/2.0/mlflow/${endpoint}`);
    const init: RequestInit = { method, headers: { Accept: "application/json" } };
    if (this.auth) (init.headers as Record<string, string>).Authorization = this.auth;
    // MLflow's server reads POST and DELETE parameters from a JSON body, GET from the query.
    if (method !== "GET") {
      (init.headers as Record<string, string>)["Content-Type"] = "application/json";
      init.body = JSON.stringify(params);
    } else {
      for (const [k, v] of Object.entries(params)) url.searchParams.set(k, String(v));
    }
    let response: Response;
    try {
      response = await fetch(url, init);
    } catch (err) {
      throw new MlflowError(`MLflow at ${this.base} did not answer ${endpoint}: ${(err as Error).message}`);
    }
    const text = await response.text();
    if (!response.ok) {
      let code = "";
      let message = "";
      try {
        ({ error_code: code = "", message = "" } = JSON.parse(text) as {
          error_code?: string;
          message?: string;
        });
      } catch {
        // not JSON (a proxy's error page): keep the status only
      }
      if (notFound && (code === "RESOURCE_DOES_NOT_EXIST" || notFound.test(message))) return null;
      throw new MlflowError(
        `MLflow ${method} ${endpoint} answered ${response.status}${code ? ` ${code}` : ""}: ${text.slice(0, 300)}`,
      );
    }
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** Every version of a registered model, newest first. */
  async versions(name: string): Promise<ModelVersion[]> {
    const out: ModelVersion[] = [];
    let pageToken: string | undefined;
    do {
      const page = await this.call<{ model_versions?: RawVersion[]; next_page_token?: string }>(
        "GET",
        "model-versions/search",
        {
          filter: `name='${name.replace(/'/g, "\\'")}'`,
          max_results: 200,
          ...(pageToken ? { page_token: pageToken } : {}),
        },
      );
      out.push(...(page?.model_versions ?? []).map(toVersion));
      pageToken = page?.next_page_token || undefined;
    } while (pageToken);
    return out.sort((a, b) => Number(b.version) - Number(a.version));
  }

  async byAlias(name: string, alias: string): Promise<ModelVersion | null> {
    // MLflow 2.x answers an unknown alias with 400 INVALID_PARAMETER_VALUE "... alias X not found."
    const r = await this.call<{ model_version: RawVersion }>(
      "GET",
      "registered-models/alias",
      { name, alias },
      /alias \S+ not found/,
    );
    return r ? toVersion(r.model_version) : null;
  }

  async setAlias(name: string, alias: string, version: string): Promise<void> {
    await this.call("POST", "registered-models/alias", { name, alias, version });
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    await this.call("DELETE", "registered-models/alias", { name, alias }, /alias \S+ not found/);
  }

  async experimentId(name: string): Promise<string | null> {
    const r = await this.call<{ experiment: { experiment_id: string } }>(
      "GET",
      "experiments/get-by-name",
      { experiment_name: name },
      /Could not find experiment|does not exist/,
    );
    return r ? r.experiment.experiment_id : null;
  }

  /** The newest run of that name in the experiment, with its latest metric values. */
  async runByName(
    experimentId: string,
    runName: string,
  ): Promise<{ runId: string; status: string; metrics: Record<string, number> } | null> {
    const r = await this.call<{
      runs?: {
        info: { run_id: string; status: string };
        data?: { metrics?: { key: string; value: number }[] };
      }[];
    }>("POST", "runs/search", {
      experiment_ids: [experimentId],
      filter: `attributes.run_name = '${runName.replace(/'/g, "\\'")}'`,
      order_by: ["attributes.start_time DESC"],
      max_results: 1,
    });
    const run = r?.runs?.[0];
    if (!run) return null;
    return {
      runId: run.info.run_id,
      status: run.info.status,
      metrics: Object.fromEntries((run.data?.metrics ?? []).map((m) => [m.key, Number(m.value)])),
    };
  }

  /** A run's latest value of each metric. */
  async runMetrics(runId: string): Promise<Record<string, number>> {
    const r = await this.call<{ run: { data?: { metrics?: { key: string; value: number }[] } } }>(
      "GET",
      "runs/get",
      { run_id: runId },
    );
    return Object.fromEntries((r?.run.data?.metrics ?? []).map((m) => [m.key, Number(m.value)]));
  }
}
