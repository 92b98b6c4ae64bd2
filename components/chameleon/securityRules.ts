/**
 * The security rules of one Chameleon site, as data: which port is open to whom, and why. The
 * Network component turns them into Neutron security group rules; the offline plan prints them as
 * the network-exposure table. Everything here is pure, so the policy is tested without mocks.
 *
 * Two groups per site:
 * - `nodes`: every node of the site. Node-to-node traffic inside the subnet, SSH and the
 *   Kubernetes API from the admin CIDRs, the k3s ports from cross-site peers (each a /32), and
 *   egress to anywhere.
 * - `ingress`: only the node that serves public traffic (the one holding the `ingress` floating
 *   IP). HTTPS from anywhere, and HTTP when ACME HTTP-01 needs it. k3s' service load balancer
 *   binds 80/443 on every node, so keeping these ports out of `nodes` keeps a GPU node with its own
 *   floating IP at another site from serving the ingress.
 */

export type SecurityGroupRole = "nodes" | "ingress";
export type RuleProtocol = "tcp" | "udp" | "any";

export interface SecurityRule {
  /** Stable and unique within the group; the Network component names the rule resource after it. */
  key: string;
  group: SecurityGroupRole;
  direction: "ingress" | "egress";
  protocol: RuleProtocol;
  /** Absent for "any" protocol: every port. */
  ports?: { min: number; max: number };
  /** Canonical IPv4 CIDR (host bits cleared), as Neutron stores it. */
  cidr: string;
  why: string;
}

export interface SecurityRulesInput {
  environment: string;
  adminCidrs: readonly string[];
  subnetCidr: string;
  /** Public IPs of nodes at another site that join this cluster; each is opened as a /32. */
  peerAddresses: readonly string[];
  /** Port 80 for ACME HTTP-01. */
  openHttp: boolean;
  /** Whether this site has a node serving public ingress (the `ingress` group exists). */
  servesIngress: boolean;
}

export const OPEN_TO_ALL = "0.0.0.0/0";

/** What a node at another site needs to join the k3s server with flannel's wireguard-native backend. */
export const PEER_PORTS: readonly { name: string; protocol: "tcp" | "udp"; port: number; why: string }[] = [
  {
    name: "k3s-api",
    protocol: "tcp",
    port: 6443,
    why: "k3s supervisor and Kubernetes API for a cross-site node",
  },
  { name: "kubelet", protocol: "tcp", port: 10250, why: "kubelet (logs, exec, metrics) across sites" },
  { name: "wireguard", protocol: "udp", port: 51820, why: "flannel wireguard-native tunnel across sites" },
];

/** Thrown for an input the rules cannot be built from; the message names the key and the value. */
export class SecurityRulesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SecurityRulesError";
  }
}

/** Every rule of the site, deduplicated, in a stable order (nodes group first, then ingress). */
export function securityRules(input: SecurityRulesInput): SecurityRule[] {
  const subnet = canonicalCidr(input.subnetCidr, "subnetCidr");
  const admins = input.adminCidrs.map((c, i) => canonicalCidr(c, `adminCidrs[${i}]`));
  if (admins.length === 0) {
    throw new SecurityRulesError("adminCidrs is empty: expected at least one CIDR allowed to SSH and 6443");
  }
  if (input.environment === "production") {
    const open = input.adminCidrs.find((_, i) => admins[i] === OPEN_TO_ALL);
    if (open !== undefined) {
      throw new SecurityRulesError(
        `adminCidrs contains ${JSON.stringify(open)} (${OPEN_TO_ALL}) in production: SSH and 6443 only from known networks`,
      );
    }
  }
  const peers = peerCidrs(input.peerAddresses, input.adminCidrs);

  const rules: SecurityRule[] = [
    {
      key: "egress-all",
      group: "nodes",
      direction: "egress",
      protocol: "any",
      cidr: OPEN_TO_ALL,
      why: "nodes reach anywhere: packages, image registries, the S3 endpoint, ACME, cross-site peers",
    },
    {
      key: "subnet-all",
      group: "nodes",
      direction: "ingress",
      protocol: "any",
      cidr: subnet,
      why: "node-to-node traffic inside the private subnet (k3s, flannel, kubelet, pods)",
    },
  ];
  for (const cidr of admins) {
    rules.push(
      tcp("nodes", `ssh-${slug(cidr)}`, 22, cidr, "SSH from an admin network"),
      tcp("nodes", `k8s-api-${slug(cidr)}`, 6443, cidr, "Kubernetes API from an admin network"),
    );
  }
  peers.forEach((cidr, index) => rules.push(...peerRules(index, cidr)));
  if (input.servesIngress) {
    rules.push(tcp("ingress", "https", 443, OPEN_TO_ALL, "public HTTPS ingress (Traefik)"));
    if (input.openHttp) {
      rules.push(tcp("ingress", "http", 80, OPEN_TO_ALL, "ACME HTTP-01 challenges (tlsMode acme)"));
    }
  }
  return dedupe(rules);
}

/** The rules for the peer at `index`; `cidr` is its /32 (or a placeholder while it is unknown). */
export function peerRules(index: number, cidr: string): SecurityRule[] {
  return PEER_PORTS.map((p) => ({
    key: `peer-${index}-${p.name}`,
    group: "nodes" as const,
    direction: "ingress" as const,
    protocol: p.protocol,
    ports: { min: p.port, max: p.port },
    cidr,
    why: p.why,
  }));
}

/**
 * Validates the public IPs of cross-site peers and returns each as a /32. A peer must be a single
 * public address: a private one means a fixed IP was wired in place of a floating IP, and a wider
 * prefix would open the k3s ports to a whole network.
 */
export function peerCidrs(addresses: readonly string[], adminCidrs: readonly string[] = []): string[] {
  return checkPeers(addresses, adminCidrs) as string[];
}

/**
 * `peerCidrs` for a list some of whose addresses are not known yet (`undefined`, e.g. floating IPs
 * still to be allocated): the known ones are checked now, the rest map to `undefined`.
 */
export function checkPeers(
  addresses: readonly (string | undefined)[],
  adminCidrs: readonly string[] = [],
): (string | undefined)[] {
  const seen = new Map<string, number>();
  // Neutron refuses a second identical rule, and 6443 from an admin /32 is one.
  const admins = new Set(adminCidrs.map((c, i) => canonicalCidr(c, `adminCidrs[${i}]`)));
  return addresses.map((raw, index) => {
    if (raw === undefined) return undefined;
    const where = `peerAddresses[${index}] = ${JSON.stringify(raw)}`;
    const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?:\/(\d{1,2}))?$/.exec(String(raw).trim());
    const octets = m ? parseOctets(m[1]) : undefined;
    if (!m || !octets) {
      throw new SecurityRulesError(`${where}: expected the public IPv4 address of a node, e.g. 129.114.5.7`);
    }
    if (m[2] !== undefined && m[2] !== "32") {
      throw new SecurityRulesError(
        `${where}: expected a single address (/32); a peer is one node, never a network`,
      );
    }
    const reserved = reservedRange(octets);
    if (reserved) {
      throw new SecurityRulesError(
        `${where}: ${reserved} is not a public address; pass the node's floating IP, not its fixed IP`,
      );
    }
    const cidr = `${octets.join(".")}/32`;
    if (admins.has(cidr)) {
      throw new SecurityRulesError(
        `${where}: also an adminCidrs entry; list it in one place (Neutron refuses the duplicate 6443 rule)`,
      );
    }
    const first = seen.get(cidr);
    if (first !== undefined) {
      throw new SecurityRulesError(`${where}: the same address as peerAddresses[${first}]`);
    }
    seen.set(cidr, index);
    return cidr;
  });
}

/** `129.114.7.9/16` → `129.114.0.0/16`; throws naming `key` when the value is not an IPv4 CIDR. */
export function canonicalCidr(value: string, key: string): string {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(String(value).trim());
  const octets = m ? parseOctets(m[1]) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (!m || !octets || prefix > 32) {
    throw new SecurityRulesError(
      `${key} = ${JSON.stringify(value)}: expected an IPv4 CIDR such as 203.0.113.0/24`,
    );
  }
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  const network = Math.floor(address / size) * size;
  return `${[24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256).join(".")}/${prefix}`;
}

/** The Neutron name of a site's security group; two stacks at one site never share a group. */
export function securityGroupName(environment: string, role: SecurityGroupRole): string {
  return `ssept-${environment}-${role}`;
}

/** `22` or `30000-32767`, or `all` for every port. */
export function portsLabel(rule: SecurityRule): string {
  if (!rule.ports) return "all";
  return rule.ports.min === rule.ports.max ? String(rule.ports.min) : `${rule.ports.min}-${rule.ports.max}`;
}

function tcp(group: SecurityGroupRole, key: string, port: number, cidr: string, why: string): SecurityRule {
  return { key, group, direction: "ingress", protocol: "tcp", ports: { min: port, max: port }, cidr, why };
}

/** Neutron refuses a rule identical to an existing one, so identical rules collapse into the first. */
function dedupe(rules: SecurityRule[]): SecurityRule[] {
  const seen = new Set<string>();
  return rules.filter((r) => {
    const identity = `${r.group}|${r.direction}|${r.protocol}|${portsLabel(r)}|${r.cidr}`;
    if (seen.has(identity)) return false;
    seen.add(identity);
    return true;
  });
}

function parseOctets(dotted: string): number[] | undefined {
  const octets = dotted.split(".").map(Number);
  return octets.every((o) => o <= 255) ? octets : undefined;
}

function reservedRange([a, b]: number[]): string | undefined {
  if (a === 10) return "10.0.0.0/8 (private)";
  if (a === 172 && b >= 16 && b <= 31) return "172.16.0.0/12 (private)";
  if (a === 192 && b === 168) return "192.168.0.0/16 (private)";
  if (a === 127) return "127.0.0.0/8 (loopback)";
  if (a === 169 && b === 254) return "169.254.0.0/16 (link-local)";
  if (a === 100 && b >= 64 && b <= 127) return "100.64.0.0/10 (carrier-grade NAT)";
  if (a === 0) return "0.0.0.0/8 (this network)";
  if (a >= 224) return "224.0.0.0/3 (multicast or reserved)";
  return undefined;
}

function slug(cidr: string): string {
  return cidr.replace(/[./]/g, "-");
}
