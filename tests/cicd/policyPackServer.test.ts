import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import { REPO_ROOT } from "../harness";

// The policy pack as the Pulumi CLI runs it: `policy/index.ts` started as a process serving the
// analyzer gRPC protocol, and called the way the engine calls it (Analyze, Remediate, Configure,
// AnalyzeStack) with properties encoded as the engine encodes them, secrets included.
/* eslint-disable @typescript-eslint/no-require-imports, @typescript-eslint/no-explicit-any */
const grpc = require("@grpc/grpc-js");
const rpc = require("@pulumi/pulumi/proto/analyzer_grpc_pb");
const pb = require("@pulumi/pulumi/proto/analyzer_pb");
const { Struct } = require("google-protobuf/google/protobuf/struct_pb");

const SECRET = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270" };
const secret = (value: unknown) => ({ ...SECRET, value });

let pack: ChildProcess;
let client: any;

beforeAll(async () => {
  pack = spawn(path.join(REPO_ROOT, "node_modules", ".bin", "ts-node"), ["--transpile-only", "index.ts"], {
    cwd: path.join(REPO_ROOT, "policy"),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  pack.stderr!.on("data", (d) => (stderr += String(d)));
  const port = await new Promise<string>((resolve, reject) => {
    pack.stdout!.once("data", (d) => resolve(String(d).trim()));
    pack.once("exit", (code) => reject(new Error(`policy pack exited ${code}: ${stderr}`)));
  });
  expect(port).toMatch(/^\d+$/);
  client = new rpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}, 60_000);
afterAll(() => {
  client?.close();
  pack?.kill();
});

const call = <T>(method: string, req: unknown): Promise<T> =>
  new Promise((resolve, reject) =>
    client[method](req, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))),
  );

function resource(type: string, name: string, props: Record<string, unknown>, Msg = pb.AnalyzeRequest) {
  const r = new Msg();
  r.setType(type);
  r.setName(name);
  r.setUrn(`urn:pulumi:production::sse-pt-platform::${type}::${name}`);
  r.setProperties(Struct.fromJavaScript(props));
  r.setOptions(new pb.AnalyzerResourceOptions());
  return r;
}

const diagnostics = (res: any) =>
  // The message is the policy's description, a newline, then the violation.
  res
    .getDiagnosticsList()
    .map((d: any) => `${d.getPolicyname()}: ${d.getMessage().split("\n").pop()}`) as string[];

test("the pack describes its policies", async () => {
  const info: any = await call(
    "getAnalyzerInfo",
    new (require("google-protobuf/google/protobuf/empty_pb").Empty)(),
  );
  expect(info.getName()).toBe("ssept-platform");
  expect(
    info
      .getPoliciesList()
      .map((p: any) => p.getName())
      .sort(),
  ).toEqual([
    "gpu-pods-tolerate-gpu-taint",
    "k8s-secret-data-is-secret",
    "no-admin-ports-to-the-world",
    "pinned-images",
    "production-gateway-replicas",
  ]);
});

test("Analyze reports an SSH rule open to the world and passes a narrow one", async () => {
  const open = resource("openstack:networking/secGroupRule:SecGroupRule", "ssh", {
    direction: "ingress",
    protocol: "tcp",
    portRangeMin: 22,
    portRangeMax: 22,
    remoteIpPrefix: "0.0.0.0/0",
  });
  expect(diagnostics(await call("analyze", open))).toEqual([
    "no-admin-ports-to-the-world: ssh: opens port 22 to 0.0.0.0/0 (only adminCidrs may reach it)",
  ]);
  const narrow = resource("openstack:networking/secGroupRule:SecGroupRule", "ssh", {
    direction: "ingress",
    protocol: "tcp",
    portRangeMin: 22,
    portRangeMax: 22,
    remoteIpPrefix: "129.114.0.0/16",
  });
  expect(diagnostics(await call("analyze", narrow))).toEqual([]);
});

test("Remediate sees which Secret data arrived as Pulumi secrets, and refuses plain ones", async () => {
  const type = "kubernetes:core/v1:Secret";
  const good = resource(
    type,
    "s3",
    { stringData: { key: secret("AKIA"), secret: secret("x") } },
    pb.AnalyzeRequest,
  );
  const res: any = await call("remediate", good);
  expect(res.getRemediationsList()).toEqual([]);
  const bad = resource(
    type,
    "s3",
    { stringData: { key: secret("AKIA"), secret: "plain" } },
    pb.AnalyzeRequest,
  );
  await expect(call("remediate", bad)).rejects.toThrow(/s3: stringData.secret is not a Pulumi secret/);
});

test("AnalyzeStack applies the gateway rule only where the pack config says production", async () => {
  const gateway = resource(
    "kubernetes:apps/v1:Deployment",
    "gateway",
    {
      metadata: { name: "gateway", labels: { "app.kubernetes.io/component": "gateway" } },
      spec: { replicas: 1 },
    },
    pb.AnalyzerResource,
  );
  const stack = new pb.AnalyzeStackRequest();
  stack.setResourcesList([gateway]);
  const configure = async (environment: string) => {
    const req = new pb.ConfigureAnalyzerRequest();
    const cfg = new pb.PolicyConfig();
    cfg.setEnforcementlevel(pb.EnforcementLevel.MANDATORY);
    cfg.setProperties(Struct.fromJavaScript({ environment }));
    req.getPolicyconfigMap().set("production-gateway-replicas", cfg);
    await call("configure", req);
  };
  await configure("staging");
  expect(diagnostics(await call("analyzeStack", stack))).toEqual([]);
  await configure("production");
  expect(diagnostics(await call("analyzeStack", stack))).toEqual([
    "production-gateway-replicas: gateway: production gateway has 1 replica(s); needs at least 2",
  ]);
});
