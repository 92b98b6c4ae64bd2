import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { BucketNames, NAMESPACES, S3Access, ServiceRef } from "../contracts";
import { chartRelease, Values } from "./helmRelease";
import { namespacePolicies, platformNamespace } from "./namespace";
import {
  DASHBOARD_SERVICE,
  dashboardService,
  RAY_CLUSTER_NAME,
  RAY_LABELS,
  RAY_PORTS,
  rayCluster,
  rayPodMonitor,
  RaySizing,
} from "./rayCluster";
import { rayPolicies } from "./rayPolicies";
import { ClusterEndpoints } from "./trafficRules";
import { RAY_API_VERSION } from "./rayTypes";
import { s3CredentialsSecret } from "./s3Credentials";

export const KUBERAY_CHART_DIR = "kuberay-operator";

export interface RayArgs {
  provider: k8s.Provider;
  /** Picks the chart's `values-<environment>.yaml`. */
  environment: string;
  /** The image of every Ray node (config trainerImage). */
  image: string;
  /** Head and worker group sizes. */
  ray: RaySizing;
  /** Endpoint and keys for the namespace's s3-credentials Secret (checkpoints). */
  s3: S3Access;
  buckets: BucketNames;
  /** The object store and the node subnet, for the namespace's egress policies. */
  endpoints: ClusterEndpoints;
  /** Declare the PodMonitor and the operator's ServiceMonitor: the estate runs Prometheus. */
  monitoring: boolean;
  /** MLflow's in-cluster URL (`Mlflow.trackingUri`). */
  mlflowTrackingUri: pulumi.Input<string>;
  /**
   * Grafana and Prometheus as the Ray dashboard's backend reaches them (`Monitoring.grafanaInternalUrl`,
   * `Monitoring.prometheusUrl`); left out without monitoring, the dashboard then shows no charts.
   */
  grafanaHost?: pulumi.Input<string>;
  prometheusHost?: pulumi.Input<string>;
  /** Grafana as a browser reaches it, for the dashboard's embedded panels; optional. */
  grafanaIframeHost?: pulumi.Input<string>;
  /** Whether the estate has GPU nodes; the GPU worker group exists only then. */
  gpu: boolean;
  /**
   * What installs the monitoring.coreos.com CRDs (`Monitoring.crdRelease`): the PodMonitor and the
   * operator chart's ServiceMonitor wait for it.
   */
  monitoringCrds?: pulumi.Resource;
}

/** The KubeRay operator's values that come from config; merged over charts/kuberay-operator/values.yaml. */
export function kuberayValues(namespace: string, monitoring: boolean): Values {
  return {
    watchNamespace: [namespace],
    metrics: { enabled: true, serviceMonitor: { enabled: monitoring, namespace } },
  };
}

/**
 * KubeRay (operator chart) and the estate's RayCluster: head with dashboard and autoscaler, a CPU
 * worker group and, with GPU nodes, a GPU worker group; checkpoints go to the ray-checkpoints bucket
 * through the namespace's s3-credentials Secret. RayJobs (the pipeline's training step) run on it.
 */
export class Ray extends pulumi.ComponentResource {
  public readonly namespace: pulumi.Output<string>;
  /** The Ray dashboard, for the ingress. */
  public readonly ui: ServiceRef;
  public readonly uiBackend: { podSelector: Record<string, string>; targetPort: number };
  /** The RayCluster's name: RayJobs select it with `ray.io/cluster`. */
  public readonly clusterName: string;
  /** The dashboard (and Ray Jobs API) inside the cluster. */
  public readonly dashboardUrl: string;

  constructor(name: string, args: RayArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ssept:platform:Ray", name, {}, opts);
    const { provider } = args;
    const namespace = NAMESPACES.ray;
    const ns = platformNamespace({ name: namespace, provider, parent: this });
    const child = { parent: this, provider, dependsOn: [ns] };
    const monitoringCrds = args.monitoring && args.monitoringCrds ? [args.monitoringCrds] : [];

    const s3Secret = s3CredentialsSecret(`${name}-s3-credentials`, {
      namespace: ns.metadata.name,
      s3: args.s3,
      buckets: args.buckets,
      provider,
      parent: this,
    });

    const operator = chartRelease(`${name}-kuberay-operator`, {
      chartDir: KUBERAY_CHART_DIR,
      namespace: ns.metadata.name,
      environment: args.environment,
      computedValues: kuberayValues(namespace, args.monitoring),
      provider,
      parent: this,
      dependsOn: [ns, ...monitoringCrds],
    });

    const spec = pulumi
      .all([args.mlflowTrackingUri, args.grafanaHost, args.prometheusHost, args.grafanaIframeHost])
      .apply(([mlflowTrackingUri, grafanaHost, prometheusHost, grafanaIframeHost]) =>
        rayCluster({
          namespace,
          image: args.image,
          ray: args.ray,
          gpu: args.gpu,
          mlflowTrackingUri,
          grafanaHost,
          prometheusHost,
          grafanaIframeHost,
        }),
      );
    // The operator's CRDs must exist before the RayCluster; the Secret before its pods start.
    new k8s.apiextensions.CustomResource(
      `${name}-cluster`,
      { apiVersion: RAY_API_VERSION, kind: "RayCluster", metadata: spec.metadata, spec: spec.spec },
      { ...child, dependsOn: [ns, operator, s3Secret] },
    );
    new k8s.core.v1.Service(`${name}-dashboard`, dashboardService(namespace), child);

    namespacePolicies(name, namespace, rayPolicies(args.endpoints), child);

    if (args.monitoring) {
      new k8s.apiextensions.CustomResource(
        `${name}-pod-monitor`,
        { apiVersion: "monitoring.coreos.com/v1", kind: "PodMonitor", ...rayPodMonitor(namespace) },
        { ...child, dependsOn: [ns, ...monitoringCrds] },
      );
    }

    this.namespace = ns.metadata.name;
    this.clusterName = RAY_CLUSTER_NAME;
    this.ui = { namespace, name: DASHBOARD_SERVICE.name, port: DASHBOARD_SERVICE.port };
    this.uiBackend = { podSelector: { ...RAY_LABELS.head }, targetPort: RAY_PORTS.dashboard };
    this.dashboardUrl = `http://${DASHBOARD_SERVICE.name}.${namespace}.svc.cluster.local:${DASHBOARD_SERVICE.port}`;
    this.registerOutputs({
      namespace: this.namespace,
      clusterName: this.clusterName,
      dashboardUrl: this.dashboardUrl,
      operator: operator.name,
    });
  }
}
