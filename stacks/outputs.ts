import * as pulumi from "@pulumi/pulumi";

/**
 * The outputs contract: every stack output CI and people may read, with its type and secrecy.
 * `provider` says which part of the estate fills it; an output whose provider is not built yet is
 * listed (so readers know it is coming) but not exported. CI reads outputs with
 * `pulumi stack output --json` (add `--show-secrets` for secret ones).
 */
export type OutputType = "string" | "number" | "string[]" | "object";

export interface OutputSpec {
  type: OutputType;
  secret: boolean;
  description: string;
  /** The component that provides the value. */
  provider: string;
  /** For a UI or API: how a person logs in. */
  login?: string;
}

export const OUTPUTS = {
  environment: { type: "string", secret: false, description: "staging or production", provider: "config" },
  clusterMode: { type: "string", secret: false, description: "chameleon or existing", provider: "config" },
  kubeconfig: {
    type: "string",
    secret: true,
    description: "Kubeconfig of the cluster (server rewritten to the floating IP in chameleon mode)",
    provider: "cluster",
  },
  ingressIp: {
    type: "string",
    secret: false,
    description: "Floating IP of the ingress/bastion node",
    provider: "network",
  },
  sporadicIp: {
    type: "string",
    secret: false,
    description: "The optional second floating IP",
    provider: "network",
  },
  grafanaUrl: {
    type: "string",
    secret: false,
    description: "Grafana UI",
    provider: "monitoring",
    login:
      "Grafana's own login: user admin, password in output uiCredentials (grafana); anonymous access off",
  },
  mlflowUrl: {
    type: "string",
    secret: false,
    description: "MLflow UI and tracking API",
    provider: "mlflow",
    login: "HTTP basic auth at the ingress (MLflow has no login of its own): uiCredentials (basicAuth)",
  },
  rayDashboardUrl: {
    type: "string",
    secret: false,
    description: "Ray dashboard",
    provider: "ray",
    login:
      "HTTP basic auth at the ingress (the dashboard has no login of its own): uiCredentials (basicAuth)",
  },
  argoUrl: {
    type: "string",
    secret: false,
    description: "Argo Workflows UI",
    provider: "argo",
    login: "HTTP basic auth at the ingress: uiCredentials (basicAuth)",
  },
  gatewayUrl: {
    type: "string",
    secret: false,
    description: "Inference gateway (recommendations API)",
    provider: "serving",
    login: "Public API, no login",
  },
  s3Endpoint: {
    type: "string",
    secret: false,
    description: "S3 API endpoint (Ceph RGW)",
    provider: "objectStorage",
  },
  s3AccessKey: {
    type: "string",
    secret: true,
    description: "S3 access key (EC2 credential)",
    provider: "objectStorage",
  },
  s3SecretKey: {
    type: "string",
    secret: true,
    description: "S3 secret key (EC2 credential)",
    provider: "objectStorage",
  },
  buckets: {
    type: "object",
    secret: false,
    description:
      "Bucket name per role: raw-data, processed-data, features, models, logs, mlflow-artifacts, ray-checkpoints",
    provider: "config",
  },
  gpuLeases: {
    type: "object",
    secret: false,
    description: "GPU reservations: [{window, leaseId, reservationId, start, end, status}]",
    provider: "leases",
  },
  vmLease: {
    type: "object",
    secret: false,
    description: "The VM flavor reservation: {leaseId, reservationIds, start, end, status}",
    provider: "leases",
  },
  uiCredentials: {
    type: "object",
    secret: true,
    description: "Logins of the UIs: Grafana admin and the basic-auth user in front of MLflow, Ray and Argo",
    provider: "ingress",
  },
  modelVersions: {
    type: "object",
    secret: false,
    description: "Model version per serving track: {stable, canary}",
    provider: "serving",
  },
} as const satisfies Record<string, OutputSpec>;

export type OutputName = keyof typeof OUTPUTS;
export type StackOutputs = Partial<Record<OutputName, pulumi.Input<unknown>>>;

/**
 * Checks the estate's outputs against the contract and marks the secret ones secret, so that a
 * component forgetting `pulumi.secret` cannot leak a key into plain stack outputs.
 */
export function exportOutputs(values: StackOutputs): Record<string, pulumi.Output<unknown>> {
  const result: Record<string, pulumi.Output<unknown>> = {};
  for (const [name, value] of Object.entries(values)) {
    const spec = (OUTPUTS as Record<string, OutputSpec>)[name];
    if (!spec) throw new Error(`stack output ${name} is not in the outputs contract (stacks/outputs.ts)`);
    if (value === undefined) continue;
    result[name] = spec.secret ? pulumi.secret(value) : pulumi.output(value);
  }
  return result;
}
