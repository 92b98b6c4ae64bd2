import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { NAMESPACES } from "../contracts";

/** A NetworkPolicy as `k8s.networking.v1.NetworkPolicy` takes it, its name and namespace set. */
export type NetworkPolicy = k8s.types.input.networking.v1.NetworkPolicy & {
  metadata: { name: string; namespace: pulumi.Input<string> };
};

/** Where k3s runs Traefik, and the label its pods carry. */
export const TRAEFIK_PODS = {
  namespace: NAMESPACES.ingress,
  labels: { "app.kubernetes.io/name": "traefik" },
} as const;

/** The pod cert-manager starts, in the Certificate's namespace, to answer an HTTP-01 challenge. */
export const ACME_SOLVER_PODS = {
  labels: { "acme.cert-manager.io/http01-solver": "true" },
  port: 8089,
} as const;

/** cert-manager's pods, by the component label its chart sets. */
export const CERT_MANAGER_COMPONENTS = {
  controller: { "app.kubernetes.io/instance": "cert-manager", "app.kubernetes.io/component": "controller" },
  webhook: { "app.kubernetes.io/instance": "cert-manager", "app.kubernetes.io/component": "webhook" },
} as const;

/** The webhook's HTTPS port (the chart's `webhook.securePort`). */
export const CERT_MANAGER_WEBHOOK_PORT = 10250;

const ANYWHERE = [{ ipBlock: { cidr: "0.0.0.0/0" } }];

function policyName(port: number | string): string {
  return `allow-from-traefik-${port}`;
}

/**
 * A NetworkPolicy that admits k3s's Traefik to the selected pods on one (container) port. A
 * namespace closed by `platformNamespace` needs one for each port an Ingress routes to.
 */
export function allowFromIngressController(
  namespace: pulumi.Input<string>,
  podSelector: Record<string, string>,
  port: number | string,
  name: string = policyName(port),
): NetworkPolicy {
  return {
    metadata: { name, namespace },
    spec: {
      podSelector: { matchLabels: podSelector },
      policyTypes: ["Ingress"],
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": TRAEFIK_PODS.namespace } },
              podSelector: { matchLabels: { ...TRAEFIK_PODS.labels } },
            },
          ],
          ports: [{ protocol: "TCP", port }],
        },
      ],
    },
  };
}

/**
 * The flows cert-manager's closed namespace needs, beyond DNS:
 * - every pod (controller, cainjector, webhook, the startup check) talks to the API server. Pods
 *   reach it through the `kubernetes` Service (443), which lands on a node's address at 6443; node
 *   addresses match no pod or namespace selector and differ per cluster, so the rule names ports only;
 * - the API server calls the webhook on 10250; it runs on the host network, so again ports only;
 * - with ACME, the controller talks to Let's Encrypt (443) and, before it asks for validation,
 *   fetches each challenge URL itself over plain HTTP (80) through the public address.
 */
export function certManagerPolicies(
  namespace: pulumi.Input<string>,
  tlsMode: "self-signed" | "acme",
): NetworkPolicy[] {
  const policies: NetworkPolicy[] = [
    {
      metadata: { name: "allow-apiserver-egress", namespace },
      spec: {
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [
          {
            ports: [
              { protocol: "TCP", port: 443 },
              { protocol: "TCP", port: 6443 },
            ],
          },
        ],
      },
    },
    {
      metadata: { name: "allow-webhook-from-apiserver", namespace },
      spec: {
        podSelector: { matchLabels: { ...CERT_MANAGER_COMPONENTS.webhook } },
        policyTypes: ["Ingress"],
        ingress: [{ ports: [{ protocol: "TCP", port: CERT_MANAGER_WEBHOOK_PORT }] }],
      },
    },
  ];
  if (tlsMode === "acme") {
    policies.push({
      metadata: { name: "allow-acme-egress", namespace },
      spec: {
        podSelector: { matchLabels: { ...CERT_MANAGER_COMPONENTS.controller } },
        policyTypes: ["Egress"],
        egress: [
          {
            to: ANYWHERE,
            ports: [
              { protocol: "TCP", port: 443 },
              { protocol: "TCP", port: 80 },
            ],
          },
        ],
      },
    });
  }
  return policies;
}
