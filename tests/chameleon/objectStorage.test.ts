import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import {
  checkBucketName,
  containerLifecycle,
  ObjectStorage,
  ObjectStorageArgs,
} from "../../components/chameleon/objectStorage";
import { BUCKET_ROLES, BucketRole } from "../../stacks/config";
import { s3EndpointOf } from "../../components/chameleon/sites";
import { runUnderMocks } from "../harness";
import { testProvider } from "./chameleonKit";

const CONTAINER = "openstack:objectstorage/container:Container";
const EC2 = "openstack:identity/ec2CredentialV3:Ec2CredentialV3";

const BUCKETS: Record<BucketRole, string> = {
  "raw-data": "ssept-staging-raw-data",
  "processed-data": "ssept-staging-processed-data",
  features: "ssept-staging-features",
  models: "ssept-staging-models",
  logs: "ssept-staging-logs",
  "mlflow-artifacts": "ssept-staging-mlflow-artifacts",
  "ray-checkpoints": "ssept-staging-ray-checkpoints",
};

/** Builds the component under mocks, recording the resource options each child was created with. */
async function build(extra: Partial<ObjectStorageArgs> = {}) {
  const options = new Map<string, pulumi.CustomResourceOptions>();
  const run = await runUnderMocks(() => {
    pulumi.runtime.registerStackTransformation((t) => {
      options.set(t.name, t.opts);
      return undefined;
    });
    const storage = new ObjectStorage("ssept-objects", {
      provider: testProvider("chi-tacc"),
      buckets: BUCKETS,
      endpoint: s3EndpointOf("chi-tacc"),
      ...extra,
    });
    return {
      endpoint: pulumi.output(storage.s3.endpoint),
      accessKey: pulumi.output(storage.s3.accessKey),
      secretKey: pulumi.output(storage.s3.secretKey),
      bucketNames: pulumi.output(storage.bucketNames),
    };
  });
  return { ...run, options };
}

describe("ObjectStorage", () => {
  let run: Awaited<ReturnType<typeof build>>;
  beforeAll(async () => {
    run = await build();
  });

  test("one Swift container per bucket role, named as config names it", () => {
    const containers = run.resources.filter((r) => r.type === CONTAINER);
    expect(containers.map((c) => [c.name, c.inputs.name])).toEqual([
      ["ssept-objects-raw-data", "ssept-staging-raw-data"],
      ["ssept-objects-processed-data", "ssept-staging-processed-data"],
      ["ssept-objects-features", "ssept-staging-features"],
      ["ssept-objects-models", "ssept-staging-models"],
      ["ssept-objects-logs", "ssept-staging-logs"],
      ["ssept-objects-mlflow-artifacts", "ssept-staging-mlflow-artifacts"],
      ["ssept-objects-ray-checkpoints", "ssept-staging-ray-checkpoints"],
    ]);
  });

  test("every OpenStack resource has the object-store site's provider and the component as parent", () => {
    const component = run.resources.find((r) => r.type === "ssept:chameleon:ObjectStorage")!;
    const provider = run.resources.find((r) => r.type === "pulumi:providers:openstack")!;
    const children = run.resources.filter((r) => r.type.startsWith("openstack:"));
    expect(children.map((c) => c.type).sort()).toEqual([...Array(7).fill(CONTAINER), EC2].sort());
    for (const c of children) {
      expect([c.name, c.provider, c.parent]).toEqual([c.name, provider.urn, component.urn]);
    }
  });

  test("buckets survive pulumi destroy by default: retained, never force-emptied", () => {
    for (const role of BUCKET_ROLES) {
      const name = `ssept-objects-${role}`;
      expect(run.resources.find((r) => r.name === name)?.inputs.forceDestroy).toBe(false);
      expect(run.options.get(name)?.retainOnDelete).toBe(true);
    }
  });

  test("the EC2 credential asks for no project or user, which only cloud admins may set", () => {
    const ec2 = run.resources.filter((r) => r.type === EC2);
    expect(ec2.map((r) => [r.name, r.inputs])).toEqual([["ssept-objects-ec2", {}]]);
  });

  test("S3 access: the endpoint in clear, both keys as secrets from the EC2 credential", () => {
    expect(run.outputs.endpoint).toEqual({
      value: "https://chi.tacc.chameleoncloud.org:7480",
      secret: false,
    });
    expect(run.outputs.accessKey.secret).toBe(true);
    expect(run.outputs.secretKey.secret).toBe(true);
    expect(run.outputs.accessKey.value).toMatch(/^mockaccess[0-9a-f]{22}$/);
    expect(run.outputs.secretKey.value).toMatch(/^mocksecret[0-9a-f]{32}$/);
    expect(run.secretValues).toContain(run.outputs.secretKey.value);
    expect(run.outputs.bucketNames).toEqual({ value: BUCKETS, secret: false });
  });
});

describe("ObjectStorage for a throwaway stack", () => {
  test("protectBuckets false empties and deletes the containers on destroy", async () => {
    const run = await build({ protectBuckets: false });
    for (const role of BUCKET_ROLES) {
      const name = `ssept-objects-${role}`;
      expect(run.resources.find((r) => r.name === name)?.inputs.forceDestroy).toBe(true);
      expect(run.options.get(name)?.retainOnDelete).toBeFalsy();
    }
  });
});

describe("container lifecycle and names", () => {
  test("protected: retained and never force-emptied; unprotected: force-emptied and deleted", () => {
    expect(containerLifecycle(true)).toEqual({ forceDestroy: false, retainOnDelete: true });
    expect(containerLifecycle(false)).toEqual({ forceDestroy: true, retainOnDelete: false });
  });

  test.each([
    ["ab", "3 to 63 characters"],
    ["a".repeat(64), "3 to 63 characters"],
    ["Ssept-raw", "only a-z, 0-9"],
    ["ssept_raw", "only a-z, 0-9"],
    ["-ssept-raw", "only a-z, 0-9"],
    ["ssept..raw", "no '..'"],
    ["ssept.-raw", "no '..', '.-' or '-.'"],
    ["192.168.5.4", "not an IP address"],
  ])("bucket name %j is refused (%s)", (bucket, message) => {
    expect(() => checkBucketName("raw-data", bucket)).toThrow(message);
    expect(() => checkBucketName("raw-data", bucket)).toThrow(
      `bucket for raw-data = ${JSON.stringify(bucket)}`,
    );
  });

  test("names S3 accepts pass", () => {
    for (const ok of ["abc", "ssept-production-mlflow-artifacts", "a.b-c.d", "0ssept9"]) {
      expect(() => checkBucketName("models", ok)).not.toThrow();
    }
  });

  test.each([
    [{ buckets: { ...BUCKETS, logs: "Logs" } }, 'bucket for logs = "Logs"'],
    [{ endpoint: "chi.tacc.chameleoncloud.org:7480" }, "expected an http(s) URL"],
    [{ endpoint: "https://chi.tacc.chameleoncloud.org:7480/swift/v1" }, "with no path"],
  ])("the component refuses %j before it registers anything", (change, message) => {
    const args: ObjectStorageArgs = {
      provider: {} as openstack.Provider,
      buckets: BUCKETS,
      endpoint: s3EndpointOf("chi-tacc"),
      ...change,
    };
    expect(() => new ObjectStorage("bad", args)).toThrow(message);
  });
});
