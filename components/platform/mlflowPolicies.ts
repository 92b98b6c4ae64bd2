import { NAMESPACES } from "../contracts";
import { MLFLOW_LABELS, MLFLOW_SERVER, POSTGRES } from "./mlflowManifests";
import {
  ingressControllerPeer,
  namespacedPodPeer,
  namespacePeer,
  podPeer,
  PolicyDraft,
  prometheusPeer,
  s3EgressRule,
  tcp,
} from "./trafficRules";

/** Namespaces whose pods use the tracking server: training, the pipeline, serving. */
export const MLFLOW_CLIENT_NAMESPACES = [NAMESPACES.ray, NAMESPACES.pipeline, NAMESPACES.serving] as const;

/** Egress to the tracking server's API, which pods in the client namespaces need. */
export function mlflowServerEgressRule() {
  return { to: [namespacedPodPeer(NAMESPACES.mlflow, MLFLOW_LABELS.server)], ports: tcp(MLFLOW_SERVER.port) };
}

/**
 * The flows of the mlflow namespace on top of its default deny and DNS egress:
 * - the server: from the ingress controller and the client namespaces on its API port, from
 *   Prometheus on the same port (it serves /metrics there); out to Postgres and the object store;
 * - Postgres: from the server and the backup job only; its exporter from Prometheus;
 * - the backup job: out to Postgres and the object store.
 */
export function mlflowPolicies(s3Endpoint: string): PolicyDraft[] {
  const s3 = s3EgressRule(s3Endpoint);
  return [
    {
      name: "mlflow-server",
      spec: {
        podSelector: { matchLabels: { ...MLFLOW_LABELS.server } },
        policyTypes: ["Ingress", "Egress"],
        ingress: [
          {
            from: [ingressControllerPeer(), ...MLFLOW_CLIENT_NAMESPACES.map(namespacePeer)],
            ports: tcp(MLFLOW_SERVER.port),
          },
          { from: [prometheusPeer()], ports: tcp(MLFLOW_SERVER.port) },
        ],
        egress: [{ to: [podPeer(MLFLOW_LABELS.postgres)], ports: tcp(POSTGRES.port) }, s3],
      },
    },
    {
      name: "mlflow-postgres",
      spec: {
        podSelector: { matchLabels: { ...MLFLOW_LABELS.postgres } },
        policyTypes: ["Ingress", "Egress"],
        ingress: [
          { from: [podPeer(MLFLOW_LABELS.server), podPeer(MLFLOW_LABELS.backup)], ports: tcp(POSTGRES.port) },
          { from: [prometheusPeer()], ports: tcp(POSTGRES.exporterPort) },
        ],
        egress: [],
      },
    },
    {
      name: "mlflow-postgres-backup",
      spec: {
        podSelector: { matchLabels: { ...MLFLOW_LABELS.backup } },
        policyTypes: ["Ingress", "Egress"],
        ingress: [],
        egress: [{ to: [podPeer(MLFLOW_LABELS.postgres)], ports: tcp(POSTGRES.port) }, s3],
      },
    },
  ];
}
