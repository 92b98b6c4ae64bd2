import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { ConfigKey, DEFAULTS, KEYS } from "../stacks/configSchema";
import { OUTPUTS } from "../stacks/outputs";
import { ALWAYS_REQUIRED, loadConfig, PROJECT } from "../stacks/config";
import { renderPulumiYaml } from "../tools/pulumiYaml";
import { BuildResult, buildStack, readStackFile, REPO_ROOT } from "./harness";

const STACKS = ["staging", "production"] as const;
const EXISTING = {
  clusterMode: "existing",
  existingS3Endpoint: "https://s3.lab.example.org",
  domain: "ml.lab.example.org",
};

const builds: Record<string, BuildResult> = {};

beforeAll(async () => {
  for (const stack of STACKS) builds[stack] = await buildStack(stack);
  builds.existing = await buildStack("staging", { overrides: EXISTING });
});

describe.each([...STACKS, "existing"])("the %s estate", (name) => {
  const build = () => builds[name];

  test("builds, with a stack at the root", () => {
    const roots = build().resources.filter((r) => !r.parent);
    expect(roots.map((r) => r.type)).toEqual(["pulumi:pulumi:Stack"]);
    expect(build().resources.length).toBeGreaterThan(2);
  });

  test("every openstack and kubernetes resource has an explicit provider", () => {
    const cloud = build().resources.filter((r) => r.custom && /^(openstack|kubernetes):/.test(r.type));
    for (const r of cloud) {
      expect({ urn: r.urn, provider: r.provider }).toEqual({
        urn: r.urn,
        provider: expect.stringMatching(/^urn:/),
      });
    }
  });

  test("explicit providers point at providers the program declared", () => {
    const declared = new Set(
      build()
        .resources.filter((r) => r.type.startsWith("pulumi:providers:"))
        .map((r) => r.urn),
    );
    for (const r of build().resources.filter((x) => x.provider)) {
      expect(declared).toContain(r.provider);
    }
  });

  test("every resource but the stack has a component parent", () => {
    const components = new Set(
      build()
        .resources.filter((r) => !r.custom && r.type !== "pulumi:pulumi:Stack")
        .map((r) => r.urn),
    );
    const stackUrn = build().resources.find((r) => r.type === "pulumi:pulumi:Stack")!.urn;
    for (const r of build().resources) {
      if (r.type === "pulumi:pulumi:Stack") continue;
      if (!r.custom) {
        expect({ urn: r.urn, parent: r.parent }).toEqual({ urn: r.urn, parent: expect.any(String) });
        continue;
      }
      expect({ urn: r.urn, parentIsComponent: components.has(r.parent!) && r.parent !== stackUrn }).toEqual({
        urn: r.urn,
        parentIsComponent: true,
      });
    }
  });

  test("components follow the ssept:<area>:<Name> type token", () => {
    for (const r of build().resources.filter((x) => !x.custom && x.type !== "pulumi:pulumi:Stack")) {
      expect(r.type).toMatch(/^ssept:(chameleon|platform|app):[A-Z][A-Za-z0-9]+$/);
    }
  });

  test("outputs are in the contract, and the secret ones are secret", () => {
    for (const [outputName, output] of Object.entries(build().outputs)) {
      const spec = OUTPUTS[outputName as keyof typeof OUTPUTS];
      expect(spec).toBeDefined();
      expect({ outputName, secret: output.secret }).toEqual({ outputName, secret: spec.secret });
    }
  });

  test("no secret value appears in a non-secret input or output", () => {
    const secrets = build().secretValues;
    expect(secrets.length).toBeGreaterThan(0);
    for (const r of build().resources) {
      const plain = JSON.stringify(stripPaths(r.inputs, r.secretPaths));
      for (const s of secrets)
        expect({ urn: r.urn, leaks: plain.includes(s) }).toEqual({ urn: r.urn, leaks: false });
    }
    for (const [outputName, output] of Object.entries(build().outputs)) {
      if (output.secret) continue;
      const text = JSON.stringify(output.value);
      for (const s of secrets)
        expect({ outputName, leaks: text.includes(s) }).toEqual({ outputName, leaks: false });
    }
  });
});

test("building twice gives identical inputs", async () => {
  // builds.production may come from the run's build cache, made by another test file's process.
  // Registration order is not compared: a dynamic provider's resource registers after its provider
  // is serialized, which is asynchronous and slower in a cold process than in a warm one.
  const again = await buildStack("production", { fresh: true });
  const view = (b: BuildResult) =>
    b.resources
      .map((r) => [r.urn, r.parent, r.provider, r.inputs])
      .sort((x, y) => String(x[0]).localeCompare(String(y[0])));
  expect(view(again)).toEqual(view(builds.production));
});

test("staging and production differ only through config: same component types", () => {
  const types = (b: BuildResult) =>
    [...new Set(b.resources.filter((r) => !r.custom).map((r) => r.type))].sort();
  expect(types(builds.staging)).toEqual(types(builds.production));
});

test("existing mode declares no OpenStack resources", () => {
  expect(
    builds.existing.resources.filter(
      (r) => r.type.startsWith("openstack:") || r.type.includes("providers:openstack"),
    ),
  ).toEqual([]);
  expect(builds.existing.outputs.kubeconfig.secret).toBe(true);
});

describe("Pulumi.yaml and the stack files", () => {
  test("Pulumi.yaml declares exactly the keys the schema knows, as generated", () => {
    const onDisk = fs.readFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), "utf8");
    expect(onDisk).toBe(renderPulumiYaml());
    const doc = yaml.load(onDisk) as {
      name: string;
      runtime: { name: string };
      config: Record<string, unknown>;
    };
    expect(doc.name).toBe(PROJECT);
    expect(doc.runtime.name).toBe("nodejs");
    const listed = [...onDisk.matchAll(/^# {3}(\w+) \(/gm)].map((m) => m[1]);
    expect([...Object.keys(doc.config), ...listed].sort()).toEqual(Object.keys(KEYS).sort());
  });

  test("declares a key without a default only if every stack must set it, and no secret", () => {
    const doc = yaml.load(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), "utf8")) as {
      config: Record<string, { default?: unknown; secret?: boolean }>;
    };
    const withoutDefault = Object.entries(doc.config).filter(([, d]) => d.default === undefined);
    expect(withoutDefault.map(([k]) => k).sort()).toEqual([...ALWAYS_REQUIRED].sort());
    expect(Object.values(doc.config).filter((d) => d.secret)).toEqual([]);
    for (const [k, d] of Object.entries(doc.config)) {
      if (d.default !== undefined)
        expect({ k, default: d.default }).toEqual({ k, default: DEFAULTS[k as ConfigKey] });
    }
  });

  test("a stack file with only the required keys and its secrets loads", () => {
    const raw: Record<string, string> = {
      [`${PROJECT}:environment`]: "staging",
      [`${PROJECT}:clusterMode`]: "existing",
      [`${PROJECT}:existingKubeconfig`]: "apiVersion: v1",
      [`${PROJECT}:existingS3Endpoint`]: "https://s3.lab.example.org",
      [`${PROJECT}:existingS3AccessKey`]: "access",
      [`${PROJECT}:existingS3SecretKey`]: "secret",
      [`${PROJECT}:domain`]: "ml.lab.example.org",
    };
    for (const k of ALWAYS_REQUIRED) raw[`${PROJECT}:${k}`] ??= "ghcr.io/example/image:1.0.0";
    expect(loadConfig(raw).cluster.mode).toBe("existing");
  });

  test.each(STACKS)("Pulumi.%s.yaml holds no secret in clear", (stack) => {
    const { config } = readStackFile(path.join(REPO_ROOT, `Pulumi.${stack}.yaml`));
    for (const [k, spec] of Object.entries(KEYS)) {
      if (spec.secret) expect(config[`${PROJECT}:${k}`]).toBeUndefined();
    }
  });
});

function stripPaths(inputs: Record<string, unknown>, paths: string[]): unknown {
  const copy = JSON.parse(JSON.stringify(inputs));
  for (const p of paths) {
    const parts = p.replace(/\[(\d+)\]/g, ".$1").split(".");
    let node = copy;
    for (const part of parts.slice(0, -1)) node = node?.[part];
    if (node) node[parts[parts.length - 1]] = "[secret]";
  }
  return copy;
}
