import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import { BUCKET_ROLES, BucketRole, S3Access } from "../contracts";

export interface ObjectStorageArgs {
  /** The provider of the object-store site (CHI@TACC or CHI@UC; KVM@TACC has no object store). */
  provider: openstack.Provider;
  buckets: Readonly<Record<BucketRole, string>>;
  /** The S3 endpoint of the site's Ceph RGW, e.g. https://chi.tacc.chameleoncloud.org:7480. */
  endpoint: string;
  /** Keep the containers and their data when the stack is destroyed. Default true. */
  protectBuckets?: boolean;
}

/** How a container is created and what `pulumi destroy` does to it. */
export interface ContainerLifecycle {
  /** Provider input: empty the container before deleting it. */
  forceDestroy: boolean;
  /** Resource option: on delete, forget the container in state and leave it, with its data, in place. */
  retainOnDelete: boolean;
}

/**
 * Protected buckets outlive the stack: `pulumi destroy` drops them from state and leaves them, and
 * even a delete that did reach Swift fails on a non-empty container. This is `retainOnDelete`
 * rather than `protect`, so that tearing an environment down between GPU windows still succeeds;
 * the next `pulumi up` creates the same names again, which Swift accepts for containers that
 * already exist, so the data is picked up where it was. Unprotected buckets (throwaway stacks) are
 * emptied and deleted.
 */
export function containerLifecycle(protectBuckets: boolean): ContainerLifecycle {
  return protectBuckets
    ? { forceDestroy: false, retainOnDelete: true }
    : { forceDestroy: true, retainOnDelete: false };
}

/** S3 bucket naming rules, which the names must satisfy since every client reads them over S3. */
export function checkBucketName(role: BucketRole, bucket: string): void {
  const problem =
    bucket.length < 3 || bucket.length > 63
      ? "3 to 63 characters"
      : !/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(bucket)
        ? "only a-z, 0-9, '.' and '-', starting and ending with a letter or digit"
        : /\.\.|\.-|-\./.test(bucket)
          ? "no '..', '.-' or '-.'"
          : /^\d+\.\d+\.\d+\.\d+$/.test(bucket)
            ? "a name that is not an IP address"
            : undefined;
  if (problem) {
    throw new Error(
      `bucket for ${role} = ${JSON.stringify(bucket)} (from bucketPrefix): expected ${problem}`,
    );
  }
}

/**
 * The estate's buckets at the object-store site, as Swift containers, and an EC2 credential that
 * reaches them over the S3 API of the same Ceph RGW.
 *
 * The EC2 credential is created with no `projectId` or `userId`: only cloud admins may set those.
 * Left out, the provider takes both from its own token, which with an application credential is
 * scoped to that credential's project, the project that owns the containers. Keystone binds an
 * EC2 credential made from an application-credential token to that application credential, so
 * when the application credential is rotated or deleted these S3 keys stop working and the
 * credential is to be replaced (`pulumi up --replace` on it).
 */
export class ObjectStorage extends pulumi.ComponentResource {
  /** Endpoint and keys; the keys are secrets, and the endpoint resolves only once every container exists. */
  public readonly s3: S3Access;
  public readonly bucketNames: Readonly<Record<BucketRole, string>>;
  public readonly containers: Readonly<Record<BucketRole, openstack.objectstorage.Container>>;

  constructor(name: string, args: ObjectStorageArgs, opts?: pulumi.ComponentResourceOptions) {
    checkEndpoint(args.endpoint);
    for (const role of BUCKET_ROLES) checkBucketName(role, args.buckets[role]);
    super("ssept:chameleon:ObjectStorage", name, {}, opts);
    const lifecycle = containerLifecycle(args.protectBuckets ?? true);

    const containers = {} as Record<BucketRole, openstack.objectstorage.Container>;
    for (const role of BUCKET_ROLES) {
      containers[role] = new openstack.objectstorage.Container(
        `${name}-${role}`,
        { name: args.buckets[role], forceDestroy: lifecycle.forceDestroy },
        { parent: this, provider: args.provider, retainOnDelete: lifecycle.retainOnDelete },
      );
    }
    const credential = new openstack.identity.Ec2CredentialV3(
      `${name}-ec2`,
      {},
      { parent: this, provider: args.provider },
    );

    // Clients given this endpoint wait for the buckets, not only for the keys.
    const ready = pulumi.all(BUCKET_ROLES.map((role) => containers[role].name));
    this.s3 = {
      endpoint: ready.apply(() => args.endpoint),
      accessKey: pulumi.secret(credential.access),
      secretKey: pulumi.secret(credential.secret),
    };
    this.bucketNames = { ...args.buckets };
    this.containers = containers;
    this.registerOutputs({ s3: this.s3, bucketNames: this.bucketNames });
  }
}

function checkEndpoint(endpoint: string): void {
  let url: URL | undefined;
  try {
    url = new URL(endpoint);
  } catch {
    url = undefined;
  }
  if (!url || !["http:", "https:"].includes(url.protocol) || url.pathname.length > 1) {
    throw new Error(
      `object store endpoint = ${JSON.stringify(endpoint)} (from objectStoreSite): expected an http(s) URL with no path, e.g. https://chi.tacc.chameleoncloud.org:7480`,
    );
  }
}
