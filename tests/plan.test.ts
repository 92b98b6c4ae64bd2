import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { parseArgs, UsageError, writePlan } from "../tools/plan";
import { PLAN_CLOCK, REPO_ROOT, StackFileError } from "./harness";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ssept-plan-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Values planted as secrets: none may appear in any file the plan writes. */
const PLANTED = {
  kvmTaccCredentialSecret: "PLANTED-kvm-credential-7f3a9c",
  chiTaccCredentialSecret: "PLANTED-tacc-credential-1b2c3d",
  chiUcCredentialSecret: "PLANTED-uc-credential-4e5f6a",
  sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY----- PLANTED-ssh-key-99aa88",
  existingKubeconfig: "PLANTED-kubeconfig-contents-0011",
  existingS3AccessKey: "PLANTED-s3-access-2233",
  existingS3SecretKey: "PLANTED-s3-secret-4455",
};

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(full) : [full];
  });
}

describe.each(["staging", "production"])("npm run plan -- %s", (stack) => {
  const out = path.join(tmp, stack);

  beforeAll(async () => {
    await writePlan({ stack, out, now: PLAN_CLOCK }, { secrets: PLANTED });
  });

  test("writes resources.json, manifests/, plan.md and diagram.mmd", () => {
    const resources = JSON.parse(fs.readFileSync(path.join(out, "resources.json"), "utf8"));
    expect(resources.length).toBeGreaterThan(3);
    expect(resources[0]).toEqual(
      expect.objectContaining({
        urn: expect.any(String),
        type: expect.any(String),
        inputs: expect.any(Object),
      }),
    );
    expect(fs.statSync(path.join(out, "manifests")).isDirectory()).toBe(true);
    for (const f of fs.readdirSync(path.join(out, "manifests"))) {
      expect(yaml.loadAll(fs.readFileSync(path.join(out, "manifests", f), "utf8")).length).toBeGreaterThan(0);
    }
    const plan = fs.readFileSync(path.join(out, "plan.md"), "utf8");
    for (const heading of [
      "Where to reach it",
      "Resources per component",
      "Network exposure",
      "Reservations",
      "Secrets (names only)",
      "Outputs contract",
    ]) {
      expect(plan).toContain(`## ${heading}`);
    }
    expect(fs.readFileSync(path.join(out, "diagram.mmd"), "utf8")).toMatch(/^flowchart LR\n/);
  });

  test("no planted secret appears in any file", () => {
    const files = filesUnder(out);
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const file of files) {
      const text = fs.readFileSync(file, "utf8");
      for (const value of Object.values(PLANTED)) {
        expect({ file, leaks: text.includes(value) || text.includes("PLANTED") }).toEqual({
          file,
          leaks: false,
        });
      }
    }
  });

  test("secrets are listed by name: those this stack needs, not every secret key", () => {
    const plan = fs.readFileSync(path.join(out, "plan.md"), "utf8");
    const config = [...plan.matchAll(/\| config \(--secret\) \| (\w+) \|/g)].map((m) => m[1]).sort();
    const needed = ["chiTaccCredentialSecret", "kvmTaccCredentialSecret", "sshPrivateKey"];
    expect(config).toEqual(stack === "production" ? [...needed, "chiUcCredentialSecret"].sort() : needed);
    expect(plan).toMatch(/\| stack output \| kubeconfig \|/);
  });

  test("says which credential ids are still the committed placeholders", () => {
    const plan = fs.readFileSync(path.join(out, "plan.md"), "utf8");
    const section = plan.split("## Placeholders to fill in")[1]?.split("\n## ")[0] ?? "";
    const keys = [...section.matchAll(/^- `(\w+)`$/gm)].map((m) => m[1]).sort();
    const expected = ["chiTaccCredentialId", "kvmTaccCredentialId"];
    expect(keys).toEqual(stack === "production" ? [...expected, "chiUcCredentialId"].sort() : expected);
    expect(section).toMatch(/`pulumi up` refuse them/);
  });

  test("the SU column states its basis and marks lower bounds", () => {
    const plan = fs.readFileSync(path.join(out, "plan.md"), "utf8");
    expect(plan).toMatch(
      /SU basis: a bare-metal host costs 1 SU per node-hour \(`suPerBareMetalNodeHour`, Chameleon's base rate/,
    );
    const gpuRows = plan.split("\n").filter((l) => /^\| \w+-gpu-\d{8}t\d{4} \|/.test(l));
    expect(gpuRows.length).toBeGreaterThan(0);
    for (const row of gpuRows) {
      // Bare-metal A100 hosts (production) may cost more than the base rate; KVM flavors (staging) do not.
      if (stack === "production") expect(row).toMatch(/\| ≥ \d+(\.\d+)? \|$/);
      else expect(row).not.toContain("≥");
    }
    expect(plan).toMatch(stack === "production" ? /Total: at least \*\*/ : /Total: \*\*/);
  });
});

describe("SU rates from config", () => {
  test("a stack that sets its GPU host rate gets exact estimates at that rate", async () => {
    const out = path.join(tmp, "su-rate");
    await writePlan(
      { stack: "production", out, now: PLAN_CLOCK },
      { overrides: { suPerBareMetalNodeHour: "2" } },
    );
    const plan = fs.readFileSync(path.join(out, "plan.md"), "utf8");
    const gpuRows = plan.split("\n").filter((l) => /^\| production-gpu-\d{8}t\d{4} \|/.test(l));
    // 4-hour windows, one host: 8 SU at 2 SU per node-hour, no longer a lower bound.
    expect(gpuRows).toHaveLength(6);
    for (const row of gpuRows) expect(row).toMatch(/\| 8 \|$/);
    expect(plan).toContain("(`suPerBareMetalNodeHour`, set in this stack)");
  });
});

describe("a stack file with a YAML syntax error", () => {
  test("is one line naming the file, line and column", async () => {
    const bad = path.join(tmp, "Pulumi.broken.yaml");
    fs.writeFileSync(
      bad,
      "config:\n  sse-pt-platform:environment: staging\n  sse-pt-platform:adminCidrs: [129.114.0.0/16\n",
    );
    const error = await writePlan(
      { stack: "staging", out: path.join(tmp, "broken"), now: PLAN_CLOCK },
      { stackFile: bad },
    ).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(StackFileError);
    expect(error!.message.split("\n")).toHaveLength(1);
    expect(error!.message).toMatch(/Pulumi\.broken\.yaml:\d+:\d+: YAML syntax error: /);
  });
});

describe("GPU nodes in the plan", () => {
  test("outside a window: no GPU instance, and the plan says how to see one", async () => {
    const out = path.join(tmp, "gpu-outside");
    await writePlan({ stack: "production", out, now: PLAN_CLOCK });
    const plan = fs.readFileSync(path.join(out, "plan.md"), "utf8");
    expect(plan).not.toMatch(/\| ssept-production-gpu-/);
    expect(plan).toContain("npm run plan -- production --now 2027-01-04T14:00Z");
  });

  test("inside a window: bare metal boots with the reservation as scheduler hint, KVM from the reserved flavor", async () => {
    const production = path.join(tmp, "gpu-production");
    await writePlan({ stack: "production", out: production, now: new Date("2027-01-04T15:00:00Z") });
    expect(fs.readFileSync(path.join(production, "plan.md"), "utf8")).toMatch(
      /\| ssept-production-gpu-w20270104t1400-0 \| CHI@UC \| gpu \| CC-Ubuntu24\.04-CUDA \| baremetal \| [0-9a-f-]{36} \|/,
    );
    const staging = path.join(tmp, "gpu-staging");
    await writePlan({ stack: "staging", out: staging, now: new Date("2027-01-05T15:00:00Z") });
    expect(fs.readFileSync(path.join(staging, "plan.md"), "utf8")).toMatch(
      /\| ssept-staging-gpu-w20270105t1400-0 \| KVM@TACC \| gpu \| CC-Ubuntu24\.04-CUDA \| reservation:[0-9a-f-]{36} \| - \|/,
    );
  });
});

describe("plan --diff", () => {
  test("prints added, removed and changed fields as Markdown, without secrets", async () => {
    const before = path.join(tmp, "diff-before");
    const after = path.join(tmp, "diff-after");
    await writePlan({ stack: "staging", out: before, now: PLAN_CLOCK }, { secrets: PLANTED });
    const result = await writePlan(
      { stack: "staging", out: after, now: PLAN_CLOCK, diff: before },
      {
        secrets: { ...PLANTED, kvmTaccCredentialSecret: "PLANTED-rotated-credential" },
        overrides: { gpuNodeCount: "0", chiUcCredentialId: "uc-id" },
      },
    );
    expect(result.diff).toMatch(/^### Offline plan diff/);
    expect(result.diff).toMatch(/to add, \d+ to change, \d+ to remove/);
    expect(result.diff).not.toContain("PLANTED");
    const unchanged = await writePlan(
      { stack: "staging", out: after, now: PLAN_CLOCK, diff: before },
      { secrets: PLANTED },
    );
    expect(unchanged.diff).toContain("No changes.");
  });
});

describe("bad arguments", () => {
  test.each([
    [["nosuch"], /unknown stack "nosuch": no Pulumi\.nosuch\.yaml \(stacks: production, staging\)/],
    [[], /expected one stack name/],
    [["staging", "--bogus", "1"], /unknown option --bogus/],
    [["staging", "--diff"], /--diff needs a value/],
    [["staging", "--now", "someday"], /--now someday is not a date/],
  ])("%j", (argv, message) => {
    expect(() => parseArgs(argv as string[])).toThrow(UsageError);
    expect(() => parseArgs(argv as string[])).toThrow(message);
  });

  test("the command exits non-zero with one line for an unknown stack and a missing plan dir", () => {
    const ts = require.resolve("ts-node/dist/bin.js");
    for (const [argv, message] of [
      [["nosuch"], /^plan: unknown stack "nosuch"/],
      [["staging", "--diff", path.join(tmp, "not-a-plan")], /^plan: not a plan directory/],
    ] as const) {
      const run = spawnSync(process.execPath, [ts, "--transpile-only", "tools/plan.ts", ...argv], {
        cwd: REPO_ROOT,
        encoding: "utf8",
      });
      expect(run.status).toBe(2);
      expect(run.stderr.trim().split("\n")).toHaveLength(1);
      expect(run.stderr).toMatch(message);
    }
  });
});
