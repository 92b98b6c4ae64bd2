import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { BucketNames, S3Access } from "../contracts";
import { S3_SECRET_NAME, s3Environment } from "../platform/s3Credentials";

/** The `s3-credentials` Secret of one namespace: endpoint, keys and bucket names, all as a Pulumi secret. */
export function s3Secret(
  name: string,
  args: { namespace: pulumi.Input<string>; s3: S3Access; buckets: BucketNames },
  opts: pulumi.CustomResourceOptions,
): k8s.core.v1.Secret {
  return new k8s.core.v1.Secret(
    name,
    {
      metadata: { name: S3_SECRET_NAME, namespace: args.namespace },
      type: "Opaque",
      stringData: pulumi.secret(pulumi.output(s3Environment(args.s3, args.buckets))),
    },
    opts,
  );
}
