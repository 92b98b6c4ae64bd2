import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import {
  canonicalCidr,
  checkPeers,
  peerCidrs,
  peerRules,
  SecurityGroupRole,
  securityGroupName,
  SecurityRule,
  securityRules,
  SecurityRulesError,
  SecurityRulesInput,
} from "./securityRules";

export interface NetworkArgs {
  provider: openstack.Provider;
  environment: string;
  /** Name of the external network; routers attach to it and floating IPs come from it. */
  externalNetwork: string;
  subnetCidr: string;
  adminCidrs: readonly string[];
  /** Roles to allocate a floating IP for, e.g. ["ingress", "sporadic"], or ["gpu-0"] at a GPU site. */
  floatingIps: string[];
  /** Public IPs of nodes at ANOTHER site that join this cluster; the k3s ports open to each as a /32. */
  peerAddresses?: pulumi.Input<string>[];
  /** Port 80 open for ACME HTTP-01 (true only when tlsMode is acme). */
  openHttp?: boolean;
}

/** The role whose floating IP serves public ingress; where it is allocated, the `ingress` group exists. */
export const INGRESS_ROLE = "ingress";

const DNS_NAMESERVERS = ["8.8.8.8", "1.1.1.1"];

/**
 * The network of one Chameleon site: a private network and subnet, a router to the external
 * network, the security groups of `securityRules.ts`, and floating IPs by role.
 *
 * Security groups, and which instance gets which:
 * - `securityGroupId` (`nodes`): every node of this site.
 * - `ingressSecurityGroupId` (`ingress`, HTTPS and optionally HTTP from anywhere): only the node
 *   that holds the `ingress` floating IP, in addition to `nodes`. It exists only where
 *   `floatingIps` has the `ingress` role. It has no egress rules of its own; `nodes` supplies them.
 *
 * Floating IPs are allocated here, not with the instances, so an address survives the
 * replacement of the node it is attached to; they are created after the router interface, so
 * whatever associates them finds the subnet already routed to the external network.
 */
export class Network extends pulumi.ComponentResource {
  public readonly networkId: pulumi.Output<string>;
  public readonly subnetId: pulumi.Output<string>;
  public readonly routerId: pulumi.Output<string>;
  /** Id of the external network, looked up by name. */
  public readonly externalNetworkId: pulumi.Output<string>;
  /**
   * The router's address on the external network: the source of traffic from this site's nodes
   * that have no floating IP. The other site lists it among its peers.
   */
  public readonly gatewayAddress: pulumi.Output<string>;
  /** The `nodes` group: every node of this site. */
  public readonly securityGroupId: pulumi.Output<string>;
  /** The `ingress` group: only the ingress node; undefined where no `ingress` floating IP is allocated. */
  public readonly ingressSecurityGroupId?: pulumi.Output<string>;
  public readonly floatingIps: Readonly<Record<string, openstack.networking.FloatingIp>>;

  private readonly rulesInput: SecurityRulesInput;
  private readonly peers: pulumi.Input<string>[];
  private readonly declareRule: (rule: SecurityRule, remoteIpPrefix: pulumi.Input<string>) => void;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    // Bad input fails here, before the component or any child is registered; peers that are
    // outputs are checked once their addresses are known.
    const roles = validRoles(args.floatingIps);
    const rulesInput = {
      environment: args.environment,
      adminCidrs: args.adminCidrs,
      subnetCidr: args.subnetCidr,
      peerAddresses: [],
      openHttp: args.openHttp ?? false,
      servesIngress: roles.includes(INGRESS_ROLE),
    };
    const staticRules = securityRules(rulesInput);
    checkKnownPeers(args.peerAddresses ?? [], args.adminCidrs);
    super("ssept:chameleon:Network", name, {}, opts);
    const child = { parent: this, provider: args.provider };
    const tags = ["ssept", args.environment];
    const physical = (role: string) => `ssept-${args.environment}-${role}`;

    const external = openstack.networking.getNetworkOutput(
      { name: args.externalNetwork, external: true },
      { parent: this, provider: args.provider },
    );
    const network = new openstack.networking.Network(
      `${name}-network`,
      { name: physical("network"), adminStateUp: true, tags },
      child,
    );
    const subnet = new openstack.networking.Subnet(
      `${name}-subnet`,
      {
        name: physical("subnet"),
        networkId: network.id,
        cidr: canonicalCidr(args.subnetCidr, "subnetCidr"),
        ipVersion: 4,
        enableDhcp: true,
        dnsNameservers: DNS_NAMESERVERS,
        tags,
      },
      child,
    );
    const router = new openstack.networking.Router(
      `${name}-router`,
      { name: physical("router"), adminStateUp: true, externalNetworkId: external.id, tags },
      child,
    );
    const routerInterface = new openstack.networking.RouterInterface(
      `${name}-router-interface`,
      { routerId: router.id, subnetId: subnet.id },
      child,
    );

    const groups: Partial<Record<SecurityGroupRole, openstack.networking.SecGroup>> = {};
    for (const role of rulesInput.servesIngress ? (["nodes", "ingress"] as const) : (["nodes"] as const)) {
      groups[role] = new openstack.networking.SecGroup(
        `${name}-sg-${role}`,
        {
          name: securityGroupName(args.environment, role),
          description: GROUP_DESCRIPTIONS[role],
          deleteDefaultRules: true,
          tags,
        },
        child,
      );
    }
    this.declareRule = (r, remoteIpPrefix) => {
      new openstack.networking.SecGroupRule(
        `${name}-${r.group}-${r.key}`,
        {
          securityGroupId: groups[r.group]!.id,
          direction: r.direction,
          ethertype: "IPv4",
          protocol: r.protocol === "any" ? undefined : r.protocol,
          portRangeMin: r.ports?.min,
          portRangeMax: r.ports?.max,
          remoteIpPrefix,
          description: r.why,
        },
        child,
      );
    };
    for (const r of staticRules) this.declareRule(r, r.cidr);
    this.rulesInput = rulesInput;
    this.peers = [];
    this.allowPeers(args.peerAddresses ?? []);

    const floatingIps: Record<string, openstack.networking.FloatingIp> = {};
    for (const role of roles) {
      floatingIps[role] = new openstack.networking.FloatingIp(
        `${name}-fip-${role}`,
        { pool: args.externalNetwork, description: `${physical(role)} floating IP`, tags: [...tags, role] },
        { ...child, dependsOn: [routerInterface] },
      );
    }

    this.externalNetworkId = external.id;
    this.networkId = network.id;
    this.subnetId = subnet.id;
    this.routerId = router.id;
    this.gatewayAddress = router.externalFixedIps.apply((ips) => ips?.[0]?.ipAddress ?? "");
    this.securityGroupId = groups.nodes!.id;
    this.ingressSecurityGroupId = groups.ingress?.id;
    this.floatingIps = floatingIps;
    this.registerOutputs({
      networkId: this.networkId,
      subnetId: this.subnetId,
      routerId: this.routerId,
      securityGroupId: this.securityGroupId,
      ingressSecurityGroupId: this.ingressSecurityGroupId,
      floatingIps: Object.fromEntries(Object.entries(floatingIps).map(([role, ip]) => [role, ip.address])),
    });
  }

  /**
   * The site's rules with every peer known so far, as the security groups declare them: what a
   * node's host firewall enforces where Neutron does not (bare-metal sites, `hostFirewall.ts`).
   */
  hostFirewallRules(): pulumi.Output<SecurityRule[]> {
    return pulumi
      .all([...this.peers])
      .apply((peers) => securityRules({ ...this.rulesInput, peerAddresses: peers }));
  }

  /**
   * Opens the k3s ports to more cross-site nodes, each as a /32. For peers whose addresses come
   * from a Network declared after this one: the two sites name each other's addresses, so one of
   * them has to be told after construction.
   */
  allowPeers(addresses: pulumi.Input<string>[]): void {
    const all = [...this.peers, ...addresses];
    checkKnownPeers(all, this.rulesInput.adminCidrs);
    const first = this.peers.length;
    this.peers.push(...addresses);
    const cidrs = pulumi.all(all).apply((list) => peerCidrs(list, this.rulesInput.adminCidrs));
    // Rule names follow the peer's position, since its address may not be known until deployment.
    addresses.forEach((_, offset) => {
      const index = first + offset;
      for (const r of peerRules(index, ""))
        this.declareRule(
          r,
          cidrs.apply((list) => list[index]),
        );
    });
  }
}

/** Checks peers whose addresses are already known, so that a wrong one fails before deployment. */
function checkKnownPeers(peers: readonly pulumi.Input<string>[], adminCidrs: readonly string[]): void {
  checkPeers(
    peers.map((p) => (typeof p === "string" ? p : undefined)),
    adminCidrs,
  );
}

const GROUP_DESCRIPTIONS: Record<SecurityGroupRole, string> = {
  nodes:
    "Every node: traffic inside the subnet, SSH and 6443 from admin networks, k3s ports from cross-site peers",
  ingress: "The ingress node only: public HTTPS (and HTTP for ACME)",
};

function validRoles(roles: readonly string[]): string[] {
  const seen = new Set<string>();
  for (const [index, role] of roles.entries()) {
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(role)) {
      throw new SecurityRulesError(
        `floatingIps[${index}] = ${JSON.stringify(role)}: expected a role name of a-z, 0-9 and -, e.g. ingress`,
      );
    }
    if (seen.has(role)) throw new SecurityRulesError(`floatingIps lists ${JSON.stringify(role)} twice`);
    seen.add(role);
  }
  return [...roles];
}
