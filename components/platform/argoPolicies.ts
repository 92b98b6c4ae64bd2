import * as k8s from "@pulumi/kubernetes";
import { ARGO_CONTROLLER_METRICS_PORT, ARGO_POD_LABELS, ARGO_SERVER } from "./argoValues";
import { mlflowServerEgressRule } from "./mlflowPolicies";
import {
  apiServerEgressRule,
  ClusterEndpoints,
  ingressControllerPeer,
  PolicyDraft,
  prometheusPeer,
  s3EgressRule,
  tcp,
} from "./trafficRules";

type PolicyRule = k8s.types.input.rbac.v1.PolicyRule;

/**
 * What the workflow service account may do, per namespace:
 * - pipeline: report step results (the executor's WorkflowTaskResults), read pods and logs, and
 *   start and watch workflows (the ingest CronWorkflow starts the training pipeline);
 * - ray: create RayJobs and watch them until they finish (the train step). Nothing else in ray.
 */
export const WORKFLOW_RULES: { pipeline: PolicyRule[]; ray: PolicyRule[] } = {
  pipeline: [
    { apiGroups: ["argoproj.io"], resources: ["workflowtaskresults"], verbs: ["create", "patch"] },
    { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
    { apiGroups: [""], resources: ["pods/log"], verbs: ["get", "list", "watch"] },
    { apiGroups: ["argoproj.io"], resources: ["workflows"], verbs: ["create", "get", "list", "watch"] },
  ],
  ray: [{ apiGroups: ["ray.io"], resources: ["rayjobs"], verbs: ["create", "get", "list", "watch"] }],
};

/** The pipeline step that downloads datasets from their upstream sites. */
export const DOWNLOADING_STEP_LABELS = { "app.kubernetes.io/component": "ingest" } as const;

/**
 * The flows of Argo's controller and server, which run in the pipeline namespace beside the steps:
 * the server from the ingress controller, the controller's metrics from Prometheus, both to the
 * API server.
 */
export function argoPolicies(nodeCidr: string | undefined): PolicyDraft[] {
  return [
    {
      name: "argo-server",
      spec: {
        podSelector: { matchLabels: { ...ARGO_POD_LABELS.server } },
        policyTypes: ["Ingress", "Egress"],
        ingress: [{ from: [ingressControllerPeer()], ports: tcp(ARGO_SERVER.port) }],
        egress: [apiServerEgressRule(nodeCidr)],
      },
    },
    {
      name: "argo-workflow-controller",
      spec: {
        podSelector: { matchLabels: { ...ARGO_POD_LABELS.controller } },
        policyTypes: ["Ingress", "Egress"],
        ingress: [{ from: [prometheusPeer()], ports: tcp(ARGO_CONTROLLER_METRICS_PORT) }],
        egress: [apiServerEgressRule(nodeCidr)],
      },
    },
  ];
}

/** The label the workflow controller puts on every step pod it creates. */
export const WORKFLOW_POD_LABEL = "workflows.argoproj.io/workflow";

/**
 * The flows of the workflow steps (the pods of a workflow; Argo's own pods are left to
 * `argoPolicies`): no ingress; out to MLflow, the object store and the API server (the executor
 * reports results and the train step creates its RayJob through it). The ingest step also fetches
 * datasets over HTTPS from anywhere.
 */
export function pipelinePolicies(endpoints: ClusterEndpoints): PolicyDraft[] {
  return [
    {
      name: "workflow-steps",
      spec: {
        podSelector: { matchExpressions: [{ key: WORKFLOW_POD_LABEL, operator: "Exists" }] },
        policyTypes: ["Ingress", "Egress"],
        ingress: [],
        egress: [
          mlflowServerEgressRule(),
          s3EgressRule(endpoints.s3Endpoint),
          apiServerEgressRule(endpoints.nodeCidr),
        ],
      },
    },
    {
      name: "ingest-downloads",
      spec: {
        podSelector: { matchLabels: { ...DOWNLOADING_STEP_LABELS } },
        policyTypes: ["Egress"],
        egress: [{ to: [{ ipBlock: { cidr: "0.0.0.0/0" } }], ports: tcp(443) }],
      },
    },
  ];
}
