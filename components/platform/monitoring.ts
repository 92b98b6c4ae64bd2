import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { enabledAlertRules, loadAlertRules } from "./alertRules";
import { FeatureSwitches, NAMESPACES, ServiceRef } from "../contracts";
import { grafanaDashboard, PLATFORM_DASHBOARDS } from "./dashboards";
import { chartRelease } from "./helmRelease";
import { LeaseEnd, leaseMetricsExporter } from "./leaseMetrics";
import { namespacePolicies, platformNamespace } from "./namespace";
import { monitoringNetworkPolicies } from "./monitoringNetworkPolicies";
import {
  DCGM_EXPORTER_DIR,
  dcgmExporterValues,
  GRAFANA_ADMIN_SECRET,
  KUBE_PROMETHEUS_STACK_DIR,
  kubePrometheusStackValues,
  MONITORING_SERVICES,
  PrometheusOptions,
  serviceUrl,
} from "./monitoringValues";

export interface MonitoringArgs {
  provider: k8s.Provider;
  /** Picks the charts' `values-<environment>.yaml`. */
  environment: string;
  prometheus: PrometheusOptions;
  /** The node subnet the API server is reached in (chameleon mode); undefined: any address. */
  nodeCidr?: string;
  /** The latency SLO the alert rules fire on (config inferenceP95SloMs). */
  p95SloMs: number;
  /** The estate's feature switches: a rule file that needs a feature is left out without it. */
  features: FeatureSwitches;
  /** Ends of the GPU leases, for the lease-ending alert; without them no lease exporter is deployed. */
  leaseEnds?: pulumi.Input<pulumi.Input<LeaseEnd>[]>;
  /** Deploy the DCGM exporter: the estate has GPU nodes. */
  gpu: boolean;
  /** What the DCGM exporter waits for: GpuSupport, whose `nvidia` RuntimeClass its pods use. */
  gpuDependsOn?: pulumi.Input<pulumi.Resource>[];
}

/** Where the Kubernetes API server may be: the node subnet when known (chameleon mode), anywhere otherwise. */
export function apiServerCidr(nodeCidr: string | undefined): string {
  return nodeCidr ?? "0.0.0.0/0";
}

/**
 * Prometheus, Alertmanager, Grafana, kube-state-metrics and node-exporter (kube-prometheus-stack),
 * the DCGM exporter on GPU nodes, the estate's alert rules and dashboards, and the GPU lease exporter.
 */
export class Monitoring extends pulumi.ComponentResource {
  public readonly namespace: pulumi.Output<string>;
  /** Grafana's Service, for the ingress component; resolves once the chart is installed. */
  public readonly grafana: ServiceRef;
  /** In-cluster URLs, e.g. Ray's RAY_PROMETHEUS_HOST and RAY_GRAFANA_HOST. */
  public readonly prometheusUrl: string;
  public readonly grafanaInternalUrl: string;
  public readonly alertmanagerUrl: string;
  /** Grafana's admin password (user `admin`), a secret. */
  public readonly adminPassword: pulumi.Output<string>;
  /**
   * kube-prometheus-stack, which installs the monitoring.coreos.com CRDs: every ServiceMonitor,
   * PodMonitor and PrometheusRule (and every chart that renders one) depends on it, so that a fresh
   * cluster comes up in one `pulumi up`.
   */
  public readonly crdRelease: k8s.helm.v3.Release;

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ssept:platform:Monitoring", name, {}, opts);
    const { provider } = args;
    const k8sOpts = { parent: this, provider };

    const ns = platformNamespace({ name: NAMESPACES.monitoring, provider, parent: this });
    const namespace = ns.metadata.name;

    const policies = namespacePolicies(
      name,
      namespace,
      monitoringNetworkPolicies({ apiServerCidr: apiServerCidr(args.nodeCidr) }),
      k8sOpts,
    );

    const randomProvider = new random.Provider(`${name}-random`, {}, { parent: this });
    const password = new random.RandomPassword(
      `${name}-grafana-admin-password`,
      { length: 32, special: false },
      { parent: this, provider: randomProvider },
    );
    this.adminPassword = pulumi.secret(password.result);
    const adminSecret = new k8s.core.v1.Secret(
      `${name}-grafana-admin`,
      {
        metadata: { name: GRAFANA_ADMIN_SECRET.name, namespace },
        type: "Opaque",
        stringData: {
          [GRAFANA_ADMIN_SECRET.userKey]: GRAFANA_ADMIN_SECRET.user,
          [GRAFANA_ADMIN_SECRET.passwordKey]: this.adminPassword,
        },
      },
      k8sOpts,
    );

    const stack = chartRelease(`${name}-kube-prometheus-stack`, {
      chartDir: KUBE_PROMETHEUS_STACK_DIR,
      namespace,
      environment: args.environment,
      computedValues: kubePrometheusStackValues(args.prometheus),
      provider,
      parent: this,
      // The webhook certificate jobs run as pre-install hooks and need the API server flow already open.
      dependsOn: [adminSecret, ...policies],
    });

    if (args.gpu) {
      chartRelease(`${name}-dcgm-exporter`, {
        chartDir: DCGM_EXPORTER_DIR,
        namespace,
        environment: args.environment,
        computedValues: dcgmExporterValues(),
        provider,
        parent: this,
        dependsOn: [stack, ...(args.gpuDependsOn ?? [])],
      });
    }

    const rules = enabledAlertRules(loadAlertRules({ p95SloMs: args.p95SloMs }), args.features);
    for (const rule of rules) {
      new k8s.apiextensions.CustomResource(
        `${name}-rule-${rule.manifest.metadata.name}`,
        {
          apiVersion: rule.manifest.apiVersion,
          kind: rule.manifest.kind,
          metadata: { ...rule.manifest.metadata, namespace },
          spec: rule.manifest.spec,
        },
        { ...k8sOpts, dependsOn: [stack] },
      );
    }

    for (const dashboard of PLATFORM_DASHBOARDS) {
      grafanaDashboard(`${name}-dashboard-${dashboard.uid}`, dashboard.build(), {
        namespace,
        provider,
        parent: this,
      });
    }

    if (args.leaseEnds !== undefined) {
      leaseMetricsExporter(`${name}-lease-metrics`, {
        namespace,
        leaseEnds: args.leaseEnds,
        provider,
        parent: this,
        dependsOn: [stack],
      });
    }

    this.crdRelease = stack;
    const installed = pulumi.all([namespace, stack.status]).apply(([n]) => n);
    this.namespace = namespace;
    this.grafana = {
      namespace: installed,
      name: installed.apply(() => MONITORING_SERVICES.grafana.name),
      port: MONITORING_SERVICES.grafana.port,
    };
    this.prometheusUrl = serviceUrl(NAMESPACES.monitoring, MONITORING_SERVICES.prometheus);
    this.grafanaInternalUrl = serviceUrl(NAMESPACES.monitoring, MONITORING_SERVICES.grafana);
    this.alertmanagerUrl = serviceUrl(NAMESPACES.monitoring, MONITORING_SERVICES.alertmanager);

    this.registerOutputs({
      namespace: this.namespace,
      grafana: this.grafana,
      prometheusUrl: this.prometheusUrl,
      grafanaInternalUrl: this.grafanaInternalUrl,
      alertmanagerUrl: this.alertmanagerUrl,
      adminPassword: this.adminPassword,
    });
  }
}
