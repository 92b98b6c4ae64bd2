import * as k8s from "@pulumi/kubernetes";
import { S3_SECRET_NAME } from "./s3Credentials";

type PolicyRule = k8s.types.input.rbac.v1.PolicyRule;

/**
 * What Argo's workflow controller and server may do, as Roles in the one namespace they run in and
 * manage (the pipeline namespace; the chart starts both with `--namespaced`). The chart's own RBAC
 * is switched off (`rbac.create: false`) so that these are typed objects the tests and a preview
 * see. The rules follow the chart's namespaced Roles (argo-helm argo-workflows 1.0.18, templates
 * workflow-controller-cluster-roles.yaml and server-cluster-roles.yaml, singleNamespace on, no SSO,
 * no persistence), narrowed where the estate needs less.
 */

/** Service account names, fixed in charts/argo-workflows/values.yaml. */
export const ARGO_SERVICE_ACCOUNTS = {
  controller: "argo-workflows-workflow-controller",
  server: "argo-workflows-server",
} as const;

const ALL = ["create", "get", "list", "watch", "update", "patch", "delete"];

export const ARGO_CONTROLLER_RULES: PolicyRule[] = [
  { apiGroups: [""], resources: ["pods"], verbs: ALL },
  { apiGroups: [""], resources: ["pods/exec"], verbs: ["create"] },
  { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "watch", "list"] },
  {
    apiGroups: [""],
    resources: ["persistentvolumeclaims", "persistentvolumeclaims/finalizers"],
    verbs: ["create", "update", "delete", "get"],
  },
  {
    apiGroups: ["argoproj.io"],
    resources: [
      "workflows",
      "workflows/finalizers",
      "workflowtasksets",
      "workflowtasksets/finalizers",
      "workflowtasksets/status",
      "workflowartifactgctasks",
    ],
    verbs: ALL,
  },
  {
    apiGroups: ["argoproj.io"],
    resources: ["workflowtemplates", "workflowtemplates/finalizers"],
    verbs: ["get", "list", "watch"],
  },
  {
    apiGroups: ["argoproj.io"],
    resources: ["workflowtaskresults", "workflowtaskresults/finalizers"],
    verbs: ["list", "watch", "deletecollection"],
  },
  {
    apiGroups: ["argoproj.io"],
    resources: ["cronworkflows", "cronworkflows/finalizers"],
    verbs: ["get", "list", "watch", "update", "patch", "delete"],
  },
  { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] },
  { apiGroups: [""], resources: ["serviceaccounts"], verbs: ["get", "list"] },
  { apiGroups: ["policy"], resources: ["poddisruptionbudgets"], verbs: ["create", "get", "delete"] },
  { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
  {
    apiGroups: ["coordination.k8s.io"],
    resources: ["leases"],
    resourceNames: ["workflow-controller", "workflow-controller-lease"],
    verbs: ["get", "watch", "update", "patch", "delete"],
  },
];

/**
 * The server acts for every UI user (auth mode `server`, behind the ingress's basic auth), so this
 * Role is what a login amounts to: workflows and their templates in the pipeline namespace, their
 * pods and logs, and one Secret by name (the S3 credentials, for showing artifacts). Nothing in any
 * other namespace, and no Secret list.
 */
export const ARGO_SERVER_RULES: PolicyRule[] = [
  { apiGroups: [""], resources: ["configmaps", "events"], verbs: ["get", "watch", "list"] },
  { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "delete"] },
  { apiGroups: [""], resources: ["pods/log"], verbs: ["get", "list"] },
  { apiGroups: [""], resources: ["secrets"], resourceNames: [S3_SECRET_NAME], verbs: ["get"] },
  { apiGroups: [""], resources: ["events"], verbs: ["watch", "create", "patch"] },
  {
    apiGroups: ["argoproj.io"],
    resources: [
      "eventsources",
      "sensors",
      "workflows",
      "workfloweventbindings",
      "workflowtemplates",
      "cronworkflows",
    ],
    verbs: ALL,
  },
];
