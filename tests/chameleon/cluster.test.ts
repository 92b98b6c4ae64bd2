import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import * as pulumi from "@pulumi/pulumi";
import {
  ClusterNetwork,
  ClusterNode,
  ClusterReservations,
  K3sCluster,
  K3sClusterArgs,
} from "../../components/chameleon/cluster";
import { gpuFloatingIpRoles, gpuPlacement, planNodes } from "../../components/chameleon/clusterNodes";
import { hostFirewallRuleset } from "../../components/chameleon/hostFirewall";
import {
  DATA_MOUNT_POINT,
  k3sAgentConfig,
  k3sServerConfig,
  rewriteKubeconfigServer,
  SCRIPTS_DIR,
} from "../../components/chameleon/k3sCommands";
import { DATA_VOLUME_NODE_LABEL, GPU_NODE_LABEL, GPU_NODE_TAINT } from "../../components/contracts";
import { labelArg, taintArg } from "../../components/chameleon/nodeScheduling";
import { securityRules } from "../../components/chameleon/securityRules";
import { ChameleonCluster, loadConfig } from "../../stacks/config";
import { SiteId } from "../../components/chameleon/sites";
import { byType, one, ResourceRecord, runUnderMocks } from "../harness";
import { mockIdOf } from "../mockState";
import { testProvider } from "./chameleonKit";

const INSTANCE = "openstack:compute/instance:Instance";
const PORT = "openstack:networking/port:Port";
const FIP_ASSOCIATE = "openstack:networking/floatingIpAssociate:FloatingIpAssociate";
const VOLUME = "openstack:blockstorage/volume:Volume";
const VOLUME_ATTACH = "openstack:compute/volumeAttach:VolumeAttach";
const COMMAND = "command:remote:Command";
const PASSWORD = "random:index/randomPassword:RandomPassword";

const NOW = new Date("2027-01-05T15:00:00Z");
const WINDOW = "2027-01-05T14:00Z/4h";
const SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nmock-key-for-tests\n-----END OPENSSH PRIVATE KEY-----";
const INGRESS_IP = "129.114.20.30";
const GPU_IP = "192.5.87.44";
const GPU_RESERVATION = "6f0e3c2a-9d5b-4b7e-8c1a-2b3c4d5e6f70";
const GPU_FLAVOR = "reservation:6f0e3c2a-9d5b-4b7e-8c1a-2b3c4d5e6f70";

type Build = Awaited<ReturnType<typeof runUnderMocks>>;

interface Scenario {
  gpuSite: SiteId;
  windowActive: boolean;
  agentCount?: number;
}

function clusterConfig(s: Scenario): ChameleonCluster {
  const config = loadConfig(
    {
      environment: "staging",
      computeSite: "kvm-tacc",
      gpuSite: s.gpuSite,
      objectStoreSite: "chi-tacc",
      kvmTaccCredentialId: "kvm-id",
      kvmTaccCredentialSecret: "kvm-secret",
      chiTaccCredentialId: "tacc-id",
      chiTaccCredentialSecret: "tacc-secret",
      chiUcCredentialId: "uc-id",
      chiUcCredentialSecret: "uc-secret",
      adminCidrs: '["129.114.0.0/16"]',
      keyPairName: "ssept-staging",
      sshPrivateKey: SSH_KEY,
      agentCount: String(s.agentCount ?? 2),
      gpuNodeCount: "1",
      gpuWindows: JSON.stringify([WINDOW]),
      trainerImage: "ghcr.io/x/trainer:0.1.0",
      mlflowImage: "ghcr.io/x/mlflow:0.1.0",
      tritonImage: "nvcr.io/nvidia/tritonserver:24.12-py3",
      gatewayImage: "ghcr.io/x/gateway:0.1.0",
      simulatorImage: "ghcr.io/x/simulator:0.1.0",
    },
    { now: s.windowActive ? NOW : new Date("2027-01-04T12:00:00Z") },
  );
  if (config.cluster.mode !== "chameleon") throw new Error("expected chameleon mode");
  return config.cluster;
}

/** The rules the chi-uc network would declare: the GPU subnet, the admin network, the server and the gateway as peers. */
const UC_RULES = securityRules({
  environment: "staging",
  adminCidrs: ["129.114.0.0/16"],
  subnetCidr: "192.168.60.0/24",
  peerAddresses: [INGRESS_IP, "129.114.20.1"],
  openHttp: false,
  servesIngress: false,
});

function network(prefix: string, floatingIps: Record<string, string>): ClusterNetwork {
  return {
    hostFirewallRules: () => pulumi.output(UC_RULES),
    networkId: pulumi.output(`${prefix}-network-id`),
    securityGroupId: pulumi.output(`${prefix}-nodes-sg`),
    ingressSecurityGroupId: "ingress" in floatingIps ? pulumi.output(`${prefix}-ingress-sg`) : undefined,
    floatingIps: Object.fromEntries(
      Object.entries(floatingIps).map(([role, address]) => [role, { address: pulumi.output(address) }]),
    ),
  };
}

function argsFor(s: Scenario): K3sClusterArgs {
  const config = clusterConfig(s);
  const crossSite = s.gpuSite !== "kvm-tacc";
  const reservations: ClusterReservations = {
    serverFlavorName: "reservation:server-flavor",
    agentFlavorName: "reservation:agent-flavor",
    activeGpu: config.gpu.activeWindow
      ? {
          window: config.gpu.activeWindow,
          reservationId: pulumi.output(GPU_RESERVATION),
          flavorName: crossSite ? undefined : pulumi.output(GPU_FLAVOR),
        }
      : undefined,
  };
  return {
    environment: "staging",
    config,
    compute: { provider: testProvider("kvm-tacc"), network: network("kvm", { ingress: INGRESS_IP }) },
    gpuSite: crossSite
      ? { provider: testProvider(s.gpuSite), network: network("uc", { "gpu-0": GPU_IP }) }
      : undefined,
    reservations,
  };
}

async function build(s: Scenario): Promise<Build> {
  return runUnderMocks(() => {
    const cluster = new K3sCluster("k3s", argsFor(s));
    return {
      kubeconfig: cluster.kubeconfig,
      nodes: cluster.nodes as pulumi.Output<unknown>,
      serverPublicIp: cluster.serverPublicIp,
    };
  });
}

const urnOf = (b: Build, type: string, name: string) => one(b, type, name).urn;
const command = (b: Build, role: string) => one(b, COMMAND, `k3s-${role}`);
const env = (r: ResourceRecord) => r.inputs.environment as Record<string, string>;
const connection = (r: ResourceRecord) =>
  r.inputs.connection as { host: string; user: string; privateKey: string; proxy?: Record<string, unknown> };
const nodes = (b: Build) => b.outputs.nodes.value as ClusterNode[];
const nodeNamed = (b: Build, key: string) => {
  const found = nodes(b).find((n) => n.name.endsWith(key));
  if (!found) throw new Error(`no node ${key}`);
  return found;
};
const k3sConfigOf = (r: ResourceRecord) => yaml.load(env(r).SSEPT_K3S_CONFIG) as Record<string, unknown>;
const sha256 = (file: string) =>
  crypto
    .createHash("sha256")
    .update(fs.readFileSync(path.join(SCRIPTS_DIR, file), "utf8"))
    .digest("hex");

describe("K3sCluster, GPU at the compute site (KVM flavor), window active", () => {
  let b: Build;
  beforeAll(async () => {
    b = await build({ gpuSite: "kvm-tacc", windowActive: true });
  });

  test("a server, two agents and one GPU node, each on a port of the site network", () => {
    const names = byType(b, INSTANCE).map((r) => r.inputs.name);
    expect(names.sort()).toEqual([
      "ssept-staging-gpu-w20270105t1400-0",
      "ssept-staging-k3s-agent-0",
      "ssept-staging-k3s-agent-1",
      "ssept-staging-k3s-server",
    ]);
    for (const r of byType(b, INSTANCE)) {
      const portName = `${r.name}-port`;
      expect(r.inputs.networks).toEqual([{ port: mockIdOf(PORT, portName) }]);
      expect(r.inputs.keyPair).toBe("ssept-staging");
      expect(one(b, PORT, portName).inputs.networkId).toBe("kvm-network-id");
    }
  });

  test("VMs boot the Ubuntu image from the reserved flavors; the GPU node the CUDA image from the GPU flavor", () => {
    const server = one(b, INSTANCE, "k3s-server").inputs;
    expect(server).toMatchObject({ imageName: "CC-Ubuntu24.04", flavorName: "reservation:server-flavor" });
    expect(one(b, INSTANCE, "k3s-agent-0").inputs.flavorName).toBe("reservation:agent-flavor");
    const gpu = one(b, INSTANCE, "k3s-gpu-0").inputs;
    expect(gpu).toMatchObject({ imageName: "CC-Ubuntu24.04-CUDA", flavorName: GPU_FLAVOR });
    expect(gpu.schedulerHints).toBeUndefined();
  });

  test("only the server holds a floating IP, and only the server is in the ingress group", () => {
    expect(byType(b, FIP_ASSOCIATE).map((r) => [r.name, r.inputs])).toEqual([
      ["k3s-server-fip", { floatingIp: INGRESS_IP, portId: mockIdOf(PORT, "k3s-server-port") }],
    ]);
    expect(one(b, PORT, "k3s-server-port").inputs.securityGroupIds).toEqual([
      "kvm-nodes-sg",
      "kvm-ingress-sg",
    ]);
    expect(one(b, PORT, "k3s-agent-0-port").inputs.securityGroupIds).toEqual(["kvm-nodes-sg"]);
    expect(one(b, PORT, "k3s-gpu-0-port").inputs.securityGroupIds).toEqual(["kvm-nodes-sg"]);
  });

  test("private nodes are reached through the server's floating IP as bastion, as cc, with the secret key", () => {
    const gpuSteps = ["gpu-0-install-nvidia-toolkit", "gpu-0-check-nvidia-runtime"];
    for (const key of ["agent-0", "agent-1", "gpu-0"]) {
      for (const step of [
        `${key}-accept-env`,
        `${key}-install`,
        ...gpuSteps.filter((s) => s.startsWith(key)),
      ]) {
        const r = command(b, step);
        const c = connection(r);
        expect(c.host).toBe(nodeNamed(b, key.replace("gpu-", "gpu-w20270105t1400-")).privateIp);
        expect(c.user).toBe("cc");
        expect(c.privateKey).toBe(SSH_KEY);
        expect(c.proxy).toMatchObject({ host: INGRESS_IP, user: "cc", privateKey: SSH_KEY });
        // The SDK marks the whole connection secret once anything in it is.
        expect(r.secretPaths).toContain("connection");
      }
    }
    const server = connection(command(b, "server-install"));
    expect(server).toMatchObject({ host: INGRESS_IP, user: "cc" });
    expect(server.proxy).toBeUndefined();
  });

  test("the GPU node joins with the GPU label and taint and the nvidia default runtime", () => {
    const r = command(b, "gpu-0-install");
    expect(r.inputs.stdin).toBe(fs.readFileSync(path.join(SCRIPTS_DIR, "install-k3s.sh"), "utf8"));
    expect(env(r).SSEPT_K3S_ROLE).toBe("agent");
    const config = k3sConfigOf(r);
    expect(config["node-label"]).toEqual([labelArg(GPU_NODE_LABEL)]);
    expect(config["node-taint"]).toEqual([taintArg(GPU_NODE_TAINT)]);
    expect(config["node-label"]).toEqual(["node-role=gpu"]);
    expect(config["node-taint"]).toEqual(["nvidia.com/gpu=present:NoSchedule"]);
    expect(config["default-runtime"]).toBe("nvidia");
    expect(config.server).toBe(`https://${nodeNamed(b, "k3s-server").privateIp}:6443`);
    expect(config["node-external-ip"]).toBeUndefined();
    const toolkit = command(b, "gpu-0-install-nvidia-toolkit");
    expect(toolkit.inputs.stdin).toBe(
      fs.readFileSync(path.join(SCRIPTS_DIR, "install-nvidia-toolkit.sh"), "utf8"),
    );
    expect(env(toolkit)).toEqual({ SSEPT_NVIDIA_CTK_VERSION: expect.stringMatching(/^\d+\.\d+\.\d+$/) });
    const check = command(b, "gpu-0-check-nvidia-runtime");
    expect(check.inputs.stdin).toBe(
      fs.readFileSync(path.join(SCRIPTS_DIR, "check-nvidia-runtime.sh"), "utf8"),
    );
    expect(check.inputs.environment).toEqual({});
    // CPU agents carry neither.
    const agent = k3sConfigOf(command(b, "agent-0-install"));
    expect(agent["node-label"]).toBeUndefined();
    expect(agent["node-taint"]).toBeUndefined();
  });

  test("one Cinder volume of dataVolumeGb, attached to the server, prepared by its id before k3s", () => {
    const volumes = byType(b, VOLUME);
    expect(volumes.map((r) => [r.name, r.inputs.size])).toEqual([["k3s-data", 100]]);
    const attach = one(b, VOLUME_ATTACH, "k3s-data-attach");
    expect(attach.inputs).toEqual({
      instanceId: mockIdOf(INSTANCE, "k3s-server"),
      volumeId: mockIdOf(VOLUME, "k3s-data"),
    });
    expect(attach.provider).toBe(one(b, INSTANCE, "k3s-server").provider);
    const prepare = command(b, "server-prepare-volume");
    expect(env(prepare)).toEqual({
      SSEPT_VOLUME_ID: mockIdOf(VOLUME, "k3s-data"),
      SSEPT_MOUNT_POINT: "/var/lib/rancher/k3s/storage",
    });
    expect(DATA_MOUNT_POINT).toBe("/var/lib/rancher/k3s/storage");
    expect(prepare.dependencies).toEqual(
      expect.arrayContaining([attach.urn, command(b, "server-accept-env").urn]),
    );
  });

  test("order: attach → prepare-volume → install-server → agents and GPU agents → read-kubeconfig", () => {
    const deps = (role: string) => command(b, role).dependencies;
    expect(deps("server-install")).toContain(command(b, "server-prepare-volume").urn);
    // One install script for every role, told which one by a variable.
    for (const [step, role] of [
      ["server-install", "server"],
      ["agent-0-install", "agent"],
      ["agent-1-install", "agent"],
      ["gpu-0-install", "agent"],
    ]) {
      expect(command(b, step).inputs.stdin).toBe(
        fs.readFileSync(path.join(SCRIPTS_DIR, "install-k3s.sh"), "utf8"),
      );
      expect(env(command(b, step)).SSEPT_K3S_ROLE).toBe(role);
    }
    // A GPU node: the toolkit before k3s starts (not waiting for the server), the runtime check after.
    expect(deps("gpu-0-install-nvidia-toolkit")).toContain(command(b, "gpu-0-accept-env").urn);
    expect(deps("gpu-0-install-nvidia-toolkit")).not.toContain(command(b, "server-install").urn);
    expect(deps("gpu-0-install")).toContain(command(b, "gpu-0-install-nvidia-toolkit").urn);
    expect(deps("gpu-0-check-nvidia-runtime")).toContain(command(b, "gpu-0-install").urn);
    for (const key of ["agent-0", "agent-1", "gpu-0"]) {
      expect(deps(`${key}-install`)).toEqual(
        expect.arrayContaining([command(b, "server-install").urn, command(b, `${key}-accept-env`).urn]),
      );
      // Agents do not wait for each other.
      for (const other of ["agent-0", "agent-1", "gpu-0"].filter((o) => o !== key)) {
        expect(deps(`${key}-install`)).not.toContain(command(b, `${other}-install`).urn);
      }
    }
    expect(deps("server-read-kubeconfig")).toEqual(
      expect.arrayContaining(
        [
          "server-install",
          "agent-0-install",
          "agent-1-install",
          "gpu-0-install",
          "gpu-0-check-nvidia-runtime",
        ].map((r) => command(b, r).urn),
      ),
    );
    // SSH waits for the instance and, behind the bastion, for the bastion's floating IP.
    expect(deps("agent-0-accept-env")).toEqual(
      expect.arrayContaining([
        urnOf(b, INSTANCE, "k3s-agent-0"),
        urnOf(b, INSTANCE, "k3s-server"),
        urnOf(b, FIP_ASSOCIATE, "k3s-server-fip"),
      ]),
    );
  });

  test("every install step gets the same join token, only as a secret variable, never on the command line", () => {
    const [password] = byType(b, PASSWORD);
    expect(password.inputs).toMatchObject({ length: 48, special: false });
    const installs = ["server-install", "agent-0-install", "agent-1-install", "gpu-0-install"].map((r) =>
      command(b, r),
    );
    const tokens = new Set(installs.map((r) => env(r).SSEPT_K3S_TOKEN));
    expect(tokens.size).toBe(1);
    const [token] = tokens;
    expect(token).toMatch(/^mockpw-/);
    for (const r of installs) {
      expect(r.secretPaths).toContain("environment");
      expect(String(r.inputs.create)).not.toContain(token);
      expect(r.inputs.create).toContain(
        "--preserve-env=SSEPT_K3S_CONFIG,SSEPT_K3S_ROLE,SSEPT_K3S_TOKEN,SSEPT_K3S_VERSION",
      );
      expect(env(r).SSEPT_K3S_VERSION).toBe("v1.31.6+k3s1");
    }
    expect(b.secretValues).toContain(token);
  });

  test("the kubeconfig is a secret output pointing at the floating IP, keeping the server's credentials", () => {
    const out = b.outputs.kubeconfig;
    expect(out.secret).toBe(true);
    const doc = yaml.load(out.value as string) as {
      clusters: { cluster: { server: string; "certificate-authority-data": string } }[];
      users: { user: Record<string, string> }[];
    };
    expect(doc.clusters.map((c) => c.cluster.server)).toEqual([`https://${INGRESS_IP}:6443`]);
    expect(doc.clusters[0].cluster["certificate-authority-data"]).toMatch(/^[A-Za-z0-9+/=]+$/);
    expect(Object.keys(doc.users[0].user).sort()).toEqual(["client-certificate-data", "client-key-data"]);
    const read = command(b, "server-read-kubeconfig");
    expect(read.inputs.logging).toBe("stderr");
    expect(read.inputs.environment).toEqual({});
    // The server's certificate names the floating IP.
    expect(k3sConfigOf(command(b, "server-install"))["tls-san"]).toEqual([INGRESS_IP]);
  });

  test("each step re-runs when its script or its machine changes, and on nothing else", () => {
    const trigger = (role: string) => command(b, role).inputs.triggers as string[];
    expect(trigger("server-prepare-volume")).toEqual([
      sha256("prepare-volume.sh"),
      mockIdOf(INSTANCE, "k3s-server"),
    ]);
    expect(trigger("agent-1-install")).toEqual([
      sha256("install-k3s.sh"),
      mockIdOf(INSTANCE, "k3s-agent-1"),
      mockIdOf(INSTANCE, "k3s-server"),
    ]);
    expect(trigger("gpu-0-install")[0]).toBe(sha256("install-k3s.sh"));
    expect(trigger("gpu-0-install-nvidia-toolkit")).toEqual([
      sha256("install-nvidia-toolkit.sh"),
      mockIdOf(INSTANCE, "k3s-gpu-0"),
    ]);
    // The check reads what k3s wrote at its last start: it runs again whenever k3s may have restarted.
    expect(trigger("gpu-0-check-nvidia-runtime")).toEqual([
      sha256("check-nvidia-runtime.sh"),
      mockIdOf(INSTANCE, "k3s-gpu-0"),
      mockIdOf(INSTANCE, "k3s-server"),
      "v1.31.6+k3s1",
      env(command(b, "gpu-0-install")).SSEPT_K3S_CONFIG,
      env(command(b, "gpu-0-install-nvidia-toolkit")).SSEPT_NVIDIA_CTK_VERSION,
    ]);
    for (const r of byType(b, COMMAND)) expect(r.inputs.addPreviousOutputInEnv).toBe(false);
  });

  test("a departing GPU node is removed from the cluster by the server, on delete only", () => {
    const r = command(b, "gpu-0-deregister");
    expect(r.inputs.create).toBeUndefined();
    expect(r.inputs.delete).toContain("--preserve-env=SSEPT_NODE_NAME");
    expect(env(r)).toEqual({ SSEPT_NODE_NAME: "ssept-staging-gpu-w20270105t1400-0" });
    expect(connection(r).host).toBe(INGRESS_IP);
    expect(r.dependencies).toContain(command(b, "gpu-0-install").urn);
  });

  test("the server runs vxlan flannel on its private address when every node shares the site", () => {
    const config = k3sConfigOf(command(b, "server-install"));
    const server = nodeNamed(b, "k3s-server");
    expect(config).toMatchObject({ "node-ip": server.privateIp, "advertise-address": server.privateIp });
    expect(config["flannel-backend"]).toBeUndefined();
    expect(config["node-external-ip"]).toBeUndefined();
  });

  test("every OpenStack resource uses the compute site's explicit provider", () => {
    const providers = new Set(
      b.resources.filter((r) => r.type.startsWith("openstack:")).map((r) => r.provider),
    );
    expect([...providers]).toEqual([expect.stringMatching(/::provider-kvm-tacc$/)]);
  });

  test("the nodes output lists every node with its role and addresses", () => {
    expect(nodes(b).map((n) => [n.name, n.role, n.site, n.publicIp])).toEqual([
      ["ssept-staging-k3s-server", "server", "kvm-tacc", INGRESS_IP],
      ["ssept-staging-k3s-agent-0", "agent", "kvm-tacc", undefined],
      ["ssept-staging-k3s-agent-1", "agent", "kvm-tacc", undefined],
      ["ssept-staging-gpu-w20270105t1400-0", "gpu", "kvm-tacc", undefined],
    ]);
    for (const n of nodes(b)) expect(n.privateIp).toMatch(/^192\.168\.50\.\d+$/);
  });
});

describe("K3sCluster, bare-metal GPU at another site (chi-uc), window active", () => {
  let b: Build;
  beforeAll(async () => {
    b = await build({ gpuSite: "chi-uc", windowActive: true });
  });

  test("the GPU node boots the baremetal flavor on the reserved host, at its own site", () => {
    const gpu = one(b, INSTANCE, "k3s-gpu-0");
    expect(gpu.inputs).toMatchObject({
      flavorName: "baremetal",
      imageName: "CC-Ubuntu24.04-CUDA",
      schedulerHints: [{ additionalProperties: { reservation: GPU_RESERVATION } }],
    });
    expect(gpu.provider).toMatch(/::provider-chi-uc$/);
    expect(one(b, PORT, "k3s-gpu-0-port").inputs).toMatchObject({
      networkId: "uc-network-id",
      securityGroupIds: ["uc-nodes-sg"],
    });
    expect(one(b, FIP_ASSOCIATE, "k3s-gpu-0-fip").inputs).toEqual({
      floatingIp: GPU_IP,
      portId: mockIdOf(PORT, "k3s-gpu-0-port"),
    });
    expect(one(b, INSTANCE, "k3s-server").provider).toMatch(/::provider-kvm-tacc$/);
  });

  test("the bare-metal node gets the site's security group rules as its host firewall, before anything else is installed", () => {
    const firewall = command(b, "gpu-0-host-firewall");
    expect(connection(firewall).host).toBe(GPU_IP);
    expect(env(firewall)).toEqual({
      SSEPT_NFT_RULESET: hostFirewallRuleset({ rules: UC_RULES, groups: ["nodes"] }),
    });
    expect(firewall.dependencies).toContain(command(b, "gpu-0-accept-env").urn);
    for (const step of ["gpu-0-install-nvidia-toolkit", "gpu-0-install"]) {
      expect([step, command(b, step).dependencies]).toEqual([step, expect.arrayContaining([firewall.urn])]);
    }
    // KVM@TACC enforces security groups: no host firewall on the server and the agents.
    expect(
      byType(b, COMMAND)
        .map((r) => r.name)
        .filter((n) => n.endsWith("-host-firewall")),
    ).toEqual(["k3s-gpu-0-host-firewall"]);
  });

  test("it is reached directly over its floating IP and joins the server's floating IP over WireGuard", () => {
    const r = command(b, "gpu-0-install");
    expect(connection(r).host).toBe(GPU_IP);
    expect(connection(r).proxy).toBeUndefined();
    const config = k3sConfigOf(r);
    expect(config).toMatchObject({
      server: `https://${INGRESS_IP}:6443`,
      "node-external-ip": GPU_IP,
      "node-label": ["node-role=gpu"],
      "node-taint": ["nvidia.com/gpu=present:NoSchedule"],
    });
    const server = k3sConfigOf(command(b, "server-install"));
    expect(server).toMatchObject({
      "flannel-backend": "wireguard-native",
      "flannel-external-ip": true,
      "node-external-ip": INGRESS_IP,
      "tls-san": [INGRESS_IP],
      // In-cluster clients keep reaching the API inside the subnet.
      "advertise-address": nodeNamed(b, "k3s-server").privateIp,
    });
    // Local agents still join over the private network.
    expect(k3sConfigOf(command(b, "agent-0-install")).server).toBe(
      `https://${nodeNamed(b, "k3s-server").privateIp}:6443`,
    );
  });
});

describe("K3sCluster outside a GPU window", () => {
  let b: Build;
  beforeAll(async () => {
    b = await build({ gpuSite: "chi-uc", windowActive: false, agentCount: 1 });
  });

  test("declares no GPU node, no GPU step and no GPU floating IP", () => {
    expect(
      byType(b, INSTANCE)
        .map((r) => r.name)
        .sort(),
    ).toEqual(["k3s-agent-0", "k3s-server"]);
    expect(byType(b, COMMAND).filter((r) => r.name.includes("gpu"))).toEqual([]);
    expect(byType(b, FIP_ASSOCIATE).map((r) => r.name)).toEqual(["k3s-server-fip"]);
    expect(command(b, "server-read-kubeconfig").dependencies).toEqual(
      expect.arrayContaining([command(b, "server-install").urn, command(b, "agent-0-install").urn]),
    );
    expect(nodes(b).map((n) => n.role)).toEqual(["server", "agent"]);
  });

  test("the server keeps the WireGuard setup, so GPU windows come and go without reconfiguring it", () => {
    expect(k3sConfigOf(command(b, "server-install"))["flannel-backend"]).toBe("wireguard-native");
  });
});

describe("K3sCluster's data volume", () => {
  test("is protected: Pulumi refuses to delete or replace the disk Postgres and Prometheus live on", async () => {
    const options = new Map<string, pulumi.CustomResourceOptions>();
    await runUnderMocks(() => {
      pulumi.runtime.registerStackTransformation((t) => {
        options.set(t.name, t.opts);
        return undefined;
      });
      new K3sCluster("k3s", argsFor({ gpuSite: "kvm-tacc", windowActive: false }));
    });
    expect(options.get("k3s-data")?.protect).toBe(true);
    // Only the disk: the attachment and the machines may be replaced, the data stays.
    for (const [name, opts] of options)
      if (name !== "k3s-data") expect([name, opts.protect]).toEqual([name, undefined]);
  });
});

describe("K3sCluster refuses wiring it cannot build", () => {
  const attempt = async (mutate: (a: K3sClusterArgs) => K3sClusterArgs, s: Scenario) => {
    let error: Error | undefined;
    const b = await runUnderMocks(() => {
      try {
        new K3sCluster("k3s", mutate(argsFor(s)));
      } catch (e) {
        error = e as Error;
      }
    });
    // Refused before declaring anything: only the test's own providers were registered.
    expect(b.resources.filter((r) => !r.type.startsWith("pulumi:"))).toEqual([]);
    if (error) throw error;
  };

  test("a bare-metal site's network without the rules for the host firewall", async () => {
    await expect(
      attempt(
        (a) => {
          const withoutRules = { ...a.gpuSite!.network, hostFirewallRules: undefined };
          return { ...a, gpuSite: { ...a.gpuSite!, network: withoutRules } };
        },
        { gpuSite: "chi-uc", windowActive: true },
      ),
    ).rejects.toThrow(
      /ssept-staging-gpu-.* is at CHI@UC, a bare-metal site where security groups are not enforced/,
    );
  });

  test("a compute network without the ingress floating IP", async () => {
    await expect(
      attempt(
        (a) => ({ ...a, compute: { ...a.compute, network: network("kvm", { sporadic: INGRESS_IP }) } }),
        { gpuSite: "kvm-tacc", windowActive: false },
      ),
    ).rejects.toThrow(/must allocate the "ingress" floating IP/);
  });

  test("a GPU site elsewhere without its provider and network", async () => {
    await expect(
      attempt((a) => ({ ...a, gpuSite: undefined }), { gpuSite: "chi-uc", windowActive: true }),
    ).rejects.toThrow(/gpuSite chi-uc differs from computeSite kvm-tacc/);
  });

  test("a GPU site network without the node's floating IP", async () => {
    await expect(
      attempt((a) => ({ ...a, gpuSite: { ...a.gpuSite!, network: network("uc", {}) } }), {
        gpuSite: "chi-uc",
        windowActive: true,
      }),
    ).rejects.toThrow(/must allocate the "gpu-0" floating IP/);
  });

  test("a KVM GPU reservation without its flavor", async () => {
    await expect(
      attempt(
        (a) => ({
          ...a,
          reservations: {
            ...a.reservations,
            activeGpu: { ...a.reservations.activeGpu!, flavorName: undefined },
          },
        }),
        { gpuSite: "kvm-tacc", windowActive: true },
      ),
    ).rejects.toThrow(/gpuFlavor g1\.h100\.pci\.1/);
  });
});

describe("pure planning and rendering", () => {
  test("planNodes: names, sites and access of every node; GPU nodes only with a window", () => {
    const config = clusterConfig({ gpuSite: "chi-uc", windowActive: true });
    const plan = planNodes("production", config, config.gpu.activeWindow);
    expect(plan.map((n) => [n.key, n.hostname, n.site, n.access, n.floatingIpRole])).toEqual([
      ["server", "ssept-production-k3s-server", "kvm-tacc", "direct", "ingress"],
      ["agent-0", "ssept-production-k3s-agent-0", "kvm-tacc", "bastion", undefined],
      ["agent-1", "ssept-production-k3s-agent-1", "kvm-tacc", "bastion", undefined],
      ["gpu-0", "ssept-production-gpu-w20270105t1400-0", "chi-uc", "direct", "gpu-0"],
    ]);
    expect(planNodes("production", config).map((n) => n.role)).toEqual(["server", "agent", "agent"]);
    expect(gpuFloatingIpRoles(config)).toEqual(["gpu-0"]);
    expect(gpuFloatingIpRoles(clusterConfig({ gpuSite: "kvm-tacc", windowActive: true }))).toEqual([]);
  });

  test("gpuPlacement: bare metal by reservation hint, KVM by reserved flavor", () => {
    expect(
      gpuPlacement({ kind: "physical:host", nodeType: "gpu_a100_pcie" }, { reservationId: "r-1" }),
    ).toEqual({
      flavorName: "baremetal",
      schedulerHints: [{ additionalProperties: { reservation: "r-1" } }],
    });
    expect(
      gpuPlacement(
        { kind: "flavor:instance", flavor: "g1.h100.pci.1" },
        { reservationId: "r-2", flavorName: "f-2" },
      ),
    ).toEqual({ flavorName: "f-2" });
  });

  test("rewriteKubeconfigServer keeps everything but the server address", () => {
    const original = [
      "apiVersion: v1",
      "clusters:",
      "- cluster:",
      "    certificate-authority-data: Q0E=",
      "    server: https://127.0.0.1:6443",
      "  name: default",
      "users:",
      "- name: default",
      "  user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}",
      "",
    ].join("\n");
    const rewritten = yaml.load(rewriteKubeconfigServer(original, INGRESS_IP));
    const expected = yaml.load(original) as { clusters: { cluster: { server: string } }[] };
    expected.clusters[0].cluster.server = `https://${INGRESS_IP}:6443`;
    expect(rewritten).toEqual(expected);
    expect(() => rewriteKubeconfigServer("apiVersion: v1\nclusters: []\n", INGRESS_IP)).toThrow(
      /no clusters/,
    );
    expect(() => rewriteKubeconfigServer("clusters: [", INGRESS_IP)).toThrow(/not YAML/);
    expect(() => rewriteKubeconfigServer(original, "")).toThrow(/is not an IPv4 address/);
  });

  test("k3s configs refuse addresses that are not IPv4", () => {
    expect(() =>
      k3sServerConfig({ nodeName: "s", privateIp: "192.168.50.300", publicIp: INGRESS_IP, crossSite: false }),
    ).toThrow(/server private IP "192.168.50.300"/);
    expect(() =>
      k3sAgentConfig({
        nodeName: "a",
        privateIp: "192.168.50.7",
        serverUrl: "https://x:6443",
        publicIp: "",
        gpu: false,
      }),
    ).toThrow(/agent floating IP ""/);
  });

  test("the server disables k3s's own RuntimeClasses, encrypts Secrets and marks itself as the data-volume node", () => {
    const config = yaml.load(
      k3sServerConfig({ nodeName: "s", privateIp: "192.168.50.10", publicIp: INGRESS_IP, crossSite: false }),
    );
    expect(config).toEqual({
      "node-name": "s",
      "node-ip": "192.168.50.10",
      "advertise-address": "192.168.50.10",
      "tls-san": [INGRESS_IP],
      "token-file": "/etc/rancher/k3s/token",
      "write-kubeconfig-mode": "0600",
      "secrets-encryption": true,
      disable: ["runtimes"],
      "node-label": [labelArg(DATA_VOLUME_NODE_LABEL)],
    });
  });
});
