import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { main } from "../../tools/outputs";
import { OUTPUTS } from "../../stacks/outputs";

// `npm run outputs`: the contract joined with a stack's values, secrets masked unless asked.
const run = async (argv: string[]) => {
  let out = "";
  const code = await main(argv, (s) => (out += s));
  return { code, out };
};

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "ssept-outputs-"))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const saved = (values: Record<string, unknown>) => {
  const file = path.join(dir, "outputs.json");
  fs.writeFileSync(file, JSON.stringify(values));
  return file;
};
const values = {
  environment: "staging",
  gatewayUrl: "https://gateway.example.org",
  kubeconfig: "apiVersion: v1\nclusters: [secret-cluster-data]",
  uiCredentials: { grafana: { username: "admin", password: "hunter22hunter22" } },
};

test("from a saved `pulumi stack output --json --show-secrets`: secrets masked by default", async () => {
  const { code, out } = await run(["staging", "--from", saved(values)]);
  expect(code).toBe(0);
  expect(out).toContain(
    "gatewayUrl (string; from serving): Inference gateway (recommendations API)\n  login: Public API, no login\n  value: https://gateway.example.org",
  );
  expect(out).toContain("kubeconfig (string, secret; from cluster)");
  expect(out).not.toContain("secret-cluster-data");
  expect(out).not.toContain("hunter22");
  expect(out.match(/value: \[secret\]/g)).toHaveLength(2);
  expect(out).toContain(
    "sporadicIp (string; from network): The optional second floating IP\n  value: (not exported by this stack)",
  );
});

test("--show-secrets shows them; --json gives every contract output with its spec", async () => {
  const { out } = await run(["staging", "--from", saved(values), "--show-secrets", "--json"]);
  const doc = JSON.parse(out) as Record<string, { present: boolean; value?: unknown; secret: boolean }>;
  expect(Object.keys(doc)).toEqual(Object.keys(OUTPUTS));
  expect(doc.kubeconfig).toMatchObject({ present: true, secret: true, value: values.kubeconfig });
  expect(doc.uiCredentials.value).toEqual(values.uiCredentials);
  expect(doc.sporadicIp).toMatchObject({ present: false });
});

test("a value of the wrong type, or outside the contract, is reported and exits 1", async () => {
  const { code, out } = await run([
    "staging",
    "--from",
    saved({ ...values, gatewayUrl: 3, debugToken: "x" }),
  ]);
  expect(code).toBe(1);
  expect(out).toContain("  PROBLEM: expected string, got number");
  expect(out).toContain("Not in the contract: debugToken");
});

test("the offline build of production fills the contract with values of the declared types", async () => {
  const { code, out } = await run(["production", "--offline", "--json"]);
  expect(code).toBe(0);
  const doc = JSON.parse(out) as Record<string, { present: boolean; value?: unknown }>;
  for (const name of ["environment", "kubeconfig", "grafanaUrl", "mlflowUrl", "buckets", "uiCredentials"])
    expect({ name, present: doc[name].present }).toEqual({ name, present: true });
  expect(doc.environment.value).toBe("production");
  expect(doc.kubeconfig.value).toBe("[secret]");
}, 120_000);

test("bad usage exits 2 with the usage line", async () => {
  const err = jest.spyOn(console, "error").mockImplementation(() => undefined);
  try {
    expect((await run([])).code).toBe(2);
    expect((await run(["staging", "--bogus"])).code).toBe(2);
    expect(err.mock.calls.at(-1)?.[0]).toMatch(/unknown option --bogus\nusage: npm run outputs/);
    expect((await run(["staging", "--from", path.join(dir, "missing.json")])).code).toBe(2);
    expect((await run(["nosuchstack", "--offline"])).code).toBe(2);
    expect(err.mock.calls.at(-1)?.[0]).toMatch(/stack config file not found/);
  } finally {
    err.mockRestore();
  }
});
