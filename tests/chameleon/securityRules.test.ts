import {
  canonicalCidr,
  checkPeers,
  OPEN_TO_ALL,
  peerCidrs,
  portsLabel,
  SecurityRule,
  securityRules,
  SecurityRulesInput,
} from "../../components/chameleon/securityRules";
import { ChameleonCluster } from "../../stacks/config";
import { stackConfig } from "../harness";

/** The rules input a stack's own config gives the compute site. */
function inputOf(stack: "staging" | "production"): SecurityRulesInput {
  const platform = stackConfig(stack);
  const cluster = platform.cluster as ChameleonCluster;
  return {
    environment: platform.environment,
    adminCidrs: cluster.adminCidrs,
    subnetCidr: cluster.network.subnetCidr,
    peerAddresses: [],
    openHttp: platform.ingress.tlsMode === "acme",
    servesIngress: true,
  };
}

const row = (r: SecurityRule) => `${r.group} ${r.direction} ${r.protocol} ${portsLabel(r)} ${r.cidr}`;

const base: SecurityRulesInput = {
  environment: "staging",
  adminCidrs: ["129.114.0.0/16"],
  subnetCidr: "192.168.50.0/24",
  peerAddresses: [],
  openHttp: false,
  servesIngress: true,
};

describe("security rules from the stack configs", () => {
  test("staging: egress, the subnet, SSH and 6443 from TACC, HTTPS from anywhere, nothing else", () => {
    expect(securityRules(inputOf("staging")).map(row)).toEqual([
      "nodes egress any all 0.0.0.0/0",
      "nodes ingress any all 192.168.50.0/24",
      "nodes ingress tcp 22 129.114.0.0/16",
      "nodes ingress tcp 6443 129.114.0.0/16",
      "ingress ingress tcp 443 0.0.0.0/0",
    ]);
  });

  test("production: SSH and 6443 from each admin network, never from 0.0.0.0/0", () => {
    const rules = securityRules(inputOf("production"));
    expect(rules.map(row)).toEqual([
      "nodes egress any all 0.0.0.0/0",
      "nodes ingress any all 192.168.60.0/24",
      "nodes ingress tcp 22 129.114.0.0/16",
      "nodes ingress tcp 6443 129.114.0.0/16",
      "nodes ingress tcp 22 192.5.86.0/24",
      "nodes ingress tcp 6443 192.5.86.0/24",
      "ingress ingress tcp 443 0.0.0.0/0",
    ]);
    const adminPorts = rules.filter((r) => r.ports && [22, 6443].includes(r.ports.min));
    expect(adminPorts).toHaveLength(4);
    for (const r of adminPorts) expect(r.cidr).not.toBe(OPEN_TO_ALL);
  });

  test("the only ingress open to the world is HTTPS (and HTTP when asked) on the ingress group", () => {
    for (const input of [
      inputOf("staging"),
      inputOf("production"),
      { ...inputOf("production"), openHttp: true },
    ]) {
      const open = securityRules(input).filter((r) => r.direction === "ingress" && r.cidr === OPEN_TO_ALL);
      expect(open.map(row)).toEqual([
        "ingress ingress tcp 443 0.0.0.0/0",
        ...(input.openHttp ? ["ingress ingress tcp 80 0.0.0.0/0"] : []),
      ]);
    }
  });
});

describe("admin networks", () => {
  test("production refuses 0.0.0.0/0, also when written with host bits", () => {
    for (const wide of ["0.0.0.0/0", "203.0.113.9/0"]) {
      expect(() =>
        securityRules({ ...base, environment: "production", adminCidrs: ["129.114.0.0/16", wide] }),
      ).toThrow(
        new RegExp(
          `adminCidrs contains "${wide.replace(/[./]/g, "\\$&")}" \\(0\\.0\\.0\\.0/0\\) in production`,
        ),
      );
    }
  });

  test("staging may open SSH and 6443 to the world; the rules say so", () => {
    const rules = securityRules({ ...base, adminCidrs: ["0.0.0.0/0"] });
    expect(rules.filter((r) => r.cidr === OPEN_TO_ALL && r.group === "nodes").map(row)).toEqual([
      "nodes egress any all 0.0.0.0/0",
      "nodes ingress tcp 22 0.0.0.0/0",
      "nodes ingress tcp 6443 0.0.0.0/0",
    ]);
  });

  test("CIDRs are stored canonically and the same network listed twice gives one rule", () => {
    const rules = securityRules({
      ...base,
      subnetCidr: "192.168.50.7/24",
      adminCidrs: ["129.114.0.0/16", "129.114.7.9/16", " 192.5.86.0/24"],
    });
    expect(rules.map(row)).toEqual([
      "nodes egress any all 0.0.0.0/0",
      "nodes ingress any all 192.168.50.0/24",
      "nodes ingress tcp 22 129.114.0.0/16",
      "nodes ingress tcp 6443 129.114.0.0/16",
      "nodes ingress tcp 22 192.5.86.0/24",
      "nodes ingress tcp 6443 192.5.86.0/24",
      "ingress ingress tcp 443 0.0.0.0/0",
    ]);
  });

  test.each([
    [{ adminCidrs: ["129.114.0.0/33"] }, 'adminCidrs[0] = "129.114.0.0/33": expected an IPv4 CIDR'],
    [{ adminCidrs: ["129.114.0.0/16", "129.314.0.0/16"] }, 'adminCidrs[1] = "129.314.0.0/16"'],
    [{ adminCidrs: ["129.114.0.0"] }, 'adminCidrs[0] = "129.114.0.0": expected an IPv4 CIDR'],
    [{ adminCidrs: [] }, "adminCidrs is empty"],
    [{ subnetCidr: "banana" }, 'subnetCidr = "banana": expected an IPv4 CIDR'],
  ])("bad input %j is refused naming the key", (change, message) => {
    expect(() => securityRules({ ...base, ...change })).toThrow(message);
  });

  test("canonicalCidr clears host bits for every prefix length", () => {
    expect(canonicalCidr("10.1.2.3/8", "k")).toBe("10.0.0.0/8");
    expect(canonicalCidr("172.20.255.255/12", "k")).toBe("172.16.0.0/12");
    expect(canonicalCidr("203.0.113.77/27", "k")).toBe("203.0.113.64/27");
    expect(canonicalCidr("203.0.113.77/32", "k")).toBe("203.0.113.77/32");
    expect(canonicalCidr("255.255.255.255/1", "k")).toBe("128.0.0.0/1");
    expect(canonicalCidr("1.2.3.4/0", "k")).toBe("0.0.0.0/0");
  });
});

describe("cross-site peers", () => {
  const peers = ["129.114.3.4", "192.5.87.10/32"];

  test("each peer gets the k3s API, the kubelet and wireguard, from its own /32 only", () => {
    const rules = securityRules({ ...base, peerAddresses: peers });
    const peerRows = rules.filter((r) => r.key.startsWith("peer-"));
    expect(peerRows.map((r) => `${r.key} ${row(r)}`)).toEqual([
      "peer-0-k3s-api nodes ingress tcp 6443 129.114.3.4/32",
      "peer-0-kubelet nodes ingress tcp 10250 129.114.3.4/32",
      "peer-0-wireguard nodes ingress udp 51820 129.114.3.4/32",
      "peer-1-k3s-api nodes ingress tcp 6443 192.5.87.10/32",
      "peer-1-kubelet nodes ingress tcp 10250 192.5.87.10/32",
      "peer-1-wireguard nodes ingress udp 51820 192.5.87.10/32",
    ]);
  });

  test("10250 and 51820 are open to peers and to nothing outside the subnet but peers", () => {
    const rules = securityRules({ ...base, adminCidrs: ["0.0.0.0/0"], peerAddresses: peers });
    const k3sOnly = rules.filter((r) => r.ports && [10250, 51820].includes(r.ports.min));
    expect(k3sOnly.every((r) => r.cidr.endsWith("/32"))).toBe(true);
    expect(new Set(k3sOnly.map((r) => r.cidr))).toEqual(new Set(["129.114.3.4/32", "192.5.87.10/32"]));
  });

  test.each([
    [["129.114.3.400"], 'peerAddresses[0] = "129.114.3.400": expected the public IPv4 address of a node'],
    [["node-a.example.org"], "peerAddresses[0]"],
    [[""], 'peerAddresses[0] = "": expected the public IPv4 address'],
    [
      ["129.114.3.4", "129.114.0.0/16"],
      'peerAddresses[1] = "129.114.0.0/16": expected a single address (/32)',
    ],
    [["192.168.50.12"], "192.168.0.0/16 (private) is not a public address; pass the node's floating IP"],
    [["10.20.0.4"], "10.0.0.0/8 (private)"],
    [["172.31.0.9"], "172.16.0.0/12 (private)"],
    [["127.0.0.1"], "loopback"],
    [["239.1.1.1"], "multicast or reserved"],
    [
      ["129.114.3.4", "129.114.3.4/32"],
      'peerAddresses[1] = "129.114.3.4/32": the same address as peerAddresses[0]',
    ],
  ])("bad peers %j are refused", (addresses, message) => {
    expect(() => securityRules({ ...base, peerAddresses: addresses })).toThrow(message);
    expect(() => peerCidrs(addresses)).toThrow(message);
  });

  test("a peer that is also an admin /32 is refused, since Neutron would reject the duplicate 6443 rule", () => {
    expect(() =>
      securityRules({ ...base, adminCidrs: ["129.114.3.4/32"], peerAddresses: ["129.114.3.4"] }),
    ).toThrow('peerAddresses[0] = "129.114.3.4": also an adminCidrs entry');
  });

  test("addresses not known yet are skipped; the known ones are still checked", () => {
    expect(checkPeers([undefined, "129.114.3.4"])).toEqual([undefined, "129.114.3.4/32"]);
    expect(() => checkPeers([undefined, "10.0.0.1"])).toThrow('peerAddresses[1] = "10.0.0.1"');
    expect(() => checkPeers(["129.114.3.4", undefined, "129.114.3.4"])).toThrow(
      "the same address as peerAddresses[0]",
    );
  });

  test("172.15.x and 172.32.x are public, the private block is only 172.16-31", () => {
    expect(peerCidrs(["172.15.0.1", "172.32.0.1"])).toEqual(["172.15.0.1/32", "172.32.0.1/32"]);
  });
});

describe("every rule set", () => {
  const variants: SecurityRulesInput[] = [
    base,
    { ...base, openHttp: true },
    { ...base, servesIngress: false, openHttp: true },
    { ...base, adminCidrs: ["129.114.0.0/16", "129.114.0.0/16", "192.5.86.0/24"] },
    { ...base, peerAddresses: ["129.114.3.4", "192.5.87.10"], adminCidrs: ["0.0.0.0/0"] },
    { ...base, environment: "production", adminCidrs: ["192.5.86.0/24"], peerAddresses: ["129.114.3.4"] },
  ];

  test.each(variants)("has unique rules and keys, and least privilege (%j)", (input) => {
    const rules = securityRules(input);
    const identities = rules.map(row);
    expect(new Set(identities).size).toBe(identities.length);
    const keys = rules.map((r) => `${r.group}/${r.key}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const r of rules.filter((x) => x.direction === "ingress")) {
      const fromSubnet = r.cidr === canonicalCidr(input.subnetCidr, "subnetCidr");
      const admins = input.adminCidrs.map((c) => canonicalCidr(c, "adminCidrs"));
      const fromAdmin =
        r.ports && [22, 6443].includes(r.ports.min) && admins.includes(r.cidr) && !r.key.startsWith("peer-");
      const fromPeer = r.key.startsWith("peer-") && r.cidr.endsWith("/32");
      const publicWeb =
        r.group === "ingress" && r.cidr === OPEN_TO_ALL && r.ports && [80, 443].includes(r.ports.min);
      expect([fromSubnet, fromAdmin, fromPeer, publicWeb].filter(Boolean)).toHaveLength(1);
      if (r.protocol === "any") expect(fromSubnet).toBe(true);
    }
    expect(rules.filter((r) => r.direction === "egress").map(row)).toEqual([
      "nodes egress any all 0.0.0.0/0",
    ]);
  });

  test("a site without the ingress node opens neither 443 nor 80", () => {
    const rules = securityRules({ ...base, servesIngress: false, openHttp: true });
    expect(rules.some((r) => r.group === "ingress")).toBe(false);
    expect(rules.some((r) => r.ports && [80, 443].includes(r.ports.min))).toBe(false);
  });
});

describe("every rule says why it is open", () => {
  test("egress to anywhere is stated; the ingress group opens 443 and 80 only", () => {
    const input = { ...base, openHttp: true, peerAddresses: ["129.114.3.4"] };
    const rules = securityRules(input);
    expect(rules[0]).toEqual(
      expect.objectContaining({
        group: "nodes",
        direction: "egress",
        protocol: "any",
        cidr: "0.0.0.0/0",
        why: expect.stringContaining("packages"),
      }),
    );
    expect(rules.find((r) => r.ports?.min === 51820)).toEqual(
      expect.objectContaining({
        group: "nodes",
        direction: "ingress",
        protocol: "udp",
        cidr: "129.114.3.4/32",
        why: expect.stringContaining("wireguard"),
      }),
    );
    expect(rules.filter((r) => r.group === "ingress").map((r) => r.ports?.min)).toEqual([443, 80]);
    for (const r of rules) expect(r.why.length).toBeGreaterThan(10);
  });
});
