import * as k8s from "@pulumi/kubernetes";
import { NAMESPACES } from "../contracts";

export type NetworkPolicySpec = k8s.types.input.networking.v1.NetworkPolicySpec;
type Peer = k8s.types.input.networking.v1.NetworkPolicyPeer;
type PolicyPort = { protocol: "TCP"; port: number };

/** One NetworkPolicy of a component: its name and spec; the component adds the namespace. */
export interface PolicyDraft {
  name: string;
  spec: NetworkPolicySpec;
}

/** Pods of kube-prometheus-stack's Prometheus, the one scraper of the estate. */
export const PROMETHEUS_POD_LABELS = { "app.kubernetes.io/name": "prometheus" } as const;
/** k3s runs Traefik, the ingress controller, in kube-system with this label. */
export const TRAEFIK_POD_LABELS = { "app.kubernetes.io/name": "traefik" } as const;
/** The API server listens on 6443 on the server node; pods reach it through the `kubernetes` Service on 443. */
export const API_SERVER_PORTS = [443, 6443] as const;
/** ClusterIP of the `kubernetes` Service in k3s's default service range, for CNIs that filter before DNAT. */
export const K3S_API_SERVICE_CIDR = "10.43.0.1/32";

export const tcp = (...ports: number[]): PolicyPort[] => ports.map((port) => ({ protocol: "TCP", port }));

export function namespacePeer(namespace: string): Peer {
  return { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } } };
}

export function podPeer(labels: Readonly<Record<string, string>>): Peer {
  return { podSelector: { matchLabels: { ...labels } } };
}

/** The pods with these labels in that namespace. */
export function namespacedPodPeer(namespace: string, labels: Readonly<Record<string, string>>): Peer {
  return { ...namespacePeer(namespace), ...podPeer(labels) };
}

export function prometheusPeer(): Peer {
  return namespacedPodPeer(NAMESPACES.monitoring, PROMETHEUS_POD_LABELS);
}

export function ingressControllerPeer(): Peer {
  return namespacedPodPeer(NAMESPACES.ingress, TRAEFIK_POD_LABELS);
}

/**
 * The port S3 clients connect to: the endpoint's explicit port (Ceph RGW at Chameleon serves 7480),
 * else the scheme's default.
 */
export function s3Port(endpoint: string): number {
  const url = new URL(endpoint);
  if (url.port !== "") return Number(url.port);
  return url.protocol === "http:" ? 80 : 443;
}

/** Where a namespace's pods reach the object store and the API server. */
export interface ClusterEndpoints {
  /** The object store's URL (config objectStoreEndpoint); its port is opened. */
  s3Endpoint: string;
  /** The node subnet (Chameleon's subnetCidr); undefined for a cluster that is not ours. */
  nodeCidr?: string;
}

/**
 * Egress to the object store. Its address is a public name resolved at run time, so any address is
 * allowed, on the endpoint's port only.
 */
export function s3EgressRule(endpoint: string) {
  return { to: [{ ipBlock: { cidr: "0.0.0.0/0" } }], ports: tcp(s3Port(endpoint)) };
}

/**
 * Egress to the API server. After kube-proxy's DNAT the destination is a node address on 6443:
 * the node subnet (`nodeCidr`, the Chameleon subnet), or any address when the cluster is not ours
 * and its nodes are unknown (`nodeCidr` undefined).
 */
export function apiServerEgressRule(nodeCidr: string | undefined) {
  const to =
    nodeCidr !== undefined
      ? [{ ipBlock: { cidr: nodeCidr } }, { ipBlock: { cidr: K3S_API_SERVICE_CIDR } }]
      : [{ ipBlock: { cidr: "0.0.0.0/0" } }];
  return { to, ports: tcp(...API_SERVER_PORTS) };
}
