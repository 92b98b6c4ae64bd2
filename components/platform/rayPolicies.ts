import { NAMESPACES } from "../contracts";
import { mlflowServerEgressRule } from "./mlflowPolicies";
import { MONITORING_PODS } from "./monitoringNetworkPolicies";
import { RAY_LABELS, RAY_PORTS } from "./rayCluster";
import {
  apiServerEgressRule,
  ClusterEndpoints,
  ingressControllerPeer,
  namespacedPodPeer,
  PolicyDraft,
  prometheusPeer,
  s3EgressRule,
  tcp,
} from "./trafficRules";

/** The KubeRay operator's pods, by the name its chart gives them (`nameOverride`). */
export const KUBERAY_OPERATOR_LABELS = { "app.kubernetes.io/name": "kuberay-operator" } as const;
/** Container ports behind kube-prometheus-stack's Prometheus (9090) and Grafana (Service 80, pod 3000). */
export const MONITORING_POD_PORTS = { prometheus: 9090, grafana: 3000 } as const;

/**
 * The flows of the ray namespace on top of its default deny and DNS egress:
 * - Ray pods, the operator and job submitters talk to each other freely (GCS, object transfer,
 *   worker ports, the dashboard's job API);
 * - the dashboard is reached from the ingress controller; Prometheus scrapes every pod's 8080;
 * - Ray nodes reach MLflow and the object store (checkpoints); the head queries Prometheus and
 *   Grafana for the dashboard's charts;
 * - the operator and the head's autoscaler sidecar talk to the API server.
 */
export function rayPolicies(endpoints: ClusterEndpoints): PolicyDraft[] {
  return [
    {
      name: "ray-within-namespace",
      spec: {
        podSelector: {},
        policyTypes: ["Ingress", "Egress"],
        ingress: [{ from: [{ podSelector: {} }] }],
        egress: [{ to: [{ podSelector: {} }] }],
      },
    },
    {
      name: "ray-dashboard",
      spec: {
        podSelector: { matchLabels: { ...RAY_LABELS.head } },
        policyTypes: ["Ingress"],
        ingress: [{ from: [ingressControllerPeer()], ports: tcp(RAY_PORTS.dashboard) }],
      },
    },
    {
      name: "ray-metrics",
      spec: {
        podSelector: {},
        policyTypes: ["Ingress"],
        ingress: [{ from: [prometheusPeer()], ports: tcp(RAY_PORTS.metrics) }],
      },
    },
    {
      name: "ray-nodes-egress",
      spec: {
        podSelector: { matchLabels: { ...RAY_LABELS.node } },
        policyTypes: ["Egress"],
        egress: [mlflowServerEgressRule(), s3EgressRule(endpoints.s3Endpoint)],
      },
    },
    {
      name: "ray-head-egress",
      spec: {
        podSelector: { matchLabels: { ...RAY_LABELS.head } },
        policyTypes: ["Egress"],
        egress: [
          { to: [prometheusPeer()], ports: tcp(MONITORING_POD_PORTS.prometheus) },
          {
            to: [namespacedPodPeer(NAMESPACES.monitoring, MONITORING_PODS.grafana)],
            ports: tcp(MONITORING_POD_PORTS.grafana),
          },
          apiServerEgressRule(endpoints.nodeCidr),
        ],
      },
    },
    {
      name: "kuberay-operator",
      spec: {
        podSelector: { matchLabels: { ...KUBERAY_OPERATOR_LABELS } },
        policyTypes: ["Egress"],
        egress: [apiServerEgressRule(endpoints.nodeCidr)],
      },
    },
  ];
}
