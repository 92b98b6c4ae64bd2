import { Values } from "./helmRelease";

export const ARGO_CHART_DIR = "argo-workflows";

/** Object names fixed by `fullnameOverride: argo-workflows` in charts/argo-workflows/values.yaml. */
export const ARGO_SERVER = { name: "argo-workflows-server", port: 2746 } as const;
export const ARGO_CONTROLLER_METRICS_PORT = 9090;

/** Pod labels the chart's selector-label helper gives the server and the controller. */
export const ARGO_POD_LABELS = {
  server: { "app.kubernetes.io/name": "argo-workflows-server" },
  controller: { "app.kubernetes.io/name": "argo-workflows-workflow-controller" },
} as const;

/** The workflow service account: declared by the Argo component, with its own Roles. */
export const WORKFLOW_SERVICE_ACCOUNT = "argo-workflow";

/**
 * The part of the Argo Workflows values that comes from config; merged over values.yaml. The
 * release goes into the pipeline namespace, which `singleNamespace` makes the only one it manages.
 */
export function argoChartValues(monitoring: boolean): Values {
  return {
    controller: {
      // Workflows submitted without one run as the pipeline's least-privilege account.
      workflowDefaults: { spec: { serviceAccountName: WORKFLOW_SERVICE_ACCOUNT } },
      serviceMonitor: { enabled: monitoring },
    },
  };
}
