/**
 * Smoke tests of a deployed stack, from its outputs (`pulumi stack output --json --show-secrets`):
 * the gateway is healthy and returns a recommendation, Grafana answers its health API, MLflow
 * answers through the ingress's basic auth. Prints one line per check; exits 1 if any fails.
 *
 *   npx ts-node --transpile-only .github/scripts/smoke.ts <outputs.json> [--insecure] [--user <id>]
 *
 * --insecure accepts the self-signed CA of tlsMode self-signed. Credentials are never printed.
 */
import * as fs from "fs";
import * as http from "http";
import * as https from "https";

export interface SmokeOptions {
  insecure: boolean;
  user: number;
  timeoutMs: number;
  attempts: number;
  retryDelayMs: number;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

interface Reply {
  status: number;
  body: string;
}

function get(url: string, opts: SmokeOptions, auth?: { username: string; password: string }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === "https:" ? https : http;
    const headers: Record<string, string> = { Accept: "application/json" };
    if (auth)
      headers.Authorization = "Basic " + Buffer.from(`${auth.username}:${auth.password}`).toString("base64");
    const req = mod.request(
      u,
      {
        method: "GET",
        headers,
        timeout: opts.timeoutMs,
        ...(u.protocol === "https:" ? { rejectUnauthorized: !opts.insecure } : {}),
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

type Check = () => Promise<string>;

async function attempt(name: string, check: Check, opts: SmokeOptions): Promise<CheckResult> {
  let last = "";
  for (let i = 1; i <= opts.attempts; i++) {
    try {
      return { name, ok: true, detail: await check() };
    } catch (err) {
      last = (err as Error).message;
      if (i < opts.attempts) await new Promise((r) => setTimeout(r, opts.retryDelayMs));
    }
  }
  return { name, ok: false, detail: last };
}

const expectStatus = (r: Reply, want: number, what: string) => {
  if (r.status !== want) throw new Error(`${what}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
};

export async function smoke(outputs: Record<string, unknown>, opts: SmokeOptions): Promise<CheckResult[]> {
  const url = (key: string): string => {
    const v = outputs[key];
    if (typeof v !== "string" || !/^https?:\/\//.test(v))
      throw new Error(`stack output ${key} is missing or not a URL`);
    return v.replace(/\/+$/, "");
  };
  const checks: [string, Check][] = [];
  const creds = (outputs.uiCredentials ?? {}) as { basicAuth?: { username: string; password: string } };

  checks.push([
    "gateway health",
    async () => {
      const r = await get(`${url("gatewayUrl")}/healthz`, opts);
      expectStatus(r, 200, "GET /healthz");
      return "200";
    },
  ]);
  checks.push([
    "gateway recommendation",
    async () => {
      const r = await get(`${url("gatewayUrl")}/v1/recommendations?user=${opts.user}&k=10`, opts);
      expectStatus(r, 200, "GET /v1/recommendations");
      const rec = JSON.parse(r.body) as { items?: unknown[]; track?: string; source?: string };
      if (!Array.isArray(rec.items) || rec.items.length === 0)
        throw new Error("the recommendation has no items");
      return `${rec.items.length} items from ${rec.source ?? "?"} on ${rec.track ?? "?"}`;
    },
  ]);
  checks.push([
    "grafana",
    async () => {
      const r = await get(`${url("grafanaUrl")}/api/health`, opts);
      expectStatus(r, 200, "GET /api/health");
      const health = JSON.parse(r.body) as { database?: string };
      if (health.database !== "ok") throw new Error(`database ${health.database}`);
      return "database ok";
    },
  ]);
  checks.push([
    "mlflow",
    async () => {
      if (!creds.basicAuth)
        throw new Error("stack output uiCredentials.basicAuth is missing (read outputs with --show-secrets)");
      const r = await get(`${url("mlflowUrl")}/health`, opts, creds.basicAuth);
      expectStatus(r, 200, "GET /health");
      return "200";
    },
  ]);
  const results: CheckResult[] = [];
  for (const [name, check] of checks) results.push(await attempt(name, check, opts));
  return results;
}

async function main(argv: string[]): Promise<number> {
  const [file, ...rest] = argv;
  const opts: SmokeOptions = {
    insecure: false,
    user: 1,
    timeoutMs: 10_000,
    attempts: 10,
    retryDelayMs: 15_000,
  };
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === "--insecure") opts.insecure = true;
    else if (rest[i] === "--user" && /^\d+$/.test(rest[i + 1] ?? "")) opts.user = Number(rest[++i]);
    else {
      console.error(`smoke: unknown option ${rest[i]}`);
      return 2;
    }
  }
  if (!file || !fs.existsSync(file)) {
    console.error("usage: smoke.ts <outputs.json> [--insecure] [--user <id>]");
    return 2;
  }
  const results = await smoke(JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>, opts);
  const lines = results.map((r) => `${r.ok ? "PASS" : "FAIL"} ${r.name}: ${r.detail}`);
  console.log(lines.join("\n"));
  if (process.env.GITHUB_STEP_SUMMARY)
    fs.appendFileSync(
      process.env.GITHUB_STEP_SUMMARY,
      `## Smoke tests\n\n${lines.map((l) => `- ${l}`).join("\n")}\n`,
    );
  return results.every((r) => r.ok) ? 0 : 1;
}

if (require.main === module) main(process.argv.slice(2)).then((code) => process.exit(code));
