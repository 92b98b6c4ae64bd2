import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { BUCKET_ROLES, BucketNames, BucketRole, S3Access } from "../contracts";

export const S3_SECRET_NAME = "s3-credentials";

/** `raw-data` → `BUCKET_RAW_DATA`: the variable a pod reads a bucket name from. */
export function bucketEnvName(role: BucketRole): string {
  return `BUCKET_${role.toUpperCase().replace(/-/g, "_")}`;
}

/**
 * The environment every S3 client in the estate gets: endpoint, keys, bucket names, and the two
 * checksum settings Ceph RGW needs with recent AWS SDKs (they reject its responses otherwise).
 */
export function s3Environment(s3: S3Access, buckets: BucketNames): Record<string, pulumi.Input<string>> {
  return {
    S3_ENDPOINT_URL: s3.endpoint,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    MLFLOW_S3_ENDPOINT_URL: s3.endpoint,
    AWS_ACCESS_KEY_ID: s3.accessKey,
    AWS_SECRET_ACCESS_KEY: s3.secretKey,
    AWS_DEFAULT_REGION: "us-east-1",
    AWS_REQUEST_CHECKSUM_CALCULATION: "WHEN_REQUIRED",
    AWS_RESPONSE_CHECKSUM_VALIDATION: "WHEN_REQUIRED",
    ...Object.fromEntries(BUCKET_ROLES.map((role) => [bucketEnvName(role), buckets[role]])),
  };
}

export interface S3CredentialsSecretArgs {
  namespace: pulumi.Input<string>;
  s3: S3Access;
  buckets: BucketNames;
  provider: k8s.Provider;
  parent: pulumi.Resource;
}

/** The Secret a namespace's pods read with `envFrom: [{secretRef: {name: "s3-credentials"}}]`. */
export function s3CredentialsSecret(name: string, args: S3CredentialsSecretArgs): k8s.core.v1.Secret {
  return new k8s.core.v1.Secret(
    name,
    {
      metadata: { name: S3_SECRET_NAME, namespace: args.namespace },
      type: "Opaque",
      stringData: pulumi.secret(pulumi.output(s3Environment(args.s3, args.buckets))),
    },
    { parent: args.parent, provider: args.provider },
  );
}
