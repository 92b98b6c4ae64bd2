import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { PolicyDraft } from "./trafficRules";

export interface PlatformNamespaceArgs {
  name: string;
  provider: k8s.Provider;
  parent: pulumi.Resource;
  labels?: Record<string, string>;
}

/**
 * A namespace that starts closed: a default-deny policy for ingress and egress, plus DNS egress to
 * kube-system, which every pod needs. Components then allow only the flows they use.
 */
export function platformNamespace(args: PlatformNamespaceArgs): k8s.core.v1.Namespace {
  const ns = new k8s.core.v1.Namespace(
    `${args.name}-ns`,
    {
      metadata: {
        name: args.name,
        labels: { "app.kubernetes.io/part-of": "sse-pt-platform", ...(args.labels ?? {}) },
      },
    },
    { parent: args.parent, provider: args.provider },
  );
  new k8s.networking.v1.NetworkPolicy(
    `${args.name}-default-deny`,
    {
      metadata: { name: "default-deny", namespace: ns.metadata.name },
      spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
    },
    { parent: args.parent, provider: args.provider },
  );
  new k8s.networking.v1.NetworkPolicy(
    `${args.name}-allow-dns`,
    {
      metadata: { name: "allow-dns", namespace: ns.metadata.name },
      spec: {
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [
          {
            to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } } }],
            ports: [
              { protocol: "UDP", port: 53 },
              { protocol: "TCP", port: 53 },
            ],
          },
        ],
      },
    },
    { parent: args.parent, provider: args.provider },
  );
  return ns;
}

/**
 * A component's NetworkPolicies in one of its namespaces, each named `<component>-netpol-<policy>`:
 * the flows the namespace's default deny would otherwise block.
 */
export function namespacePolicies(
  component: string,
  namespace: pulumi.Input<string>,
  policies: readonly PolicyDraft[],
  opts: pulumi.CustomResourceOptions,
): k8s.networking.v1.NetworkPolicy[] {
  return policies.map(
    (policy) =>
      new k8s.networking.v1.NetworkPolicy(
        `${component}-netpol-${policy.name}`,
        { metadata: { name: policy.name, namespace }, spec: policy.spec },
        opts,
      ),
  );
}
