import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { BucketNames, NAMESPACES, S3Access, ServiceRef } from "../contracts";
import {
  backendStoreUri,
  backupCronJob,
  MLFLOW_LABELS,
  MLFLOW_SERVER,
  mlflowServerDeployment,
  mlflowServerService,
  mlflowServiceMonitors,
  MlflowSpec,
  POSTGRES,
  POSTGRES_SECRET,
  postgresService,
  postgresStatefulSet,
  trackingUri,
} from "./mlflowManifests";
import { mlflowPolicies } from "./mlflowPolicies";
import { namespacePolicies, platformNamespace } from "./namespace";
import { s3CredentialsSecret } from "./s3Credentials";

export interface MlflowArgs {
  provider: k8s.Provider;
  /** Image, sizing, backup schedule and Postgres placement of the manifests. */
  spec: MlflowSpec;
  /** Endpoint and keys for the namespace's s3-credentials Secret. */
  s3: S3Access;
  buckets: BucketNames;
  /** The object store's URL, for the server's and the backup's egress policy. */
  s3Endpoint: string;
  /** Declare ServiceMonitors: the estate runs Prometheus (enableMonitoring). */
  monitoring: boolean;
  /** What installs the ServiceMonitor CRD (`Monitoring.crdRelease`); the monitors wait for it. */
  monitoringCrds?: pulumi.Resource;
}

/**
 * MLflow tracking server and model registry: Postgres as backend store (StatefulSet, exporter
 * sidecar, nightly dump to the logs bucket), artifacts proxied to the mlflow-artifacts bucket,
 * metrics for Prometheus, and a closed namespace that admits only its clients.
 */
export class Mlflow extends pulumi.ComponentResource {
  public readonly namespace: pulumi.Output<string>;
  /** The UI and API, for the ingress. */
  public readonly ui: ServiceRef;
  /** Labels of the server pods and their container port, for the ingress's NetworkPolicy. */
  public readonly uiBackend: { podSelector: Record<string, string>; targetPort: number };
  /** `http://mlflow.mlflow.svc.cluster.local:5000`, what every in-cluster client sets as MLFLOW_TRACKING_URI. */
  public readonly trackingUri: string;

  constructor(name: string, args: MlflowArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ssept:platform:Mlflow", name, {}, opts);
    const { provider, spec } = args;
    const namespace = NAMESPACES.mlflow;
    const ns = platformNamespace({ name: namespace, provider, parent: this });
    const child = { parent: this, provider, dependsOn: [ns] };

    // The Output orders the Secret after its namespace.
    const s3Secret = s3CredentialsSecret(`${name}-s3-credentials`, {
      namespace: ns.metadata.name,
      s3: args.s3,
      buckets: args.buckets,
      provider,
      parent: this,
    });

    const password = new random.RandomPassword(
      `${name}-postgres-password`,
      { length: 32, special: false },
      { parent: this },
    );
    const dbSecret = new k8s.core.v1.Secret(
      `${name}-postgres-secret`,
      {
        metadata: { name: POSTGRES_SECRET.name, namespace },
        type: "Opaque",
        stringData: pulumi.secret(
          password.result.apply((pw) => ({
            [POSTGRES_SECRET.usernameKey]: POSTGRES.user,
            [POSTGRES_SECRET.passwordKey]: pw,
            [POSTGRES_SECRET.databaseKey]: POSTGRES.database,
            [POSTGRES_SECRET.backendStoreUriKey]: backendStoreUri(namespace, pw),
          })),
        ),
      },
      child,
    );

    const dbService = new k8s.core.v1.Service(`${name}-postgres-service`, postgresService(namespace), child);
    const db = new k8s.apps.v1.StatefulSet(`${name}-postgres`, postgresStatefulSet(spec, namespace), {
      ...child,
      dependsOn: [ns, dbSecret, dbService],
    });
    const server = new k8s.apps.v1.Deployment(`${name}-server`, mlflowServerDeployment(spec, namespace), {
      ...child,
      dependsOn: [ns, dbSecret, s3Secret, db],
    });
    const service = new k8s.core.v1.Service(`${name}-server-service`, mlflowServerService(namespace), child);
    new k8s.batch.v1.CronJob(`${name}-postgres-backup`, backupCronJob(spec, namespace), {
      ...child,
      dependsOn: [ns, dbSecret, s3Secret],
    });

    namespacePolicies(name, namespace, mlflowPolicies(args.s3Endpoint), child);

    if (args.monitoring) {
      for (const monitor of mlflowServiceMonitors(namespace)) {
        new k8s.apiextensions.CustomResource(
          `${name}-monitor-${monitor.metadata.name}`,
          { apiVersion: "monitoring.coreos.com/v1", kind: "ServiceMonitor", ...monitor },
          { ...child, dependsOn: [ns, ...(args.monitoringCrds ? [args.monitoringCrds] : [])] },
        );
      }
    }

    this.namespace = ns.metadata.name;
    this.ui = { namespace, name: MLFLOW_SERVER.name, port: MLFLOW_SERVER.port };
    this.uiBackend = { podSelector: { ...MLFLOW_LABELS.server }, targetPort: MLFLOW_SERVER.port };
    this.trackingUri = trackingUri(namespace);
    this.registerOutputs({
      namespace: this.namespace,
      trackingUri: this.trackingUri,
      server: server.metadata.name,
      service: service.metadata.name,
    });
  }
}
