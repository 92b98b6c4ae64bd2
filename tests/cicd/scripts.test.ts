import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { setImages } from "../../.github/scripts/set-images";
import { smoke, SmokeOptions } from "../../.github/scripts/smoke";
import { trainSummary } from "../../.github/scripts/train-summary";
import { MlflowRegistry } from "../../tools/promotion/mlflow";
import { REPO_ROOT } from "../harness";
import { mlflowPost, mlflowServer, newModel, RunningMlflow } from "./mlflowKit";

// The scripts the workflows call, run the way the workflows run them.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const prComment = require("../../.github/scripts/pr-comment.js") as {
  MARKER: string;
  run(args: Record<string, unknown>): Promise<{ action: string; id: number } | null>;
};
const SCRIPTS = path.join(REPO_ROOT, ".github", "scripts");

let tmp: string;
beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ssept-ci-"))));
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

const git = (cwd: string, ...args: string[]) =>
  execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.org", ...args], {
    cwd,
    encoding: "utf8",
  }).trim();

describe("commit-decision.sh", () => {
  const setup = () => {
    const remote = path.join(tmp, "remote.git");
    const work = path.join(tmp, "work");
    git(tmp, "init", "--quiet", "--bare", "-b", "main", remote);
    git(tmp, "clone", "--quiet", remote, work);
    fs.copyFileSync(path.join(REPO_ROOT, "Pulumi.staging.yaml"), path.join(work, "Pulumi.staging.yaml"));
    fs.writeFileSync(path.join(work, "other.txt"), "a\n");
    git(work, "add", ".");
    git(work, "commit", "--quiet", "-m", "init");
    git(work, "push", "--quiet", "origin", "HEAD:main");
    return { remote, work };
  };

  test("commits only the stack file and pushes it; an unchanged file commits nothing", () => {
    const { remote, work } = setup();
    const run = (...args: string[]) =>
      spawnSync("bash", [path.join(SCRIPTS, "commit-decision.sh"), ...args], { cwd: work, encoding: "utf8" });
    let r = run("staging", "Model promotion: test");
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/unchanged; nothing to commit/);
    expect(git(remote, "rev-list", "--count", "main")).toBe("1");

    fs.appendFileSync(path.join(work, "Pulumi.staging.yaml"), '  sse-pt-platform:stableModelVersion: "7"\n');
    fs.writeFileSync(path.join(work, "other.txt"), "changed, not part of the decision\n");
    r = run("staging", "Model promotion: test");
    expect(r.status).toBe(0);
    expect(git(remote, "log", "-1", "--format=%s%n%an", "main")).toBe(
      "Model promotion: test\nssept-promotion[bot]",
    );
    expect(git(remote, "show", "--name-only", "--format=", "main")).toBe("Pulumi.staging.yaml");
    expect(git(remote, "show", "main:Pulumi.staging.yaml")).toMatch(/stableModelVersion: "7"$/);
  });

  test("replays the decision on top of a main that moved meanwhile", () => {
    const { remote, work } = setup();
    const other = path.join(tmp, "other");
    git(tmp, "clone", "--quiet", remote, other);
    fs.writeFileSync(path.join(other, "other.txt"), "someone else's commit\n");
    git(other, "commit", "--quiet", "-am", "meanwhile");
    git(other, "push", "--quiet", "origin", "HEAD:main");

    fs.appendFileSync(path.join(work, "Pulumi.staging.yaml"), '  sse-pt-platform:stableModelVersion: "8"\n');
    const r = spawnSync("bash", [path.join(SCRIPTS, "commit-decision.sh"), "staging", "decision"], {
      cwd: work,
      encoding: "utf8",
    });
    expect(r.status).toBe(0);
    expect(git(remote, "log", "--format=%s", "main").split("\n")).toEqual(["decision", "meanwhile", "init"]);
  });

  test("bad usage exits 2", () => {
    const r = spawnSync("bash", [path.join(SCRIPTS, "commit-decision.sh"), "nosuchstack", "m"], {
      cwd: tmp,
      encoding: "utf8",
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/Pulumi.nosuchstack.yaml not found/);
  });
});

test("set-images points every image key at <registry>/<name>:<sha> and the stack still validates", () => {
  const file = path.join(tmp, "Pulumi.production.yaml");
  fs.copyFileSync(path.join(REPO_ROOT, "Pulumi.production.yaml"), file);
  const sha = "3f0b3ef0123456789abcdef0123456789abcdef0";
  setImages(file, "ghcr.io/my-org", sha);
  const config = (yaml.load(fs.readFileSync(file, "utf8")) as { config: Record<string, string> }).config;
  expect(config["sse-pt-platform:trainerImage"]).toBe(`ghcr.io/my-org/trainer:${sha}`);
  expect(config["sse-pt-platform:mlflowImage"]).toBe(`ghcr.io/my-org/mlflow:${sha}`);
  expect(config["sse-pt-platform:gatewayImage"]).toBe(`ghcr.io/my-org/gateway:${sha}`);
  expect(config["sse-pt-platform:simulatorImage"]).toBe(`ghcr.io/my-org/simulator:${sha}`);
  // Untouched: the Triton image is NVIDIA's.
  expect(config["sse-pt-platform:tritonImage"]).toMatch(/^nvcr.io\//);
  expect(() => setImages(file, "GHCR.io/Org", sha)).toThrow(/expected host\[\/path\] in lower case/);
  expect(() => setImages(file, "ghcr.io/my-org", "latest")).toThrow(/pinned tag/);
});

describe("smoke.ts", () => {
  let server: http.Server;
  let base: string;
  const state = { items: [{ item: 3, score: 0.9 }], grafanaDb: "ok", authSeen: "" };
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const url = new URL(req.url!, "http://x");
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { "Content-Type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (url.pathname === "/gw/healthz") return json(200, { status: "ok" });
      if (url.pathname === "/gw/v1/recommendations" && url.searchParams.get("user") === "1")
        return json(200, { user: 1, track: "stable", source: "model", items: state.items });
      if (url.pathname === "/grafana/api/health") return json(200, { database: state.grafanaDb });
      if (url.pathname === "/mlflow/health") {
        state.authSeen = req.headers.authorization ?? "";
        return state.authSeen === "Basic " + Buffer.from("ops:pw").toString("base64")
          ? json(200, {})
          : json(401, { error: "auth" });
      }
      json(404, {});
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const opts: SmokeOptions = { insecure: false, user: 1, timeoutMs: 2000, attempts: 2, retryDelayMs: 10 };
  const outputs = (password = "pw") => ({
    gatewayUrl: `${base}/gw`,
    grafanaUrl: `${base}/grafana/`,
    mlflowUrl: `${base}/mlflow`,
    uiCredentials: { basicAuth: { username: "ops", password } },
  });

  test("a healthy stack passes every check", async () => {
    const results = await smoke(outputs(), opts);
    expect(results).toEqual([
      { name: "gateway health", ok: true, detail: "200" },
      { name: "gateway recommendation", ok: true, detail: "1 items from model on stable" },
      { name: "grafana", ok: true, detail: "database ok" },
      { name: "mlflow", ok: true, detail: "200" },
    ]);
  });

  test("each broken part fails its own check, with the reason", async () => {
    state.items = [];
    state.grafanaDb = "failing";
    try {
      const results = await smoke(outputs("wrong"), opts);
      expect(results.filter((r) => !r.ok).map((r) => [r.name, r.detail])).toEqual([
        ["gateway recommendation", "the recommendation has no items"],
        ["grafana", "database failing"],
        ["mlflow", expect.stringMatching(/^GET \/health: HTTP 401/)],
      ]);
    } finally {
      state.items = [{ item: 3, score: 0.9 }];
      state.grafanaDb = "ok";
    }
  });

  test("missing outputs fail clearly; unreachable hosts fail after the retries", async () => {
    const results = await smoke({ gatewayUrl: "http://127.0.0.1:1", grafanaUrl: 3 }, opts);
    expect(results.map((r) => r.ok)).toEqual([false, false, false, false]);
    expect(results[0].detail).toMatch(/ECONNREFUSED/);
    expect(results[2].detail).toBe("stack output grafanaUrl is missing or not a URL");
    expect(results[3].detail).toMatch(/uiCredentials.basicAuth is missing/);
  });
});

describe("pr-comment.js", () => {
  const makeZip = (files: Record<string, string>): Buffer => {
    const dir = fs.mkdtempSync(path.join(tmp, "zip-"));
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
    const zip = path.join(tmp, `${path.basename(dir)}.zip`);
    execFileSync("python3", [
      "-m",
      "zipfile",
      "-c",
      zip,
      ...Object.keys(files).map((f) => path.join(dir, f)),
    ]);
    return fs.readFileSync(zip);
  };
  // The GitHub REST surface the script uses, recording what it does; the zip and its extraction are real.
  const fakeGitHub = (zip: Buffer, headSha: string) => {
    const comments: { id: number; body: string; user: { type: string } }[] = [
      { id: 1, body: "a human's comment", user: { type: "User" } },
    ];
    const calls: string[] = [];
    const github = {
      paginate: async (fn: (a: unknown) => Promise<{ data: unknown[] }>, args: unknown) =>
        (await fn(args)).data,
      rest: {
        actions: {
          listWorkflowRunArtifacts: async () => ({ data: { artifacts: [{ id: 9, name: "plan-diff" }] } }),
          downloadArtifact: async () => ({ data: zip }),
        },
        pulls: { get: async () => ({ data: { head: { sha: headSha } } }) },
        issues: {
          listComments: async () => ({ data: comments }),
          createComment: async (a: { body: string }) => {
            calls.push("create");
            comments.push({ id: 100 + comments.length, body: a.body, user: { type: "Bot" } });
            return { data: { id: 100 + comments.length - 1 } };
          },
          updateComment: async (a: { comment_id: number; body: string }) => {
            calls.push(`update ${a.comment_id}`);
            comments.find((c) => c.id === a.comment_id)!.body = a.body;
          },
        },
      },
    };
    return { github, comments, calls };
  };
  const context = {
    repo: { owner: "o", repo: "r" },
    payload: { workflow_run: { id: 5, head_sha: "abc", html_url: "https://github.com/o/r/actions/runs/5" } },
  };
  const core = { info: jest.fn(), warning: jest.fn() };
  const exec = { exec: async (cmd: string, args: string[]) => execFileSync(cmd, args) };

  test("posts one comment, then edits it in place on the next run", async () => {
    const gh = fakeGitHub(
      makeZip({ "pr-number": "42\n", "diff.md": "## Offline plan diff\n\n**1 to add**" }),
      "abc",
    );
    expect(await prComment.run({ github: gh.github, context, core, exec, dir: tmp })).toEqual({
      action: "created",
      id: 101,
    });
    const again = fakeGitHub(
      makeZip({ "pr-number": "42", "diff.md": "## Offline plan diff\n\n**2 to add**" }),
      "abc",
    );
    again.comments.push(...gh.comments.filter((c) => c.user.type === "Bot"));
    expect(await prComment.run({ github: again.github, context, core, exec, dir: tmp })).toEqual({
      action: "updated",
      id: 101,
    });
    expect(again.calls).toEqual(["update 101"]);
    const mine = again.comments.filter((c) => c.body.startsWith(prComment.MARKER));
    expect(mine).toHaveLength(1);
    expect(mine[0].body).toMatch(/\*\*2 to add\*\*[\s\S]*actions\/runs\/5/);
  });

  test("refuses a PR number that is not one, and a PR whose head is not the tested commit", async () => {
    const bad = fakeGitHub(makeZip({ "pr-number": "42; rm -rf /", "diff.md": "x" }), "abc");
    await expect(prComment.run({ github: bad.github, context, core, exec, dir: tmp })).rejects.toThrow(
      /is not a PR number/,
    );
    const moved = fakeGitHub(makeZip({ "pr-number": "42", "diff.md": "x" }), "def");
    expect(await prComment.run({ github: moved.github, context, core, exec, dir: tmp })).toBeNull();
    expect(moved.calls).toEqual([]);
    expect(core.warning).toHaveBeenCalledWith(expect.stringMatching(/not posting a stale or foreign diff/));
  });
});

describe("train-summary.ts against a real MLflow", () => {
  let mlflow: RunningMlflow;
  beforeAll(async () => (mlflow = await mlflowServer()), 120_000);
  afterAll(() => mlflow?.stop());

  test("the run named after the workflow, its metrics and its registered version", async () => {
    const { model, experimentId } = await newModel(mlflow.url, "train");
    const { run } = await mlflowPost<{ run: { info: { run_id: string } } }>(mlflow.url, "runs/create", {
      experiment_id: experimentId,
      run_name: "training-ml-1m-x7k2p",
      start_time: Date.now(),
    });
    for (const [key, value] of Object.entries({
      test_ndcg10: 0.6321,
      test_hr10: 0.8412,
      epoch_seconds: 12.5,
    }))
      await mlflowPost(mlflow.url, "runs/log-metric", {
        run_id: run.info.run_id,
        key,
        value,
        timestamp: Date.now(),
      });
    await mlflowPost(mlflow.url, "model-versions/create", {
      name: model,
      source: `runs:/${run.info.run_id}/model`,
      run_id: run.info.run_id,
    });
    const md = await trainSummary(new MlflowRegistry(mlflow.url), "ml-1m", "training-ml-1m-x7k2p", model);
    expect(md).toContain(`MLflow run \`${run.info.run_id}\``);
    expect(md).toContain("registered as v1.");
    expect(md.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| metric"))).toEqual([
      "| test_ndcg10 | 0.6321 |",
      "| test_hr10 | 0.8412 |",
      "| epoch_seconds | 12.5000 |",
    ]);
    await expect(trainSummary(new MlflowRegistry(mlflow.url), "ml-1m", "no-such-run", model)).rejects.toThrow(
      /has no run named no-such-run/,
    );
  }, 60_000);
});

describe("shell scripts' argument checks", () => {
  test("plan-diff.sh names a base ref that is not a commit", () => {
    const r = spawnSync("bash", [path.join(SCRIPTS, "plan-diff.sh"), "no-such-ref-xyz", tmp], {
      cwd: REPO_ROOT,
      encoding: "utf8",
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/base ref 'no-such-ref-xyz' is not a commit here/);
    expect(spawnSync("bash", [path.join(SCRIPTS, "plan-diff.sh")], { encoding: "utf8" }).status).toBe(2);
  });

  test("stack-outputs.sh writes the outputs readable by the owner only and prints none of them", () => {
    const bin = path.join(tmp, "bin");
    fs.mkdirSync(bin);
    // Stands in for the Pulumi CLI: records its arguments, prints outputs with a secret.
    fs.writeFileSync(
      path.join(bin, "pulumi"),
      `#!/bin/sh\necho "$@" > "${tmp}/args"\necho '{"kubeconfig":"s3cr3t-kubeconfig"}'\n`,
      { mode: 0o755 },
    );
    const out = path.join(tmp, "outputs.json");
    const r = spawnSync("bash", [path.join(SCRIPTS, "stack-outputs.sh"), "staging", out], {
      encoding: "utf8",
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    expect(r.status).toBe(0);
    expect(r.stdout + r.stderr).not.toContain("s3cr3t");
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(path.join(tmp, "args"), "utf8").trim()).toBe(
      "stack output --stack staging --json --show-secrets",
    );
    const none = spawnSync("bash", [path.join(SCRIPTS, "stack-outputs.sh"), "staging", out], {
      encoding: "utf8",
      env: { ...process.env, PATH: "/usr/bin:/bin" },
    });
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/pulumi CLI is not on PATH/);
  });
});
