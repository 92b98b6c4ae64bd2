/**
 * Shared setup for the Chameleon tests: an explicit OpenStack provider per site, the cluster part of
 * a committed stack's config, and the reservations the committed stacks ask Blazar for, in the
 * provider's input form and in Blazar's wire form.
 */
import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import { ReservationSpec } from "../../components/chameleon/blazar/leaseSpec";
import { ChameleonCluster } from "../../stacks/config";
import { site, SiteId } from "../../components/chameleon/sites";
import { PLAN_CLOCK, stackConfig } from "../harness";

/** The site's provider, named `provider-<site>`, with a credential that is not a real one. */
export function testProvider(id: SiteId): openstack.Provider {
  const s = site(id);
  return new openstack.Provider(`provider-${id}`, {
    authUrl: s.authUrl,
    region: s.region,
    applicationCredentialId: "cred",
    applicationCredentialSecret: pulumi.secret("not-a-real-secret"),
  });
}

/** Values for the secret keys a Chameleon cluster reads, so that tests can follow them. */
export const TEST_SECRETS = {
  kvmTaccCredentialSecret: "kvm-secret-value",
  chiTaccCredentialSecret: "chi-tacc-secret-value",
  chiUcCredentialSecret: "chi-uc-secret-value",
  sshPrivateKey: "ssh-private-key-value",
};

/** The cluster part of a committed stack's config with TEST_SECRETS and overrides, judged at `now`. */
export function stackCluster(
  stack: string,
  overrides: Record<string, string> = {},
  now = PLAN_CLOCK,
): ChameleonCluster {
  const cluster = stackConfig(stack, { ...TEST_SECRETS, ...overrides }, now).cluster;
  if (cluster.mode !== "chameleon") throw new Error("expected a chameleon cluster");
  return cluster;
}

/** Staging's VM lease: the server and the two agents, all m1.medium. */
export const STAGING_VM_RESERVATIONS: ReservationSpec[] = [
  { resourceType: "flavor:instance", flavorName: "m1.medium", amount: 1 },
  { resourceType: "flavor:instance", flavorName: "m1.medium", amount: 2 },
];

/** Production's GPU window lease: one bare-metal A100 host. */
export const A100_HOST_RESERVATION: ReservationSpec = {
  resourceType: "physical:host",
  resourceProperties: '["=","$node_type","gpu_a100_pcie"]',
  min: 1,
  max: 1,
};

/** A100_HOST_RESERVATION as Blazar's create request carries it. */
export const A100_HOST_REQUEST = {
  resource_type: "physical:host",
  min: 1,
  max: 1,
  resource_properties: '["=","$node_type","gpu_a100_pcie"]',
  hypervisor_properties: "",
};
