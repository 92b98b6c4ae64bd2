import { NAMESPACES } from "../contracts";
import { MONITORING_SERVICES } from "./monitoringValues";
import { ingressControllerPeer, K3S_API_SERVICE_CIDR, namespacePeer, PolicyDraft } from "./trafficRules";

type PolicyPort = { protocol: "TCP"; port: number | string };

/** Pod labels the charts put on each workload of the monitoring namespace. */
export const MONITORING_PODS = {
  prometheus: { "app.kubernetes.io/name": "prometheus" },
  alertmanager: { "app.kubernetes.io/name": "alertmanager" },
  grafana: { "app.kubernetes.io/name": "grafana" },
  kubeStateMetrics: { "app.kubernetes.io/name": "kube-state-metrics" },
  nodeExporter: { "app.kubernetes.io/name": "prometheus-node-exporter" },
  /** The operator and its admission-webhook certificate jobs share this name. */
  operator: { "app.kubernetes.io/name": "kube-prometheus-stack-prometheus-operator" },
} as const;

const GRAFANA_CONTAINER_PORT = 3000;
const ALERTMANAGER_MESH_PORT = 9094;
const KUBELET_PORT = 10250;
const NODE_EXPORTER_PORT = 9100;
const OPERATOR_WEBHOOK_PORT = 10250;
/** The API server listens on 6443 on the server node; pods reach it through the `kubernetes` Service on 443. */
export const API_SERVER_PORTS = [6443, 443] as const;

/**
 * Ports Prometheus may scrape in other namespaces. A workload that wants scraping names its metrics
 * container port `metrics` (or `http-metrics`), or uses one of the well-known numbers below, and
 * allows ingress from {@link prometheusPeer} in its own namespace.
 */
export const SCRAPE_PORTS: readonly (number | string)[] = [
  "metrics",
  "http-metrics",
  "http", // MLflow serves /metrics on its API port, named http
  5000, // MLflow's default port
  8002, // Triton
  8080, // Ray head and workers (metrics-export-port), KubeRay operator
  9090, // Argo workflow-controller
  9153, // CoreDNS
  9187, // postgres_exporter
  9400, // DCGM exporter
];

const tcp = (ports: readonly (number | string)[]): PolicyPort[] =>
  ports.map((port) => ({ protocol: "TCP", port }));

export interface MonitoringPolicyOptions {
  /**
   * Where the Kubernetes API server listens: the subnet of the Chameleon nodes (the k3s server is
   * one of them), or 0.0.0.0/0 when the cluster is not ours and its addresses are unknown.
   */
  apiServerCidr: string;
}

/**
 * The flows of the monitoring namespace, on top of its default deny and DNS egress. Each entry
 * becomes one NetworkPolicy.
 */
export function monitoringNetworkPolicies(options: MonitoringPolicyOptions): PolicyDraft[] {
  const pods = (labels: Record<string, string>) => ({ podSelector: { matchLabels: { ...labels } } });
  const inNamespace = namespacePeer;
  // Kubelets and node-exporters listen on node addresses; a GPU node may join from another
  // Chameleon site with an address outside the cluster subnet, so any address, on those ports only.
  const nodes = [{ ipBlock: { cidr: "0.0.0.0/0" } }];
  return [
    {
      name: "prometheus-scrape",
      spec: {
        ...pods(MONITORING_PODS.prometheus),
        policyTypes: ["Egress"],
        egress: [
          // Everything in this namespace: exporters, Alertmanager, Grafana, the operator, itself.
          { to: [{ podSelector: {} }] },
          { to: [{ namespaceSelector: {} }], ports: tcp(SCRAPE_PORTS) },
          { to: nodes, ports: tcp([KUBELET_PORT, NODE_EXPORTER_PORT]) },
        ],
      },
    },
    {
      name: "scraped-by-prometheus",
      spec: {
        podSelector: {},
        policyTypes: ["Ingress"],
        ingress: [{ from: [pods(MONITORING_PODS.prometheus)] }],
      },
    },
    {
      name: "prometheus-queries",
      spec: {
        ...pods(MONITORING_PODS.prometheus),
        policyTypes: ["Ingress"],
        ingress: [
          {
            from: [pods(MONITORING_PODS.grafana), inNamespace(NAMESPACES.ray)],
            ports: tcp([MONITORING_SERVICES.prometheus.port]),
          },
        ],
      },
    },
    {
      name: "alertmanager",
      spec: {
        ...pods(MONITORING_PODS.alertmanager),
        policyTypes: ["Ingress", "Egress"],
        ingress: [
          { from: [pods(MONITORING_PODS.grafana)], ports: tcp([MONITORING_SERVICES.alertmanager.port]) },
          { from: [pods(MONITORING_PODS.alertmanager)], ports: tcp([ALERTMANAGER_MESH_PORT]) },
        ],
        egress: [{ to: [pods(MONITORING_PODS.alertmanager)], ports: tcp([ALERTMANAGER_MESH_PORT]) }],
      },
    },
    {
      name: "grafana",
      spec: {
        ...pods(MONITORING_PODS.grafana),
        policyTypes: ["Ingress", "Egress"],
        ingress: [
          {
            from: [
              ingressControllerPeer(),
              // The Ray dashboard embeds Grafana panels and checks Grafana's health.
              inNamespace(NAMESPACES.ray),
            ],
            ports: tcp([GRAFANA_CONTAINER_PORT]),
          },
        ],
        egress: [
          { to: [pods(MONITORING_PODS.prometheus)], ports: tcp([MONITORING_SERVICES.prometheus.port]) },
          { to: [pods(MONITORING_PODS.alertmanager)], ports: tcp([MONITORING_SERVICES.alertmanager.port]) },
        ],
      },
    },
    {
      // Service discovery (Prometheus), object watches (operator, kube-state-metrics, Grafana's
      // dashboard sidecar) and the webhook certificate jobs.
      name: "api-server",
      spec: {
        podSelector: {
          matchExpressions: [
            {
              key: "app.kubernetes.io/name",
              operator: "In",
              values: [
                MONITORING_PODS.prometheus,
                MONITORING_PODS.grafana,
                MONITORING_PODS.kubeStateMetrics,
                MONITORING_PODS.nodeExporter,
                MONITORING_PODS.operator,
              ].map((labels) => labels["app.kubernetes.io/name"]),
            },
          ],
        },
        policyTypes: ["Egress"],
        egress: [
          {
            to: [{ ipBlock: { cidr: options.apiServerCidr } }, { ipBlock: { cidr: K3S_API_SERVICE_CIDR } }],
            ports: tcp(API_SERVER_PORTS),
          },
        ],
      },
    },
    {
      // The API server calls the operator's admission webhook from the host network, whose
      // source address depends on the CNI, so any source may reach the webhook port.
      name: "operator-webhook",
      spec: {
        ...pods(MONITORING_PODS.operator),
        policyTypes: ["Ingress"],
        ingress: [{ from: [{ ipBlock: { cidr: "0.0.0.0/0" } }], ports: tcp([OPERATOR_WEBHOOK_PORT]) }],
      },
    },
  ];
}
