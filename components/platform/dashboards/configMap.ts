import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { Dashboard } from "@grafana/grafana-foundation-sdk/dashboard";

/** The label Grafana's dashboard sidecar watches for (charts/kube-prometheus-stack/values.yaml). */
export const DASHBOARD_LABEL = { grafana_dashboard: "1" } as const;

/** ConfigMap name and data for one dashboard: `<uid>.json` holding the JSON model. */
export function dashboardConfigMapManifest(model: Dashboard): {
  name: string;
  labels: Record<string, string>;
  data: Record<string, string>;
} {
  if (!model.uid || !/^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/.test(model.uid)) {
    throw new Error(
      `dashboard "${model.title}": uid "${model.uid}" must be 1-40 characters of a-z, 0-9 and -`,
    );
  }
  return {
    name: `dashboard-${model.uid}`,
    labels: { ...DASHBOARD_LABEL, "app.kubernetes.io/part-of": "sse-pt-platform" },
    data: { [`${model.uid}.json`]: JSON.stringify(model, null, 2) },
  };
}

export interface GrafanaDashboardArgs {
  /** Any namespace: the sidecar searches them all. */
  namespace: pulumi.Input<string>;
  provider: k8s.Provider;
  parent: pulumi.Resource;
}

/** A dashboard as a ConfigMap Grafana's sidecar loads. Other components use this for their dashboards. */
export function grafanaDashboard(
  name: string,
  model: Dashboard,
  args: GrafanaDashboardArgs,
): k8s.core.v1.ConfigMap {
  const manifest = dashboardConfigMapManifest(model);
  return new k8s.core.v1.ConfigMap(
    name,
    {
      metadata: { name: manifest.name, namespace: args.namespace, labels: manifest.labels },
      data: manifest.data,
    },
    { parent: args.parent, provider: args.provider },
  );
}
