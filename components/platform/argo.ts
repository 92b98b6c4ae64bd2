import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { trainingPipeline, WORKFLOW_TEMPLATE_NAME } from "./argoPipeline";
import { ingestCronWorkflow } from "./argoCron";
import { argoPolicies, pipelinePolicies, WORKFLOW_RULES } from "./argoPolicies";
import { ARGO_CONTROLLER_RULES, ARGO_SERVER_RULES, ARGO_SERVICE_ACCOUNTS } from "./argoRbac";
import {
  ARGO_CHART_DIR,
  ARGO_POD_LABELS,
  ARGO_SERVER,
  argoChartValues,
  WORKFLOW_SERVICE_ACCOUNT,
} from "./argoValues";
import { BucketNames, NAMESPACES, S3Access, ServiceRef } from "../contracts";
import { chartRelease } from "./helmRelease";
import { namespacePolicies, platformNamespace } from "./namespace";
import { RAY_CLUSTER_NAME } from "./rayCluster";
import { s3CredentialsSecret } from "./s3Credentials";
import { ClusterEndpoints } from "./trafficRules";

export interface ArgoArgs {
  provider: k8s.Provider;
  /** Picks the chart's `values-<environment>.yaml`. */
  environment: string;
  /** The image of the pipeline's steps (config trainerImage). */
  image: string;
  /** Endpoint and keys for the pipeline namespace's s3-credentials Secret. */
  s3: S3Access;
  buckets: BucketNames;
  /** The object store and the node subnet, for the namespace's egress policies. */
  endpoints: ClusterEndpoints;
  /** The chart renders its ServiceMonitor: the estate runs Prometheus. */
  monitoring: boolean;
  /** MLflow's in-cluster URL (`Mlflow.trackingUri`), for the register and evaluate steps. */
  mlflowTrackingUri: pulumi.Input<string>;
  /** The namespace of the RayCluster (`Ray.namespace`), where the train step creates its RayJob. */
  rayNamespace: pulumi.Input<string>;
  /** The RayCluster the train step submits to (`Ray.clusterName`). */
  rayClusterName?: string;
  /** Whether the estate has GPU nodes: the default of the pipeline's gpusPerWorker (1 or 0). */
  gpu?: boolean;
  /** What installs the ServiceMonitor CRD (`Monitoring.crdRelease`), which the chart renders with monitoring on. */
  monitoringCrds?: pulumi.Resource;
}

/**
 * Argo Workflows (controller and server, auth mode `server` behind the ingress's basic auth) and
 * the training pipeline: a WorkflowTemplate in the pipeline namespace, run by a service account that
 * may only report its steps, read pods and logs, and create RayJobs in the ray namespace.
 *
 * Argo is namespaced: the release, the controller and the server live in the pipeline namespace,
 * run with `--namespaced`, and hold Roles there only (`argoRbac.ts`), no ClusterRole; so a UI login
 * can neither read Secrets across the cluster nor create workflows in another namespace.
 */
export class Argo extends pulumi.ComponentResource {
  /** Where Argo and its workflows run: the pipeline namespace. */
  public readonly namespace: pulumi.Output<string>;
  /** Where workflows run (the same namespace as Argo's). */
  public readonly pipelineNamespace: pulumi.Output<string>;
  /** The Argo UI and API, for the ingress. */
  public readonly ui: ServiceRef;
  public readonly uiBackend: { podSelector: Record<string, string>; targetPort: number };
  public readonly workflowTemplateName: string;
  public readonly serviceAccountName: string;

  constructor(name: string, args: ArgoArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ssept:platform:Argo", name, {}, opts);
    const { provider } = args;
    const pipelineNs = platformNamespace({ name: NAMESPACES.pipeline, provider, parent: this });
    const pipeline = NAMESPACES.pipeline;
    const inPipeline = { parent: this, provider, dependsOn: [pipelineNs] };

    const s3Secret = s3CredentialsSecret(`${name}-s3-credentials`, {
      namespace: pipelineNs.metadata.name,
      s3: args.s3,
      buckets: args.buckets,
      provider,
      parent: this,
    });

    const account = new k8s.core.v1.ServiceAccount(
      `${name}-workflow-sa`,
      {
        metadata: { name: WORKFLOW_SERVICE_ACCOUNT, namespace: pipeline },
        automountServiceAccountToken: true,
      },
      inPipeline,
    );
    const grant = (
      role: string,
      account: string,
      namespace: pulumi.Input<string>,
      rules: k8s.types.input.rbac.v1.PolicyRule[],
      dependsOn: pulumi.Resource[],
    ) => {
      const r = new k8s.rbac.v1.Role(
        `${name}-${role}-role`,
        { metadata: { name: account, namespace }, rules },
        { parent: this, provider, dependsOn },
      );
      return new k8s.rbac.v1.RoleBinding(
        `${name}-${role}-binding`,
        {
          metadata: { name: account, namespace },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: account },
          subjects: [{ kind: "ServiceAccount", name: account, namespace: pipeline }],
        },
        { parent: this, provider, dependsOn: [...dependsOn, r] },
      );
    };
    const pipelineGrant = grant("pipeline", WORKFLOW_SERVICE_ACCOUNT, pipeline, WORKFLOW_RULES.pipeline, [
      pipelineNs,
    ]);
    const rayGrant = grant("rayjobs", WORKFLOW_SERVICE_ACCOUNT, args.rayNamespace, WORKFLOW_RULES.ray, []);
    // The chart creates the controller's and the server's accounts; their Roles come first, so
    // that neither starts without its permissions.
    const argoGrants = [
      grant("controller", ARGO_SERVICE_ACCOUNTS.controller, pipeline, ARGO_CONTROLLER_RULES, [pipelineNs]),
      grant("server", ARGO_SERVICE_ACCOUNTS.server, pipeline, ARGO_SERVER_RULES, [pipelineNs]),
    ];

    const release = chartRelease(`${name}-workflows`, {
      chartDir: ARGO_CHART_DIR,
      namespace: pipelineNs.metadata.name,
      environment: args.environment,
      computedValues: argoChartValues(args.monitoring),
      provider,
      parent: this,
      dependsOn: [
        pipelineNs,
        ...argoGrants,
        ...(args.monitoring && args.monitoringCrds ? [args.monitoringCrds] : []),
      ],
    });

    const template = pulumi
      .all([args.mlflowTrackingUri, args.rayNamespace])
      .apply(([mlflowTrackingUri, rayNamespace]) =>
        trainingPipeline({
          pipelineNamespace: pipeline,
          serviceAccount: WORKFLOW_SERVICE_ACCOUNT,
          image: args.image,
          mlflowTrackingUri,
          rayNamespace,
          rayClusterName: args.rayClusterName ?? RAY_CLUSTER_NAME,
          gpu: args.gpu ?? false,
        }),
      );
    // The CRD comes with the chart; the steps need their account, its grants and the S3 Secret.
    new k8s.apiextensions.CustomResource(
      `${name}-training-pipeline`,
      {
        apiVersion: "argoproj.io/v1alpha1",
        kind: "WorkflowTemplate",
        metadata: template.metadata,
        spec: template.spec,
      },
      { parent: this, provider, dependsOn: [release, account, pipelineGrant, rayGrant, s3Secret] },
    );
    // Training on new data: daily ingest, the pipeline only when the ingested file changed.
    const cron = pulumi.output(args.mlflowTrackingUri).apply((mlflowTrackingUri) =>
      ingestCronWorkflow({
        pipelineNamespace: pipeline,
        serviceAccount: WORKFLOW_SERVICE_ACCOUNT,
        image: args.image,
        mlflowTrackingUri,
      }),
    );
    new k8s.apiextensions.CustomResource(
      `${name}-ingest-cron`,
      { apiVersion: "argoproj.io/v1alpha1", kind: "CronWorkflow", metadata: cron.metadata, spec: cron.spec },
      { parent: this, provider, dependsOn: [release, account, pipelineGrant, s3Secret] },
    );

    namespacePolicies(
      name,
      pipeline,
      [...argoPolicies(args.endpoints.nodeCidr), ...pipelinePolicies(args.endpoints)],
      inPipeline,
    );

    this.namespace = pipelineNs.metadata.name;
    this.pipelineNamespace = pipelineNs.metadata.name;
    this.ui = { namespace: pipeline, name: ARGO_SERVER.name, port: ARGO_SERVER.port };
    this.uiBackend = { podSelector: { ...ARGO_POD_LABELS.server }, targetPort: ARGO_SERVER.port };
    this.workflowTemplateName = WORKFLOW_TEMPLATE_NAME;
    this.serviceAccountName = WORKFLOW_SERVICE_ACCOUNT;
    this.registerOutputs({
      namespace: this.namespace,
      pipelineNamespace: this.pipelineNamespace,
      workflowTemplateName: this.workflowTemplateName,
    });
  }
}
