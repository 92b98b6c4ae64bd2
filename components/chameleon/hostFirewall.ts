import {
  OPEN_TO_ALL,
  portsLabel,
  SecurityGroupRole,
  SecurityRule,
  SecurityRulesError,
} from "./securityRules";

/**
 * The host firewall of a node at a bare-metal site (CHI@TACC, CHI@UC), where Neutron does not
 * enforce security groups: an nftables ruleset generated from the same rules as the site's security
 * groups (`securityRules.ts`), so that the exposure table of the plan holds at every site. Pure, so
 * the translation is tested without a machine; `nft -c` checks the result in the tests.
 *
 * What it filters, and why so: inbound traffic only (the rule table opens egress to anywhere), in
 * a prerouting chain that runs before k3s's kube-proxy/servicelb DNAT (priority -150, after
 * conntrack at -200). An input-hook chain would miss traffic that is DNATed to a pod, such as the
 * servicelb hostPorts 80/443 every k3s node opens, and the ingress ports belong only to the node in
 * the `ingress` group. Besides the table's rules it admits what the node's own cluster traffic
 * needs: replies to connections it opened, loopback, the CNI bridge and flannel's interfaces
 * (VXLAN and WireGuard, both decapsulated traffic from other nodes' pods), the pod and service
 * CIDRs, DHCP replies and IPv6 neighbour discovery. The table is our own (`inet ssept_host_firewall`)
 * and replaced as a whole, so kube-proxy's and flannel's tables are never touched.
 */

export const HOST_FIREWALL_TABLE = "ssept_host_firewall";
/** k3s's defaults (`cluster-cidr`, `service-cidr`); k3sCommands.ts does not change them. */
export const K3S_POD_CIDR = "10.42.0.0/16";
export const K3S_SERVICE_CIDR = "10.43.0.0/16";
/** Interfaces pod traffic arrives on: the CNI bridge, flannel's VXLAN `flannel.1` and WireGuard `flannel-wg`. */
export const CLUSTER_INTERFACES = ["cni0", "flannel*"] as const;

export interface HostFirewallInput {
  /** The site's rules, exactly as its security groups are declared. */
  rules: readonly SecurityRule[];
  /** The groups the node is in: every node `nodes`, the ingress node also `ingress`. */
  groups: readonly SecurityGroupRole[];
}

/** The nft script that atomically replaces the node's host firewall table. */
export function hostFirewallRuleset(input: HostFirewallInput): string {
  if (!input.groups.includes("nodes")) {
    throw new SecurityRulesError(
      `host firewall: groups ${JSON.stringify(input.groups)} lack "nodes", which every node is in`,
    );
  }
  const mine = input.rules.filter((r) => input.groups.includes(r.group));
  for (const r of mine.filter((r) => r.direction === "egress")) {
    if (r.protocol !== "any" || r.cidr !== OPEN_TO_ALL) {
      throw new SecurityRulesError(
        `host firewall: egress rule ${r.group}/${r.key} (${r.protocol} ${portsLabel(r)} to ${r.cidr}) is narrower ` +
          "than egress to anywhere; the host firewall filters inbound traffic only",
      );
    }
  }
  if (!mine.some((r) => r.direction === "egress")) {
    throw new SecurityRulesError(
      "host firewall: the rules open no egress; the host firewall filters inbound traffic only",
    );
  }
  const inbound = mine.filter((r) => r.direction === "ingress").map(ruleLine);
  const lines = [
    "# Written by Pulumi (components/chameleon/hostFirewall.ts) from the site's security group rules.",
    "# Replaces only its own table; kube-proxy's and flannel's tables are left alone.",
    `table inet ${HOST_FIREWALL_TABLE}`,
    `delete table inet ${HOST_FIREWALL_TABLE}`,
    `table inet ${HOST_FIREWALL_TABLE} {`,
    "  chain inbound {",
    "    type filter hook prerouting priority -150; policy drop;",
    "    ct state established,related accept",
    "    ct state invalid drop",
    '    iifname "lo" accept',
    ...CLUSTER_INTERFACES.map((i) => `    iifname "${i}" accept`),
    `    ip saddr { ${K3S_POD_CIDR}, ${K3S_SERVICE_CIDR} } accept comment "pods and services of the cluster"`,
    '    udp sport 67 udp dport 68 accept comment "DHCP replies"',
    "    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } accept",
    ...inbound.map((l) => `    ${l}`),
    "  }",
    "}",
    "",
  ];
  return lines.join("\n");
}

/** One security rule as an nft rule: source, protocol and ports, and its reason as the comment. */
export function ruleLine(r: SecurityRule): string {
  if (r.direction !== "ingress")
    throw new SecurityRulesError(`host firewall: ${r.key} is not an ingress rule`);
  const parts: string[] = [];
  if (r.cidr !== OPEN_TO_ALL) parts.push(`ip saddr ${cidr(r)}`);
  else parts.push("meta nfproto ipv4");
  if (r.protocol === "any") {
    if (r.ports) throw new SecurityRulesError(`host firewall: ${r.key} has ports but no protocol`);
  } else {
    const ports = r.ports
      ? r.ports.min === r.ports.max
        ? `${r.ports.min}`
        : `${r.ports.min}-${r.ports.max}`
      : undefined;
    parts.push(ports === undefined ? `meta l4proto ${r.protocol}` : `${r.protocol} dport ${ports}`);
  }
  parts.push("accept", `comment "${comment(`${r.group}/${r.key}: ${r.why}`)}"`);
  return parts.join(" ");
}

function cidr(r: SecurityRule): string {
  if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(r.cidr)) {
    throw new SecurityRulesError(
      `host firewall: ${r.group}/${r.key} has source ${JSON.stringify(r.cidr)}, not an IPv4 CIDR`,
    );
  }
  return r.cidr;
}

/** nft comments are quoted strings of at most 128 bytes. */
function comment(text: string): string {
  const clean = text.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, "?");
  return clean.length <= 128 ? clean : `${clean.slice(0, 125)}...`;
}
