import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { ingestCronWorkflow, INGEST_CRON_FILE } from "../../components/platform/argoCron";
import { WORKFLOW_TEMPLATE_NAME } from "../../components/platform/argoPipeline";
import { REPO_ROOT } from "../harness";

// The ingest CronWorkflow: rendered for the estate, and its ingest-and-compare script run for real
// (the trainer's `ssept ingest` on a local store) across the four cases.
// The trainer's Python: the lock's .venv (what .ci/run installs), else Debian's python3.
const VENV_PYTHON = path.join(REPO_ROOT, ".venv", "bin", "python");
const PYTHON = fs.existsSync(VENV_PYTHON) ? VENV_PYTHON : "/usr/bin/python3";

const input = {
  pipelineNamespace: "pipeline",
  serviceAccount: "workflow",
  image: "ghcr.io/sse-pt-platform/trainer:0.1.0",
  mlflowTrackingUri: "http://mlflow.mlflow.svc:5000",
};

test("renders with every placeholder filled and starts the declared pipeline with its parameters", () => {
  const doc = ingestCronWorkflow(input);
  expect(doc.metadata).toMatchObject({ name: "ingest-and-train", namespace: "pipeline" });
  expect(doc.spec.schedule).toMatch(/^(\S+\s+){4}\S+$/);
  expect(JSON.stringify(doc)).not.toMatch(/\$\{[A-Z_]+\}/);
  const start = doc.spec.workflowSpec.templates.find((t) => t.name === "start-training")!;
  const wf = yaml.load(start.resource!.manifest!) as { spec: { workflowTemplateRef: { name: string } } };
  expect(wf.spec.workflowTemplateRef.name).toBe(WORKFLOW_TEMPLATE_NAME);
  const bad = fs
    .readFileSync(INGEST_CRON_FILE, "utf8")
    .replace(
      '- name: dataVersion\n                    value: "{{inputs',
      '- name: dataVersoin\n                    value: "{{inputs',
    );
  expect(() => ingestCronWorkflow(input, bad)).toThrow(/training-pipeline has no parameter dataVersoin/);
  expect(() => ingestCronWorkflow({ ...input, image: "trainer:latest" })).toThrow(/is not pinned/);
});

describe("ingest-and-compare decides whether to train", () => {
  const source = ingestCronWorkflow(input).spec.workflowSpec.templates.find(
    (t) => t.name === "ingest-and-compare",
  )!.script!.source!;
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ssept-cron-"));
    fs.mkdirSync(path.join(dir, "out"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const upstream = (rows: number) => {
    const file = path.join(dir, "wikipedia.csv");
    const lines = ["user_id,item_id,timestamp,state_label,f1"];
    for (let i = 0; i < rows; i++) lines.push(`${i % 7},${i % 5},${i}.0,0,0.1`);
    fs.writeFileSync(file, lines.join("\n") + "\n");
    return file;
  };
  const ingest = (date: string) => {
    const r = spawnSync(PYTHON, ["-c", source], {
      encoding: "utf8",
      env: {
        PATH: process.env.PATH,
        PYTHONPATH: path.join(REPO_ROOT, "trainer-image"),
        DATASET: "wikipedia",
        SSEPT_STORAGE_ROOT: path.join(dir, "store"),
        OUTPUT_DIR: path.join(dir, "out"),
        INGEST_ARGS: JSON.stringify([
          "--source-url",
          `file://${path.join(dir, "wikipedia.csv")}`,
          "--date",
          date,
          "--expected-rows",
          "0",
        ]),
      },
    });
    expect({ status: r.status, stderr: r.status === 0 ? "" : r.stderr }).toEqual({ status: 0, stderr: "" });
    return {
      changed: fs.readFileSync(path.join(dir, "out", "changed"), "utf8"),
      date: fs.readFileSync(path.join(dir, "out", "date"), "utf8"),
      why: (JSON.parse(r.stdout.trim().split("\n").pop()!) as { why: string }).why,
    };
  };

  test("first ingest trains; same bytes later, or the same day again, do not; new bytes do", () => {
    upstream(40);
    expect(ingest("2026-11-01")).toEqual({
      changed: "true",
      date: "2026-11-01",
      why: "first ingest of this dataset",
    });
    expect(ingest("2026-11-02")).toEqual({
      changed: "false",
      date: "2026-11-02",
      why: "sha256 same as the 2026-11-01 ingest",
    });
    expect(ingest("2026-11-02")).toMatchObject({
      changed: "false",
      why: "2026-11-02 was already ingested with the same sha256",
    });
    upstream(41);
    expect(ingest("2026-11-03")).toEqual({
      changed: "true",
      date: "2026-11-03",
      why: "sha256 differs from the 2026-11-02 ingest",
    });
  });

  test("a failing ingest fails the step (no decision written)", () => {
    const r = spawnSync(PYTHON, ["-c", source], {
      encoding: "utf8",
      env: {
        PATH: process.env.PATH,
        PYTHONPATH: path.join(REPO_ROOT, "trainer-image"),
        DATASET: "wikipedia",
        SSEPT_STORAGE_ROOT: path.join(dir, "store"),
        OUTPUT_DIR: path.join(dir, "out"),
        INGEST_ARGS: JSON.stringify(["--source-url", `file://${dir}/missing.csv`, "--date", "2026-11-01"]),
      },
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/ssept ingest: error/);
    expect(fs.existsSync(path.join(dir, "out", "changed"))).toBe(false);
  });
});
