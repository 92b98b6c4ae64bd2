import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { PROJECT } from "../../stacks/config";
import { BuildResult, buildStack, readStackFile, stackConfig } from "../harness";
import {
  HostRun,
  isSecret,
  REPO_ROOT,
  runLanguageHost,
  secretParts,
  typeAndName,
  withoutSecrets,
} from "./languageHost";

/**
 * The program under the real Node language host (`@pulumi/pulumi/cmd/run`, ts-node with type
 * checking, as Pulumi.yaml asks), fed config exactly as the Pulumi CLI feeds it, against an
 * in-test gRPC resource monitor. Compared with the mock plan (tests/harness.ts) at the same clock.
 */

const STACKS = ["staging", "production"] as const;
const CHILD_TIMEOUT_MS = 240_000;

interface ProjectFile {
  name: string;
  runtime: { name: string; options?: { typescript?: boolean } };
  config: Record<string, { type: string; default?: unknown; secret?: boolean }>;
}
const project = yaml.load(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), "utf8")) as ProjectFile;

/** Value strings as the CLI turns a project default into config (`createConfigValue`). */
function cliValue(value: unknown): string {
  return typeof value === "string" || typeof value === "number" || typeof value === "boolean"
    ? String(value)
    : JSON.stringify(value);
}

/**
 * The config map and secret keys `pulumi up` would hand the program for a committed stack whose
 * user filled in their credential ids and set the secrets the stack needs.
 */
function cliConfig(stack: string): {
  config: Record<string, string>;
  secretKeys: string[];
  secrets: string[];
} {
  const { config } = readStackFile(path.join(REPO_ROOT, `Pulumi.${stack}.yaml`));
  for (const [k, decl] of Object.entries(project.config)) {
    const full = `${PROJECT}:${k}`;
    if (config[full] === undefined && decl.default !== undefined) config[full] = cliValue(decl.default);
  }
  for (const [full, value] of Object.entries(config)) {
    if (/CredentialId$/.test(full)) config[full] = value.replace(/^replace-with-your-/, "0f3c9a2e-user-");
  }
  const needed = stackConfig(stack).secretKeys;
  const secretKeys: string[] = [];
  const secrets: string[] = [];
  for (const k of needed) {
    const value = `engine-test-${stack}-${k}-${k.length * 7919}`;
    config[`${PROJECT}:${k}`] = value;
    secretKeys.push(`${PROJECT}:${k}`);
    secrets.push(value);
  }
  return { config, secretKeys, secrets };
}

const triple = (r: { type: string; name: string; parent?: string }) =>
  `${r.type}::${r.name} <- ${typeAndName(r.parent ?? "")}`;

describe.each(STACKS)("the %s stack under the real language host", (stack) => {
  let run: HostRun;
  let build: BuildResult;
  let secrets: string[];

  beforeAll(async () => {
    const cli = cliConfig(stack);
    secrets = cli.secrets;
    const now = new Date();
    run = await runLanguageHost({
      project: project.name,
      stack,
      programDir: REPO_ROOT,
      config: cli.config,
      secretKeys: cli.secretKeys,
      typescript: project.runtime.options?.typescript === true,
      timeoutMs: CHILD_TIMEOUT_MS,
    });
    build = await buildStack(stack, { now });
  }, CHILD_TIMEOUT_MS + 60_000);

  test("the program compiles, runs and exits 0 with no error logged", () => {
    const errors = run.logs.filter((l) => l.severity === "error").map((l) => l.message);
    expect({ exitCode: run.exitCode, errors, output: run.exitCode === 0 ? "" : run.output }).toEqual({
      exitCode: 0,
      errors: [],
      output: "",
    });
  });

  test("registers the same resources (type, name, parent) as the mock plan", () => {
    const real = run.registrations.map(triple).sort();
    const mocked = build.resources.map(triple).sort();
    expect(real).toEqual(mocked);
  });

  test("no request carries a secret in plain text", () => {
    const known = [...secrets, ...run.returnedSecrets].filter((s) => s.length >= 8);
    expect(known.length).toBeGreaterThan(secrets.length);
    for (const r of run.registrations) {
      const clear = JSON.stringify([withoutSecrets(r.object), r.request]);
      for (const s of known) {
        if (clear.includes(s)) throw new Error(`${r.type} ${r.name} carries a secret in plain text`);
      }
    }
    expect(run.stackOutputs).toBeDefined();
    expect(isSecret(run.stackOutputs!.kubeconfig)).toBe(true);
    const outputs = JSON.stringify(withoutSecrets(run.stackOutputs));
    for (const s of known) expect(outputs.includes(s)).toBe(false);
  });

  test("every config secret reaches a resource, wrapped as a secret", () => {
    const wrapped = JSON.stringify(run.registrations.map((r) => secretParts(r.object)));
    for (const s of secrets)
      expect({ secret: s, wrapped: wrapped.includes(s) }).toEqual({ secret: s, wrapped: true });
  });
});

describe("Pulumi.yaml's config declarations, as the CLI applies them", () => {
  const required = Object.entries(project.config)
    .filter(([, decl]) => decl.default === undefined)
    .map(([k]) => k);

  test.each(STACKS)("every declared key without a default is set in Pulumi.%s.yaml", (stack) => {
    const { config, secureKeys } = readStackFile(path.join(REPO_ROOT, `Pulumi.${stack}.yaml`));
    const missing = required.filter(
      (k) => config[`${PROJECT}:${k}`] === undefined && !secureKeys.includes(`${PROJECT}:${k}`),
    );
    const secretAside = missing.filter((k) => !project.config[k].secret);
    expect(secretAside).toEqual([]);
  });
});
