import * as pulumi from "@pulumi/pulumi";
import { leaseProvider } from "../../components/chameleon/blazar/leaseProvider";
import { LeaseInputs } from "../../components/chameleon/blazar/leaseSpec";
import { FakeChameleon, startFakeChameleon } from "../fakes/chameleon";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const requireFromString = require("require-from-string") as (code: string) => { handler: () => unknown };

/**
 * The real CLI does not import leaseProvider.ts: Pulumi serializes the provider object into the
 * resource's `__provider` input and the dynamic-provider host rebuilds it from that text. This test
 * takes the same two steps and drives the rebuilt provider against the fake site, so a provider that
 * captures something unserializable, or a global that is not there, fails here rather than on Chameleon.
 */

let site: FakeChameleon;
let text: string;
let containsSecrets: boolean;

beforeAll(async () => {
  // The same call pulumi.dynamic.Resource makes.
  const serialized = await pulumi.runtime.serializeFunction(() => leaseProvider, { allowSecrets: true });
  text = serialized.text;
  containsSecrets = serialized.containsSecrets;
  site = await startFakeChameleon();
});

afterAll(async () => {
  await site.close();
});

test("the serialized provider carries no Pulumi runtime and no secrets", () => {
  expect(containsSecrets).toBe(false);
  expect(text).not.toMatch(/require\("@pulumi\/pulumi"\)/);
  expect(text).toContain("application_credential");
  expect(text.length).toBeLessThan(200_000);
});

test("the provider rebuilt from its serialized text creates, extends and deletes a lease", async () => {
  const rebuilt = requireFromString(text).handler() as pulumi.dynamic.ResourceProvider<LeaseInputs>;
  const inputs: LeaseInputs = {
    authUrl: site.authUrl,
    region: site.region,
    credentialId: "cred-ok",
    credentialSecret: "s3cret",
    name: "serialized-vm",
    start: "now",
    hours: 1,
    reservations: [{ resourceType: "flavor:instance", flavorName: "m1.small", amount: 1 }],
    waitTimeoutSeconds: 5,
    pollIntervalSeconds: 0.01,
  };

  const { id, outs } = await rebuilt.create(inputs);
  expect(outs.status).toBe("ACTIVE");
  expect(site.leases.get(id)?.name).toBe("serialized-vm");

  const { outs: extended } = await rebuilt.update!(id, outs, { ...inputs, hours: 2 });
  expect(extended.endDate).not.toBe(outs.endDate);

  await rebuilt.delete!(id, extended);
  expect(site.leases.size).toBe(0);
});
