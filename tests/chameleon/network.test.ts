import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import { Network, NetworkArgs } from "../../components/chameleon/network";
import { portsLabel, securityRules } from "../../components/chameleon/securityRules";
import { byType, one, runUnderMocks } from "../harness";
import { exposureRows } from "../../tools/planModel";
import * as mockState from "../mockState";
import { MOCK_EXTERNAL_NETWORK_ID, mockIdOf } from "../mockState";
import { testProvider } from "./chameleonKit";

const RULE = "openstack:networking/secGroupRule:SecGroupRule";
const GROUP = "openstack:networking/secGroup:SecGroup";
const FIP = "openstack:networking/floatingIp:FloatingIp";

type Build = Awaited<ReturnType<typeof runUnderMocks>>;

function computeArgs(p: openstack.Provider, extra: Partial<NetworkArgs> = {}): NetworkArgs {
  return {
    provider: p,
    environment: "staging",
    externalNetwork: "public",
    subnetCidr: "192.168.50.0/24",
    adminCidrs: ["129.114.0.0/16"],
    floatingIps: ["ingress", "sporadic"],
    ...extra,
  };
}

describe("Network at the compute site", () => {
  let build: Build;
  let invokes: { token: string; provider?: string; inputs: Record<string, unknown> }[];

  beforeAll(async () => {
    const spy = jest.spyOn(mockState, "mockCall");
    build = await runUnderMocks(() => {
      const net = new Network(
        "ssept",
        computeArgs(testProvider("kvm-tacc"), {
          openHttp: true,
          peerAddresses: [pulumi.output("192.5.87.10"), "129.114.77.8"],
        }),
      );
      return {
        ingressIp: net.floatingIps.ingress.address,
        sporadicIp: net.floatingIps.sporadic.address,
        gateway: net.gatewayAddress,
        securityGroupId: net.securityGroupId,
        ingressSecurityGroupId: net.ingressSecurityGroupId!,
        externalNetworkId: net.externalNetworkId,
      };
    });
    invokes = spy.mock.calls.map(([args]) => args as (typeof invokes)[number]);
    spy.mockRestore();
  });

  test("every OpenStack resource has the site's explicit provider and the component as parent", () => {
    const component = one(build, "ssept:chameleon:Network", "ssept");
    const prov = one(build, "pulumi:providers:openstack", "provider-kvm-tacc");
    const children = build.resources.filter((r) => r.type.startsWith("openstack:"));
    // network, subnet, router, interface; two groups; six static and six peer rules; two floating IPs
    expect(children.length).toBe(4 + 2 + 6 + 6 + 2);
    for (const r of children) {
      expect({ name: r.name, provider: r.provider, parent: r.parent }).toEqual({
        name: r.name,
        provider: prov.urn,
        parent: component.urn,
      });
    }
  });

  test("the external network is looked up by name through the explicit provider", () => {
    const lookups = invokes.filter((c) => c.token === "openstack:networking/getNetwork:getNetwork");
    expect(lookups).toHaveLength(1);
    expect(lookups[0].inputs).toMatchObject({ name: "public", external: true });
    expect(lookups[0].provider).toContain("pulumi:providers:openstack::provider-kvm-tacc");
  });

  test("network, subnet, router to the external network, interface", () => {
    const network = one(build, "openstack:networking/network:Network", "ssept-network");
    expect(network.inputs).toMatchObject({ name: "ssept-staging-network", adminStateUp: true });
    const subnet = one(build, "openstack:networking/subnet:Subnet", "ssept-subnet");
    expect(subnet.inputs).toMatchObject({
      name: "ssept-staging-subnet",
      networkId: mockIdOf(network.type, network.name),
      cidr: "192.168.50.0/24",
      ipVersion: 4,
      enableDhcp: true,
      dnsNameservers: ["8.8.8.8", "1.1.1.1"],
    });
    const router = one(build, "openstack:networking/router:Router", "ssept-router");
    expect(router.inputs.externalNetworkId).toBe(MOCK_EXTERNAL_NETWORK_ID);
    expect(build.outputs.externalNetworkId.value).toBe(MOCK_EXTERNAL_NETWORK_ID);
    const iface = one(
      build,
      "openstack:networking/routerInterface:RouterInterface",
      "ssept-router-interface",
    );
    expect(iface.inputs).toEqual({
      routerId: mockIdOf(router.type, router.name),
      subnetId: mockIdOf(subnet.type, subnet.name),
    });
    expect(build.outputs.gateway.value).toMatch(/^129\.114\.\d+\.\d+$/);
  });

  test("two security groups with Neutron's default rules removed", () => {
    const groups = byType(build, GROUP);
    expect(groups.map((g) => [g.name, g.inputs.name, g.inputs.deleteDefaultRules])).toEqual([
      ["ssept-sg-nodes", "ssept-staging-nodes", true],
      ["ssept-sg-ingress", "ssept-staging-ingress", true],
    ]);
    expect(build.outputs.securityGroupId.value).toBe(mockIdOf(GROUP, "ssept-sg-nodes"));
    expect(build.outputs.ingressSecurityGroupId.value).toBe(mockIdOf(GROUP, "ssept-sg-ingress"));
  });

  test("the declared rules are exactly the pure rules, peers resolved to /32", () => {
    const groupOf = new Map(byType(build, GROUP).map((g) => [mockIdOf(g.type, g.name), g.inputs.name]));
    const declared = byType(build, RULE).map((r) => {
      const i = r.inputs as Record<string, string | number | undefined>;
      expect(i.ethertype).toBe("IPv4");
      const ports =
        i.portRangeMin === undefined
          ? "all"
          : i.portRangeMin === i.portRangeMax
            ? `${i.portRangeMin}`
            : `${i.portRangeMin}-${i.portRangeMax}`;
      return `${r.name}: ${groupOf.get(String(i.securityGroupId))} ${i.direction} ${i.protocol ?? "any"} ${ports} ${i.remoteIpPrefix}`;
    });
    const expected = securityRules({
      environment: "staging",
      adminCidrs: ["129.114.0.0/16"],
      subnetCidr: "192.168.50.0/24",
      peerAddresses: ["192.5.87.10", "129.114.77.8"],
      openHttp: true,
      servesIngress: true,
    }).map(
      (r) =>
        `ssept-${r.group}-${r.key}: ssept-staging-${r.group} ${r.direction} ${r.protocol} ${portsLabel(r)} ${r.cidr}`,
    );
    expect(declared.sort()).toEqual(expected.sort());
    expect(declared).toContain(
      "ssept-nodes-peer-0-wireguard: ssept-staging-nodes ingress udp 51820 192.5.87.10/32",
    );
    expect(declared).toContain(
      "ssept-nodes-peer-1-kubelet: ssept-staging-nodes ingress tcp 10250 129.114.77.8/32",
    );
    expect(declared).toContain("ssept-ingress-http: ssept-staging-ingress ingress tcp 80 0.0.0.0/0");
  });

  test("the plan's exposure table lists every rule, with the resolved peers and why", () => {
    const rows = exposureRows(build.resources, () => "network");
    expect(rows).toHaveLength(byType(build, RULE).length);
    expect(rows.filter((r) => r.cidr === "192.5.87.10/32").map((r) => r.ports)).toEqual([
      "10250",
      "51820",
      "6443",
    ]);
    expect(rows.every((r) => r.securityGroup.startsWith("ssept-staging-") && r.why.length > 10)).toBe(true);
  });

  test("floating IPs by role from the external pool, after the router interface", () => {
    const fips = byType(build, FIP);
    expect(fips.map((f) => [f.name, f.inputs.pool])).toEqual([
      ["ssept-fip-ingress", "public"],
      ["ssept-fip-sporadic", "public"],
    ]);
    const iface = one(
      build,
      "openstack:networking/routerInterface:RouterInterface",
      "ssept-router-interface",
    );
    for (const f of fips) expect(f.dependencies).toContain(iface.urn);
    expect(build.outputs.ingressIp.value).toMatch(/^129\.114\.\d+\.\d+$/);
    expect(build.outputs.sporadicIp.value).toMatch(/^129\.114\.\d+\.\d+$/);
    expect(build.outputs.sporadicIp.value).not.toBe(build.outputs.ingressIp.value);
  });
});

describe("Network at a second GPU site", () => {
  test("one floating IP for the GPU node, no ingress group, no public web ports, k3s ports from the server only", async () => {
    const build = await runUnderMocks(() => {
      const net = new Network("gpu-uc", {
        provider: testProvider("chi-uc"),
        environment: "production",
        externalNetwork: "public",
        subnetCidr: "192.168.61.0/24",
        adminCidrs: ["129.114.0.0/16", "192.5.86.0/24"],
        floatingIps: ["gpu-0"],
        peerAddresses: [pulumi.output("129.114.20.30")],
        openHttp: true,
      });
      expect(net.ingressSecurityGroupId).toBeUndefined();
      return { gpuIp: net.floatingIps["gpu-0"].address };
    });
    expect(byType(build, FIP).map((f) => f.name)).toEqual(["gpu-uc-fip-gpu-0"]);
    expect(byType(build, GROUP).map((g) => g.inputs.name)).toEqual(["ssept-production-nodes"]);
    const rules = byType(build, RULE);
    expect(rules.some((r) => [80, 443].includes(Number(r.inputs.portRangeMin)))).toBe(false);
    expect(
      rules.some((r) => r.inputs.remoteIpPrefix === "0.0.0.0/0" && r.inputs.direction === "ingress"),
    ).toBe(false);
    const peer = rules.filter((r) => r.name.includes("-peer-"));
    expect(
      peer.map((r) => `${r.inputs.protocol}/${r.inputs.portRangeMin} ${r.inputs.remoteIpPrefix}`),
    ).toEqual(["tcp/6443 129.114.20.30/32", "tcp/10250 129.114.20.30/32", "udp/51820 129.114.20.30/32"]);
    const rows = exposureRows(build.resources, () => "network");
    expect(rows.every((r) => r.securityGroup === "ssept-production-nodes")).toBe(true);
  });
});

describe("two sites that name each other's addresses", () => {
  test("the compute site learns the GPU node's address after both networks exist", async () => {
    const build = await runUnderMocks(() => {
      const compute = new Network("ssept-kvm-tacc", computeArgs(testProvider("kvm-tacc")));
      const gpu = new Network("ssept-chi-uc", {
        ...computeArgs(testProvider("chi-uc"), { subnetCidr: "192.168.61.0/24" }),
        floatingIps: ["gpu-0"],
        peerAddresses: [compute.floatingIps.ingress.address, compute.gatewayAddress],
      });
      compute.allowPeers([gpu.floatingIps["gpu-0"].address]);
      return {
        computeIngress: compute.floatingIps.ingress.address,
        computeGateway: compute.gatewayAddress,
        gpuIp: gpu.floatingIps["gpu-0"].address,
      };
    });
    const peerRows = (prefix: string) =>
      byType(build, RULE)
        .filter((r) => r.name.startsWith(prefix) && r.name.includes("-peer-"))
        .map((r) => `${r.name} ${r.inputs.portRangeMin} ${r.inputs.remoteIpPrefix}`);
    const [ingress, gateway, gpuIp] = ["computeIngress", "computeGateway", "gpuIp"].map(
      (k) => build.outputs[k].value as string,
    );
    expect(peerRows("ssept-kvm-tacc-")).toEqual([
      `ssept-kvm-tacc-nodes-peer-0-k3s-api 6443 ${gpuIp}/32`,
      `ssept-kvm-tacc-nodes-peer-0-kubelet 10250 ${gpuIp}/32`,
      `ssept-kvm-tacc-nodes-peer-0-wireguard 51820 ${gpuIp}/32`,
    ]);
    expect(peerRows("ssept-chi-uc-")).toEqual([
      `ssept-chi-uc-nodes-peer-0-k3s-api 6443 ${ingress}/32`,
      `ssept-chi-uc-nodes-peer-0-kubelet 10250 ${ingress}/32`,
      `ssept-chi-uc-nodes-peer-0-wireguard 51820 ${ingress}/32`,
      `ssept-chi-uc-nodes-peer-1-k3s-api 6443 ${gateway}/32`,
      `ssept-chi-uc-nodes-peer-1-kubelet 10250 ${gateway}/32`,
      `ssept-chi-uc-nodes-peer-1-wireguard 51820 ${gateway}/32`,
    ]);
    const rows = exposureRows(build.resources, (r) =>
      r.name.startsWith("ssept-kvm-tacc-") ? "compute" : "gpu",
    );
    expect(
      rows.filter((r) => r.network === "compute" && r.cidr === `${gpuIp}/32`).map((r) => r.ports),
    ).toEqual(["10250", "51820", "6443"]);
  });
});

describe("hostFirewallRules", () => {
  test("are the rules the security groups declare, peers added later included", async () => {
    const build = await runUnderMocks(() => {
      const net = new Network("ssept-chi-uc", {
        ...computeArgs(testProvider("chi-uc"), { subnetCidr: "192.168.61.0/24" }),
        floatingIps: ["gpu-0"],
        peerAddresses: [pulumi.output("129.114.20.30")],
      });
      net.allowPeers([pulumi.output("129.114.20.1")]);
      return { rules: net.hostFirewallRules() as pulumi.Output<unknown> };
    });
    type Rule = { group: string; key: string; protocol: string; ports?: { min: number }; cidr: string };
    const fromHost = (build.outputs.rules.value as Rule[]).map(
      (r) =>
        `ssept-chi-uc-${r.group}-${r.key} ${r.protocol === "any" ? "" : r.protocol}/${r.ports?.min ?? ""} ${r.cidr}`,
    );
    const declared = byType(build, RULE).map(
      (r) => `${r.name} ${r.inputs.protocol ?? ""}/${r.inputs.portRangeMin ?? ""} ${r.inputs.remoteIpPrefix}`,
    );
    expect(fromHost.sort()).toEqual(declared.sort());
    expect(declared).toContain("ssept-chi-uc-nodes-peer-1-wireguard udp/51820 129.114.20.1/32");
  });
});

describe("allowPeers", () => {
  test("refuses a known address already opened, and declares nothing for it", async () => {
    let refused = "";
    const build = await runUnderMocks(() => {
      const net = new Network(
        "ssept",
        computeArgs(testProvider("kvm-tacc"), { peerAddresses: ["129.114.77.8"] }),
      );
      try {
        net.allowPeers(["129.114.77.8/32"]);
      } catch (e) {
        refused = (e as Error).message;
      }
    });
    expect(refused).toBe('peerAddresses[1] = "129.114.77.8/32": the same address as peerAddresses[0]');
    expect(byType(build, RULE).filter((r) => r.name.includes("-peer-1-"))).toEqual([]);
  });
});

describe("Network refuses bad input before it registers anything", () => {
  // The checks run before super(), so no Pulumi runtime is needed and none is touched.
  const unused = {} as openstack.Provider;
  test.each([
    [{ peerAddresses: ["192.168.50.12"] }, 'peerAddresses[0] = "192.168.50.12": 192.168.0.0/16 (private)'],
    [{ peerAddresses: ["129.114.5.0/24"] }, "expected a single address (/32)"],
    [{ peerAddresses: ["129.114.0.9"], adminCidrs: ["129.114.0.9/32"] }, "also an adminCidrs entry"],
    [{ floatingIps: ["ingress", "ingress"] }, 'floatingIps lists "ingress" twice'],
    [{ floatingIps: ["Ingress IP"] }, 'floatingIps[0] = "Ingress IP"'],
    [{ environment: "production", adminCidrs: ["0.0.0.0/0"] }, "in production"],
    [{ subnetCidr: "192.168.50.0" }, 'subnetCidr = "192.168.50.0"'],
    [
      { peerAddresses: [pulumi.output("129.114.20.30"), "129.114.5.999"] },
      'peerAddresses[1] = "129.114.5.999": expected the public IPv4 address',
    ],
  ])("%j", (change, message) => {
    expect(() => new Network("bad", computeArgs(unused, change as Partial<NetworkArgs>))).toThrow(message);
  });
});
