import {
  namespacedPodPeer,
  podPeer,
  PolicyDraft,
  prometheusPeer,
  s3EgressRule,
  tcp,
} from "../platform/trafficRules";
import { GATEWAY, REDIS, SERVING_LABELS, SIMULATOR, TRITON, TRITON_LABELS } from "./servingContracts";

/**
 * The flows of the serving namespace on top of its default deny and DNS egress (Traefik's way in
 * to the gateway is admitted by the Ingress component's route policy):
 * - Triton: from the gateway on its HTTP port, from Prometheus on the metrics port; out to the
 *   object store only (its init container fetches the model versions);
 * - the gateway: from the simulator's pods on its port, from Prometheus on the same port (/metrics);
 *   out to Triton, Redis and the object store (event batches to the logs bucket);
 * - Redis: from the gateway and the bootstrap job, its exporter from Prometheus; no egress;
 * - the bootstrap job: out to Redis and the object store (the features bucket).
 */
export function servingPolicies(args: { s3Endpoint: string; simulatorNamespace?: string }): PolicyDraft[] {
  const s3 = s3EgressRule(args.s3Endpoint);
  const gatewayClients = args.simulatorNamespace
    ? [
        {
          from: [namespacedPodPeer(args.simulatorNamespace, SERVING_LABELS.simulator)],
          ports: tcp(GATEWAY.port),
        },
      ]
    : [];
  return [
    {
      name: "triton",
      spec: {
        podSelector: { matchLabels: { ...TRITON_LABELS } },
        policyTypes: ["Ingress", "Egress"],
        ingress: [
          { from: [podPeer(SERVING_LABELS.gateway)], ports: tcp(TRITON.httpPort) },
          { from: [prometheusPeer()], ports: tcp(TRITON.metricsPort) },
        ],
        egress: [s3],
      },
    },
    {
      name: "gateway",
      spec: {
        podSelector: { matchLabels: { ...SERVING_LABELS.gateway } },
        policyTypes: ["Ingress", "Egress"],
        ingress: [...gatewayClients, { from: [prometheusPeer()], ports: tcp(GATEWAY.port) }],
        egress: [
          { to: [podPeer(TRITON_LABELS)], ports: tcp(TRITON.httpPort) },
          { to: [podPeer(SERVING_LABELS.redis)], ports: tcp(REDIS.port) },
          s3,
        ],
      },
    },
    {
      name: "redis",
      spec: {
        podSelector: { matchLabels: { ...SERVING_LABELS.redis } },
        policyTypes: ["Ingress", "Egress"],
        ingress: [
          {
            from: [podPeer(SERVING_LABELS.gateway), podPeer(SERVING_LABELS.bootstrap)],
            ports: tcp(REDIS.port),
          },
          { from: [prometheusPeer()], ports: tcp(REDIS.exporterPort) },
        ],
        egress: [],
      },
    },
    {
      name: "redis-bootstrap",
      spec: {
        podSelector: { matchLabels: { ...SERVING_LABELS.bootstrap } },
        policyTypes: ["Ingress", "Egress"],
        ingress: [],
        egress: [{ to: [podPeer(SERVING_LABELS.redis)], ports: tcp(REDIS.port) }, s3],
      },
    },
  ];
}

/** The simulator: scraped by Prometheus; out to the gateway's pods and the object store (held-out sequences). */
export function simulatorPolicies(args: { s3Endpoint: string; servingNamespace: string }): PolicyDraft[] {
  return [
    {
      name: "simulator",
      spec: {
        podSelector: { matchLabels: { ...SERVING_LABELS.simulator } },
        policyTypes: ["Ingress", "Egress"],
        ingress: [{ from: [prometheusPeer()], ports: tcp(SIMULATOR.metricsPort) }],
        egress: [
          {
            to: [namespacedPodPeer(args.servingNamespace, SERVING_LABELS.gateway)],
            ports: tcp(GATEWAY.port),
          },
          s3EgressRule(args.s3Endpoint),
        ],
      },
    },
  ];
}
