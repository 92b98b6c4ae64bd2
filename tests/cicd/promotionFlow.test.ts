import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { main, parseArgs, promote, PromoteArgs } from "../../tools/promote";
import { MlflowRegistry } from "../../tools/promotion/mlflow";
import { editStackFile } from "../../tools/promotion/stackFile";
import { REPO_ROOT } from "../harness";
import { mlflowServer, newModel, registerVersion, RunningMlflow } from "./mlflowKit";
import { recordedSeries, RunningPrometheus, startPrometheus } from "./prometheusKit";

// The whole promotion path against a real MLflow registry and a real Prometheus: candidate on
// staging, canary on production, then the soak gate; each step's decision lands in a stack file.
const AT_OK = new Date("2026-11-26T01:05:00Z");
const AT_BAD = new Date("2026-11-26T04:05:00Z");
const AT_EMPTY = new Date("2026-11-26T07:05:00Z");

let mlflow: RunningMlflow;
let prom: RunningPrometheus;
let dir: string;

beforeAll(async () => {
  const traffic = {
    rps: 5,
    errorShare: 0.001,
    latency: { "0.025": 0.5, "0.05": 0.4, "0.1": 0.1 },
    scoredPerSecond: 2,
    hitRate: 0.3,
  };
  [mlflow, prom] = await Promise.all([
    mlflowServer(),
    startPrometheus(
      recordedSeries([
        {
          start: new Date("2026-11-26T00:00:00Z"),
          minutes: 70,
          stepSeconds: 30,
          tracks: { stable: traffic, canary: traffic },
        },
        {
          start: new Date("2026-11-26T03:00:00Z"),
          minutes: 70,
          stepSeconds: 30,
          tracks: { stable: traffic, canary: { ...traffic, hitRate: 0.2 } },
        },
      ]),
    ),
  ]);
}, 120_000);
afterAll(async () => {
  await Promise.all([mlflow?.stop(), prom?.stop()]);
});
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ssept-promote-"));
  for (const stack of ["staging", "production"]) {
    // Serving needs a stable version; start from one when the committed file has none yet.
    const text = fs.readFileSync(path.join(REPO_ROOT, `Pulumi.${stack}.yaml`), "utf8");
    const withStable = /:stableModelVersion:/.test(text)
      ? text
      : editStackFile(text, { stableModelVersion: "1" });
    fs.writeFileSync(path.join(dir, `Pulumi.${stack}.yaml`), withStable);
  }
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const stackValue = (stack: string, key: string): unknown =>
  (
    yaml.load(fs.readFileSync(path.join(dir, `Pulumi.${stack}.yaml`), "utf8")) as {
      config: Record<string, unknown>;
    }
  ).config[`sse-pt-platform:${key}`];

const run = (
  command: string,
  stack: string,
  model: string,
  extra: string[] = [],
): Promise<Awaited<ReturnType<typeof promote>>> => {
  const args: PromoteArgs = parseArgs(
    [command, "--stack", stack, "--model", model, "--mlflow", mlflow.url, "--prometheus", prom.url, ...extra],
    dir,
  );
  return promote(args, {});
};

test("candidate -> canary -> promote: aliases move in MLflow and the versions land in the stack files", async () => {
  const { model, experimentId } = await newModel(mlflow.url, "flow");
  const registry = new MlflowRegistry(mlflow.url);
  const v1 = await registerVersion(mlflow.url, model, experimentId, 0.6);
  await registry.setAlias(model, "production", v1);

  // v2 beats production by 0.003, less than the 0.005 margin of the committed stacks.
  await registerVersion(mlflow.url, model, experimentId, 0.603);
  const stagingBefore = stackValue("staging", "stableModelVersion");
  const none = await run("candidate", "staging", model);
  expect(none.decision).toBe("none");
  expect(none.summary).toMatch(/does not beat production v1 0\.6000 by 0\.005/);
  expect(await registry.byAlias(model, "staging")).toBeNull();
  expect(stackValue("staging", "stableModelVersion")).toBe(stagingBefore);

  const v3 = await registerVersion(mlflow.url, model, experimentId, 0.62);
  const cand = await run("candidate", "staging", model);
  expect(cand.decision).toBe("candidate");
  expect(cand.outputs.version).toBe(v3);
  expect((await registry.byAlias(model, "staging"))?.version).toBe(v3);
  expect(stackValue("staging", "stableModelVersion")).toBe(v3);

  // Production serves v1 as stable; the staged v3 becomes its canary.
  fs.writeFileSync(
    path.join(dir, "Pulumi.production.yaml"),
    editStackFile(fs.readFileSync(path.join(dir, "Pulumi.production.yaml"), "utf8"), {
      stableModelVersion: v1,
    }),
  );
  const canary = await run("canary", "production", model);
  expect(canary.decision).toBe("canary");
  expect(canary.summary).toMatch(/10% of traffic next to stable v1/);
  expect((await registry.byAlias(model, "canary"))?.version).toBe(v3);
  expect(stackValue("production", "canaryModelVersion")).toBe(v3);

  const gate = await run("gate", "production", model, ["--at", AT_OK.toISOString()]);
  expect(gate.decision).toBe("promote");
  expect(gate.summary).toMatch(/Canary gate: \*\*PROMOTE\*\*/);
  expect((await registry.byAlias(model, "production"))?.version).toBe(v3);
  expect(await registry.byAlias(model, "canary")).toBeNull();
  expect(stackValue("production", "stableModelVersion")).toBe(v3);
  expect(stackValue("production", "canaryModelVersion")).toBeUndefined();
}, 60_000);

test("a canary worse online is rolled back: alias removed, stable untouched", async () => {
  const { model, experimentId } = await newModel(mlflow.url, "rollback");
  const registry = new MlflowRegistry(mlflow.url);
  const v1 = await registerVersion(mlflow.url, model, experimentId, 0.6);
  const v2 = await registerVersion(mlflow.url, model, experimentId, 0.65);
  await registry.setAlias(model, "production", v1);
  await registry.setAlias(model, "canary", v2);
  await registry.setAlias(model, "staging", v2);
  const file = path.join(dir, "Pulumi.production.yaml");
  fs.writeFileSync(
    file,
    editStackFile(fs.readFileSync(file, "utf8"), { stableModelVersion: v1, canaryModelVersion: v2 }),
  );

  const gate = await run("gate", "production", model, ["--at", AT_BAD.toISOString()]);
  expect(gate.decision).toBe("rollback");
  expect(await registry.byAlias(model, "canary")).toBeNull();
  expect(await registry.byAlias(model, "staging")).toBeNull();
  expect((await registry.byAlias(model, "production"))?.version).toBe(v1);
  expect(stackValue("production", "stableModelVersion")).toBe(v1);
  expect(stackValue("production", "canaryModelVersion")).toBeUndefined();
}, 60_000);

test("no data in the window holds: nothing moves, the summary and outputs say hold", async () => {
  const { model, experimentId } = await newModel(mlflow.url, "hold");
  const registry = new MlflowRegistry(mlflow.url);
  const v1 = await registerVersion(mlflow.url, model, experimentId, 0.6);
  const v2 = await registerVersion(mlflow.url, model, experimentId, 0.65);
  await registry.setAlias(model, "canary", v2);
  const file = path.join(dir, "Pulumi.production.yaml");
  fs.writeFileSync(
    file,
    editStackFile(fs.readFileSync(file, "utf8"), { stableModelVersion: v1, canaryModelVersion: v2 }),
  );
  const before = fs.readFileSync(file, "utf8");

  const summaryFile = path.join(dir, "summary.md");
  const outputFile = path.join(dir, "output.txt");
  const code = await main(
    [
      "gate",
      "--stack",
      "production",
      "--model",
      model,
      "--stack-file",
      file,
      "--mlflow",
      mlflow.url,
      "--prometheus",
      prom.url,
      "--at",
      AT_EMPTY.toISOString(),
    ],
    { GITHUB_STEP_SUMMARY: summaryFile, GITHUB_OUTPUT: outputFile },
  );
  expect(code).toBe(0);
  expect(fs.readFileSync(summaryFile, "utf8")).toMatch(/Canary gate: \*\*HOLD\*\*[\s\S]*no data for/);
  expect(fs.readFileSync(outputFile, "utf8")).toBe(
    `decision=hold\nversion=${v2}\nstack_file_changed=false\n`,
  );
  expect(fs.readFileSync(file, "utf8")).toBe(before);
  expect((await registry.byAlias(model, "canary"))?.version).toBe(v2);
}, 60_000);

test("errors name what is wrong and exit non-zero", async () => {
  const log = jest.spyOn(console, "error").mockImplementation(() => undefined);
  try {
    expect(await main(["ship", "--stack", "production"])).toBe(2);
    expect(log.mock.calls.at(-1)?.[0]).toMatch(/unknown command "ship"/);
    expect(await main(["gate"])).toBe(2);
    expect(log.mock.calls.at(-1)?.[0]).toMatch(/--stack is required/);
    const file = path.join(dir, "Pulumi.staging.yaml");
    expect(
      await main(
        ["candidate", "--stack", "staging", "--stack-file", file, "--mlflow", "http://127.0.0.1:1"],
        {},
      ),
    ).toBe(1);
    expect(log.mock.calls.at(-1)?.[0]).toMatch(
      /^promote candidate: MLflow at http:\/\/127.0.0.1:1 did not answer/,
    );
    fs.appendFileSync(file, '  sse-pt-platform:promotionNdcgMargin: "2"\n');
    expect(
      await main(["candidate", "--stack", "staging", "--stack-file", file, "--mlflow", mlflow.url], {}),
    ).toBe(1);
    expect(log.mock.calls.at(-1)?.[0]).toMatch(/sse-pt-platform:promotionNdcgMargin/);
  } finally {
    log.mockRestore();
  }
});

test("a gate with no canary is a no-op, not an error", async () => {
  const file = path.join(dir, "Pulumi.production.yaml");
  fs.writeFileSync(file, editStackFile(fs.readFileSync(file, "utf8"), { canaryModelVersion: null }));
  const before = fs.readFileSync(file, "utf8");
  const r = await run("gate", "production", "ssept-ml-1m");
  expect(r.decision).toBe("none");
  expect(r.summary).toMatch(/production has no canaryModelVersion: nothing to gate/);
  expect(fs.readFileSync(file, "utf8")).toBe(before);
});

test("canary with no staged candidate is a no-op, not an error", async () => {
  const { model } = await newModel(mlflow.url, "empty");
  const r = await run("canary", "production", model);
  expect(r.decision).toBe("none");
  expect(r.summary).toMatch(/has no 'staging' alias/);
  expect(r.changedStackFile).toBe(false);
});

test("the stack file edit keeps comments and other lines, and refuses odd values", () => {
  const text =
    "# a comment\nconfig:\n  sse-pt-platform:environment: production\n  sse-pt-platform:gpuWindows:\n    - 2027-01-05T14:00Z/4h\n";
  const added = editStackFile(text, { canaryModelVersion: "4" });
  expect(added).toBe(text.replace(/\n$/, "") + '\n  sse-pt-platform:canaryModelVersion: "4"\n');
  expect(editStackFile(added, { canaryModelVersion: null })).toBe(text);
  expect(() => editStackFile(text, { stableModelVersion: "1\nx: y" })).toThrow(/not a plain scalar/);
  expect(() => editStackFile("stack: x\n", { stableModelVersion: "1" })).toThrow(/no top-level `config:`/);
});
