import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { IMAGES } from "../../.github/scripts/images";
import { PIPELINE_PARAMETERS, WORKFLOW_TEMPLATE_NAME } from "../../components/platform/argoPipeline";
import { REPO_ROOT } from "../harness";

// Every workflow, parsed: actions pinned by commit SHA, least permissions per job, no secret or
// expression interpolated into a shell line, scripts that exist (and pass shellcheck), one
// concurrency group per stack for everything that updates a stack.
const DIR = path.join(REPO_ROOT, ".github", "workflows");
const FILES = fs.readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f));

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
  id?: string;
  if?: string;
}
interface Job {
  permissions?: Record<string, string> | string;
  concurrency?: { group: string; "cancel-in-progress"?: boolean } | string;
  environment?: string;
  steps: Step[];
  strategy?: { matrix?: Record<string, unknown> };
  if?: string;
}
interface Workflow {
  name: string;
  on: Record<string, unknown>;
  permissions?: unknown;
  jobs: Record<string, Job>;
}

const workflows: Record<string, Workflow> = Object.fromEntries(
  FILES.map((f) => [f, yaml.load(fs.readFileSync(path.join(DIR, f), "utf8")) as Workflow]),
);
const allSteps = (): [string, string, Step][] =>
  Object.entries(workflows).flatMap(([file, wf]) =>
    Object.entries(wf.jobs).flatMap(([job, j]) => j.steps.map((s): [string, string, Step] => [file, job, s])),
  );
const PACKAGE = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as {
  scripts: Record<string, string>;
};

test("the expected workflows are there", () => {
  expect(FILES.sort()).toEqual(["deploy.yml", "pr-comment.yml", "pr.yml", "promote.yml", "train.yml"]);
});

test("every action is pinned by full commit SHA, one SHA per action, with its version in a comment", () => {
  const shas = new Map<string, Set<string>>();
  for (const [file, job, step] of allSteps()) {
    if (!step.uses) continue;
    const m = /^([\w.-]+\/[\w.-]+)(?:\/[\w./-]+)?@([0-9a-f]{40})$/.exec(step.uses);
    expect({ file, job, uses: step.uses, pinned: Boolean(m) }).toEqual({
      file,
      job,
      uses: step.uses,
      pinned: true,
    });
    shas.set(m![1], (shas.get(m![1]) ?? new Set()).add(m![2]));
  }
  for (const [action, set] of shas) expect({ action, shas: set.size }).toEqual({ action, shas: 1 });
  for (const file of FILES)
    for (const line of fs.readFileSync(path.join(DIR, file), "utf8").split("\n"))
      if (/uses: \S+@[0-9a-f]{40}/.test(line)) expect(line).toMatch(/@[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
});

test("no ${{ }} expression, secret or otherwise, is interpolated into a shell line", () => {
  for (const [file, job, step] of allSteps())
    if (step.run)
      expect({ file, job, step: step.name, run: step.run }).not.toMatchObject({
        run: expect.stringContaining("${{"),
      });
});

test("secrets reach steps only through env or with, and no step echoes one", () => {
  for (const [file, job, step] of allSteps()) {
    const secretVars = Object.entries(step.env ?? {})
      .filter(([, v]) => /\$\{\{\s*secrets\./.test(String(v)))
      .map(([k]) => k);
    for (const v of secretVars)
      expect({
        file,
        job,
        v,
        echoes: new RegExp(`(echo|printf)[^\\n]*\\$\\{?${v}\\b`).test(step.run ?? ""),
      }).toEqual({
        file,
        job,
        v,
        echoes: false,
      });
  }
});

test("permissions: none at the top, declared per job, write only where a job needs it", () => {
  const writers: string[] = [];
  for (const [file, wf] of Object.entries(workflows)) {
    expect({ file, top: wf.permissions }).toEqual({ file, top: {} });
    for (const [name, job] of Object.entries(wf.jobs)) {
      expect({ file, name, permissions: typeof job.permissions }).toEqual({
        file,
        name,
        permissions: "object",
      });
      for (const [scope, level] of Object.entries(job.permissions as Record<string, string>))
        if (level === "write") writers.push(`${file}:${name}:${scope}`);
    }
  }
  expect(writers.sort()).toEqual([
    "deploy.yml:images:packages",
    "deploy.yml:production:contents",
    "pr-comment.yml:comment:pull-requests",
    "pr.yml:preview:pull-requests",
    "promote.yml:gate:actions",
    "promote.yml:gate:contents",
    "train.yml:train:actions",
    "train.yml:train:contents",
  ]);
});

test("every job that updates a stack holds that stack's one concurrency group, never cancelled", () => {
  const groups = new Map<string, Set<string>>();
  for (const [file, wf] of Object.entries(workflows))
    for (const [name, job] of Object.entries(wf.jobs)) {
      const ups = job.steps.filter((s) => s.uses?.startsWith("pulumi/actions@") && s.with?.command === "up");
      const decides = job.steps.some((s) => /commit-decision\.sh (staging|production)/.test(s.run ?? ""));
      const stacks = new Set([
        ...ups.map((s) => String(s.with!["stack-name"])),
        ...job.steps.flatMap((s) =>
          [...(s.run ?? "").matchAll(/commit-decision\.sh (staging|production)/g)].map((m) => m[1]),
        ),
      ]);
      if (ups.length === 0 && !decides) continue;
      expect(stacks.size).toBe(1);
      const stack = [...stacks][0];
      const c = job.concurrency as { group: string; "cancel-in-progress"?: boolean } | undefined;
      // train.yml edits staging's file but runs in the cluster of the stack it trains on.
      if (file === "train.yml") continue;
      expect({ file, name, group: c?.group, cancel: c?.["cancel-in-progress"] }).toEqual({
        file,
        name,
        group: `pulumi-${stack}`,
        cancel: false,
      });
      groups.set(stack, (groups.get(stack) ?? new Set()).add(c!.group));
    }
  expect([...groups.keys()].sort()).toEqual(["production", "staging"]);
  for (const set of groups.values()) expect(set.size).toBe(1);
});

test("production updates wait for the production environment; previews and ups run the policy pack", () => {
  for (const [file, wf] of Object.entries(workflows))
    for (const [name, job] of Object.entries(wf.jobs))
      for (const step of job.steps) {
        if (!step.uses?.startsWith("pulumi/actions@") || !step.with?.command) continue;
        const stack = String(step.with["stack-name"]);
        expect({ file, name, policyPacks: step.with.policyPacks }).toEqual({
          file,
          name,
          policyPacks: "policy",
        });
        expect(String(step.with.policyPackConfigs)).toMatch(
          /^policy\/config\/(\$\{\{ matrix\.stack \}\}|staging|production)\.json$/,
        );
        expect(step.with["suppress-outputs"]).toBe(true);
        if (stack === "production")
          expect({ file, name, env: job.environment }).toEqual({ file, name, env: "production" });
      }
  for (const stack of ["staging", "production"])
    expect(
      JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "policy", "config", `${stack}.json`), "utf8")),
    ).toEqual({
      "production-gateway-replicas": { environment: stack },
    });
});

test("every script, file and npm script a run line names exists", () => {
  const missing: string[] = [];
  for (const [file, job, step] of allSteps()) {
    const run = step.run ?? "";
    for (const m of run.matchAll(/(?:^|\s)((?:\.github\/scripts|\.ci|tools)\/[\w./-]+)/g))
      if (!fs.existsSync(path.join(REPO_ROOT, m[1]))) missing.push(`${file}:${job}: ${m[1]}`);
    for (const m of run.matchAll(/npm run (?:-s )?([\w:-]+)/g))
      if (!PACKAGE.scripts[m[1]]) missing.push(`${file}:${job}: npm script ${m[1]}`);
  }
  expect(missing).toEqual([]);
});

test("every run block and script passes shellcheck", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ssept-runs-"));
  try {
    const files: string[] = [];
    allSteps().forEach(([file, job, step], i) => {
      if (!step.run) return;
      const f = path.join(dir, `${file}-${job}-${i}.sh`);
      fs.writeFileSync(f, `#!/usr/bin/env bash\nset -euo pipefail\n${step.run}`);
      files.push(f);
    });
    const scripts = fs
      .readdirSync(path.join(REPO_ROOT, ".github", "scripts"))
      .filter((f) => f.endsWith(".sh"))
      .map((f) => path.join(REPO_ROOT, ".github", "scripts", f));
    const r = spawnSync("shellcheck", ["-s", "bash", ...files, ...scripts], { encoding: "utf8" });
    expect(r.error).toBeUndefined();
    expect(r.stdout).toBe("");
    expect(r.status).toBe(0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the fork-safe commenter runs the default branch's code and reads the PR run as data", () => {
  const wf = workflows["pr-comment.yml"];
  expect(Object.keys(wf.on)).toEqual(["workflow_run"]);
  const checkout = wf.jobs.comment.steps.find((s) => s.uses?.startsWith("actions/checkout@"))!;
  expect(checkout.with?.ref).toBe("${{ github.event.repository.default_branch }}");
  expect(checkout.with?.["persist-credentials"]).toBe(false);
  // The PR workflow's name is what workflow_run listens for, and it uploads the artifact read.
  expect((wf.on.workflow_run as { workflows: string[] }).workflows).toEqual([workflows["pr.yml"].name]);
  const upload = workflows["pr.yml"].jobs["plan-diff"].steps.find((s) =>
    s.uses?.startsWith("actions/upload-artifact@"),
  );
  expect(upload?.with?.name).toBe("plan-diff");
  // Same-repository previews only: fork runs have no secrets.
  expect(workflows["pr.yml"].jobs.preview.if).toBe(
    "github.event.pull_request.head.repo.full_name == github.repository",
  );
});

test("deploy builds every image the stacks name, from Dockerfiles that exist", () => {
  const include = (
    workflows["deploy.yml"].jobs.images.strategy!.matrix!.include as Record<string, string>[]
  ).map((i) => ({ ...i }));
  expect(include).toEqual(
    IMAGES.map((i) => ({ name: i.name, context: i.context, dockerfile: i.dockerfile })),
  );
  for (const image of IMAGES)
    expect({ image: image.name, exists: fs.existsSync(path.join(REPO_ROOT, image.dockerfile)) }).toEqual({
      image: image.name,
      exists: true,
    });
});

test("the training submission names the cluster's WorkflowTemplate and only its parameters", () => {
  const script = path.join(REPO_ROOT, ".github/scripts/submit-training.sh");
  const out = execFileSync(
    "bash",
    [script, "--dry-run", "wikipedia", "2026-11-30", "3f0b3ef", "epochs=5", "lr=0.01"],
    {
      encoding: "utf8",
    },
  );
  const wf = yaml.load(out) as {
    spec: {
      workflowTemplateRef: { name: string };
      arguments: { parameters: { name: string; value: string }[] };
    };
  };
  expect(wf.spec.workflowTemplateRef.name).toBe(WORKFLOW_TEMPLATE_NAME);
  const params = wf.spec.arguments.parameters;
  expect(params).toEqual([
    { name: "dataset", value: "wikipedia" },
    { name: "dataVersion", value: "2026-11-30" },
    { name: "gitCommit", value: "3f0b3ef" },
    { name: "epochs", value: "5" },
    { name: "lr", value: "0.01" },
  ]);
  for (const p of params) expect(PIPELINE_PARAMETERS).toContain(p.name);
  for (const bad of [
    ["movies", "v1", "abc1234"],
    ["ml-1m", "v 1", "abc1234"],
    ["ml-1m", "v1", "HEAD"],
    ["ml-1m", "v1", "abc1234", "x=$(id)"],
  ]) {
    const r = spawnSync("bash", [script, "--dry-run", ...bad], { encoding: "utf8" });
    expect({ bad, status: r.status }).toEqual({ bad, status: 2 });
    expect(r.stderr).toMatch(/^submit-training: /);
  }
});
