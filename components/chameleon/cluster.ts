import * as command from "@pulumi/command";
import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { ChameleonCluster, GpuWindow } from "./clusterSpec";
import { Site, SiteId } from "./sites";
import {
  crossSiteGpu,
  gpuPlacement,
  NodePlan,
  NodeRole,
  planNodes,
  SERVER_FLOATING_IP_ROLE,
} from "./clusterNodes";
import { hostFirewallRuleset } from "./hostFirewall";
import {
  DATA_MOUNT_POINT,
  k3sAgentConfig,
  k3sServerConfig,
  k3sServerUrl,
  NVIDIA_CONTAINER_TOOLKIT_VERSION,
  remoteInvocation,
  remoteScript,
  rewriteKubeconfigServer,
  ScriptName,
  TRAEFIK_CRDS,
} from "./k3sCommands";
import { SecurityGroupRole, SecurityRule } from "./securityRules";

/** What the cluster needs of a site's network (the Network component fits it). */
export interface ClusterNetwork {
  networkId: pulumi.Input<string>;
  /** The group every node of the site gets. */
  securityGroupId: pulumi.Input<string>;
  /** The group of the node holding the `ingress` floating IP (public HTTPS), where there is one. */
  ingressSecurityGroupId?: pulumi.Input<string>;
  floatingIps: Readonly<Record<string, { address: pulumi.Output<string> }>>;
  /**
   * The rules of the site's security groups; required at a bare-metal site, where Neutron does not
   * enforce them and each node enforces them itself (`hostFirewall.ts`).
   */
  hostFirewallRules?(): pulumi.Input<SecurityRule[]>;
}

/** A Chameleon site the cluster builds machines at: its explicit provider and its network. */
export interface ClusterSite {
  provider: openstack.Provider;
  network: ClusterNetwork;
}

/** What the cluster needs of the Blazar reservations (the Reservations component fits it). */
export interface ClusterReservations {
  /** `reservation:<id>` flavors of the VM reservation. */
  serverFlavorName: pulumi.Input<string>;
  agentFlavorName: pulumi.Input<string>;
  /** Present only while a GPU window is active; GPU nodes exist only then. */
  activeGpu?: {
    window: GpuWindow;
    reservationId: pulumi.Input<string>;
    flavorName?: pulumi.Input<string>;
  };
}

export interface K3sClusterArgs {
  environment: string;
  config: ChameleonCluster;
  /**
   * The compute site (server and agents). Its network must allocate the `ingress` floating IP:
   * the server holds it and is the SSH bastion of every private node.
   */
  compute: ClusterSite;
  /**
   * The GPU site, only when it is another site than the compute site: its own provider and
   * network, with the floating IPs `gpuFloatingIpRoles(config)` names (`gpu-0`, ...). GPU nodes
   * there join over the server's floating IP with flannel over WireGuard. When the GPU site is
   * the compute site, GPU nodes share the compute network and are private nodes behind the bastion,
   * and this is left out.
   */
  gpuSite?: ClusterSite;
  reservations: ClusterReservations;
}

export interface ClusterNode {
  name: string;
  role: NodeRole;
  site: SiteId;
  privateIp: string;
  publicIp?: string;
}

const SSH_USER = "cc";
/** Instances take minutes to accept SSH after they turn ACTIVE (bare metal the longest). */
const DIAL = { dialErrorLimit: 60, perDialTimeout: 20 };

interface Machine {
  plan: NodePlan;
  instance: openstack.compute.Instance;
  privateIp: pulumi.Output<string>;
  publicIp?: pulumi.Output<string>;
  /** The resources SSH to this machine waits for. */
  reachable: pulumi.Resource[];
  connection: pulumi.Input<command.types.input.remote.ConnectionArgs>;
}

interface StepArgs {
  host: Machine;
  script: ScriptName;
  environment?: Record<string, pulumi.Input<string>>;
  /** Instances whose replacement makes the step run again, besides the host's. */
  alsoAfterReplacing?: openstack.compute.Instance[];
  /** Values whose change makes the step run again, besides its script and machines. */
  alsoWhenChanged?: pulumi.Input<string>[];
  dependsOn: pulumi.Resource[];
  /** `delete`: the script runs when the step is destroyed (or replaced), not when it is created. */
  runOn?: "create" | "delete";
  secretStdout?: boolean;
}

/**
 * The k3s cluster on Chameleon: one server and `agentCount` agents from the reserved VM flavors,
 * GPU agents while a GPU window is active, and a Cinder volume on the server for persistent
 * volumes. Nodes are installed over SSH with remote.Command, each step a script in `scripts/`;
 * the order is: volume attach → prepare-volume → install-k3s (server) → install-k3s on agents and
 * GPU agents in parallel → read-kubeconfig. A GPU node installs the NVIDIA container toolkit before
 * its k3s (while the server installs) and checks the nvidia runtime k3s found after it.
 * `kubeconfig` (secret) points at the server's floating IP.
 */
export class K3sCluster extends pulumi.ComponentResource {
  public readonly kubeconfig: pulumi.Output<string>;
  public readonly serverPublicIp: pulumi.Output<string>;
  public readonly serverPrivateIp: pulumi.Output<string>;
  public readonly nodes: pulumi.Output<ClusterNode[]>;
  public readonly dataVolumeId: pulumi.Output<string>;
  public readonly serverInstall: command.remote.Command;
  public readonly agentInstalls: command.remote.Command[];
  /** The k3s install of each GPU node; its toolkit install comes before it, its runtime check after. */
  public readonly gpuInstalls: command.remote.Command[];
  /** Every install step and the kubeconfig read: depend on these to run after the cluster is up. */
  public readonly installs: pulumi.Resource[];
  /** Done once k3s's packaged Traefik has established its CRDs (`TRAEFIK_CRDS`): Traefik objects depend on it. */
  public readonly traefik: command.remote.Command;

  private readonly resourceName: string;
  private readonly sshKey: pulumi.Output<string>;

  constructor(name: string, args: K3sClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    const { config, compute, reservations } = args;
    const active = config.gpu.nodeCount > 0 ? reservations.activeGpu : undefined;
    const plan = planNodes(args.environment, config, active?.window);
    const crossSite = crossSiteGpu(config);
    // Before anything is registered: a wiring mistake declares nothing.
    validate(args, plan, crossSite);
    super("ssept:chameleon:K3sCluster", name, {}, opts);
    this.resourceName = name;

    const siteOf = (node: NodePlan): ClusterSite =>
      node.site === config.sites.compute.id ? compute : args.gpuSite!;
    this.sshKey = pulumi.secret(config.sshPrivateKey);
    const token = new random.RandomPassword(
      `${name}-token`,
      { length: 48, special: false },
      { parent: this },
    );
    const joinToken = pulumi.secret(token.result);

    const machines = new Map<string, Machine>();
    let bastion: Machine | undefined;
    for (const node of plan) {
      const flavor =
        node.role === "server"
          ? { flavorName: reservations.serverFlavorName }
          : node.role === "agent"
            ? { flavorName: reservations.agentFlavorName }
            : gpuPlacement(config.gpu.reservation, active!);
      const machine = this.machine(node, siteOf(node), config.keyPairName, flavor, args.environment, bastion);
      machines.set(node.key, machine);
      if (node.role === "server") bastion = machine;
    }
    const server = machines.get("server")!;
    const agents = plan.filter((n) => n.role === "agent").map((n) => machines.get(n.key)!);
    const gpus = plan.filter((n) => n.role === "gpu").map((n) => machines.get(n.key)!);

    const volume = new openstack.blockstorage.Volume(
      `${name}-data`,
      {
        name: `ssept-${args.environment}-k3s-data`,
        size: config.dataVolumeGb,
        description: `Persistent volumes of the ssept-${args.environment} k3s cluster (${DATA_MOUNT_POINT})`,
      },
      // Postgres and Prometheus live here. Unlike a Swift container, a Cinder volume recreated under
      // the same name is a new, empty disk, so replacing or deleting it is refused outright;
      // docs/runbook.md says how to let it go on purpose.
      { parent: this, provider: compute.provider, protect: true },
    );
    const attach = new openstack.compute.VolumeAttach(
      `${name}-data-attach`,
      { instanceId: server.instance.id, volumeId: volume.id },
      { parent: this, provider: compute.provider },
    );

    const acceptEnv = new Map<Machine, command.remote.Command>();
    for (const machine of machines.values()) {
      acceptEnv.set(
        machine,
        this.step(`${machine.plan.key}-accept-env`, {
          host: machine,
          script: "accept-env",
          dependsOn: machine.reachable,
        }),
      );
    }
    // At a bare-metal site the node enforces its security groups' rules itself, before k3s opens a port.
    const firewalls = new Map<Machine, command.remote.Command>();
    for (const machine of machines.values()) {
      if (!siteInfo(config, machine.plan).bareMetal) continue;
      const network = siteOf(machine.plan).network;
      const groups: SecurityGroupRole[] = holdsIngress(machine.plan, network)
        ? ["nodes", "ingress"]
        : ["nodes"];
      firewalls.set(
        machine,
        this.step(`${machine.plan.key}-host-firewall`, {
          host: machine,
          script: "install-host-firewall",
          environment: {
            SSEPT_NFT_RULESET: pulumi
              .output(network.hostFirewallRules!())
              .apply((rules) => hostFirewallRuleset({ rules, groups })),
          },
          dependsOn: [acceptEnv.get(machine)!],
        }),
      );
    }
    /** What every later step on a machine waits for. */
    const setUp = (m: Machine) => [acceptEnv.get(m)!, ...(firewalls.has(m) ? [firewalls.get(m)!] : [])];

    const prepareVolume = this.step("server-prepare-volume", {
      host: server,
      script: "prepare-volume",
      environment: { SSEPT_VOLUME_ID: volume.id, SSEPT_MOUNT_POINT: DATA_MOUNT_POINT },
      dependsOn: [attach, ...setUp(server)],
    });

    const k3s = (role: "server" | "agent", k3sConfig: pulumi.Input<string>) => ({
      SSEPT_K3S_ROLE: role,
      SSEPT_K3S_VERSION: config.k3sVersion,
      SSEPT_K3S_TOKEN: joinToken,
      SSEPT_K3S_CONFIG: k3sConfig,
    });
    const serverPublicIp = server.publicIp!;
    this.serverInstall = this.step("server-install", {
      host: server,
      script: "install-k3s",
      environment: k3s(
        "server",
        pulumi
          .all([server.privateIp, serverPublicIp])
          .apply(([privateIp, publicIp]) =>
            k3sServerConfig({ nodeName: server.plan.hostname, privateIp, publicIp, crossSite }),
          ),
      ),
      dependsOn: [prepareVolume],
    });

    const agentConfig = (machine: Machine, gpu: boolean) =>
      pulumi
        .all([machine.privateIp, machine.publicIp, server.privateIp, serverPublicIp])
        .apply(([privateIp, publicIp, serverPrivate, serverPublic]) =>
          k3sAgentConfig({
            nodeName: machine.plan.hostname,
            privateIp,
            // A node at another site reaches the server only over its floating IP.
            serverUrl: k3sServerUrl(machine.plan.site === server.plan.site ? serverPrivate : serverPublic),
            publicIp: machine.plan.site === server.plan.site ? undefined : publicIp,
            gpu,
          }),
        );
    this.agentInstalls = agents.map((agent) =>
      this.step(`${agent.plan.key}-install`, {
        host: agent,
        script: "install-k3s",
        environment: k3s("agent", agentConfig(agent, false)),
        alsoAfterReplacing: [server.instance],
        dependsOn: [this.serverInstall, ...setUp(agent)],
      }),
    );
    const gpuRuntimeChecks: command.remote.Command[] = [];
    this.gpuInstalls = gpus.map((gpu) => {
      // k3s adds the nvidia runtime to containerd only when it finds the toolkit at start.
      const toolkit = this.step(`${gpu.plan.key}-install-nvidia-toolkit`, {
        host: gpu,
        script: "install-nvidia-toolkit",
        environment: { SSEPT_NVIDIA_CTK_VERSION: NVIDIA_CONTAINER_TOOLKIT_VERSION },
        dependsOn: setUp(gpu),
      });
      const k3sConfig = agentConfig(gpu, true);
      const install = this.step(`${gpu.plan.key}-install`, {
        host: gpu,
        script: "install-k3s",
        environment: k3s("agent", k3sConfig),
        alsoAfterReplacing: [server.instance],
        dependsOn: [this.serverInstall, ...setUp(gpu), toolkit],
      });
      // Reads the containerd config k3s writes at start, so it runs again whenever k3s may have restarted.
      gpuRuntimeChecks.push(
        this.step(`${gpu.plan.key}-check-nvidia-runtime`, {
          host: gpu,
          script: "check-nvidia-runtime",
          alsoAfterReplacing: [server.instance],
          alsoWhenChanged: [config.k3sVersion, k3sConfig, NVIDIA_CONTAINER_TOOLKIT_VERSION],
          dependsOn: [install],
        }),
      );
      return install;
    });
    // When a GPU node goes (its window ended, or it was replaced), the server forgets it.
    gpus.forEach((gpu, i) =>
      this.step(`${gpu.plan.key}-deregister`, {
        host: server,
        script: "remove-node",
        environment: { SSEPT_NODE_NAME: gpu.plan.hostname },
        alsoAfterReplacing: [gpu.instance],
        dependsOn: [this.gpuInstalls[i]],
        runOn: "delete",
      }),
    );

    const readKubeconfig = this.step("server-read-kubeconfig", {
      host: server,
      script: "read-kubeconfig",
      dependsOn: [this.serverInstall, ...this.agentInstalls, ...this.gpuInstalls, ...gpuRuntimeChecks],
      secretStdout: true,
    });

    this.traefik = this.step("server-wait-traefik", {
      host: server,
      script: "wait-traefik",
      environment: { SSEPT_TRAEFIK_CRDS: TRAEFIK_CRDS.join(" ") },
      dependsOn: [this.serverInstall],
    });

    this.kubeconfig = pulumi.secret(
      pulumi
        .all([readKubeconfig.stdout, serverPublicIp])
        .apply(([kubeconfig, publicIp]) => rewriteKubeconfigServer(kubeconfig, publicIp)),
    );
    this.serverPublicIp = serverPublicIp;
    this.serverPrivateIp = server.privateIp;
    this.dataVolumeId = volume.id;
    this.installs = [
      this.serverInstall,
      ...this.agentInstalls,
      ...this.gpuInstalls,
      ...gpuRuntimeChecks,
      readKubeconfig,
    ];
    this.nodes = pulumi.all(
      [...machines.values()].map((m) =>
        pulumi.all([m.privateIp, m.publicIp]).apply(([privateIp, publicIp]): ClusterNode => ({
          name: m.plan.hostname,
          role: m.plan.role,
          site: m.plan.site,
          privateIp,
          ...(publicIp === undefined ? {} : { publicIp }),
        })),
      ),
    );
    this.registerOutputs({
      kubeconfig: this.kubeconfig,
      serverPublicIp: this.serverPublicIp,
      nodes: this.nodes,
      dataVolumeId: this.dataVolumeId,
    });
  }

  /** A node: its port (fixed private IP, the site's security groups), instance and floating IP. */
  private machine(
    node: NodePlan,
    site: ClusterSite,
    keyPair: string,
    flavor: {
      flavorName: pulumi.Input<string>;
      schedulerHints?: openstack.types.input.compute.InstanceSchedulerHint[];
    },
    environment: string,
    bastion: Machine | undefined,
  ): Machine {
    const name = `${this.resourceName}-${node.key}`;
    const child = { parent: this, provider: site.provider };
    const securityGroupIds = [site.network.securityGroupId];
    if (holdsIngress(node, site.network)) securityGroupIds.push(site.network.ingressSecurityGroupId!);
    // A port of its own keeps the private IP across instance replacement, and is what the floating IP binds to.
    const port = new openstack.networking.Port(
      `${name}-port`,
      { name: node.hostname, networkId: site.network.networkId, securityGroupIds, adminStateUp: true },
      child,
    );
    const instance = new openstack.compute.Instance(
      name,
      {
        name: node.hostname,
        imageName: node.image,
        flavorName: flavor.flavorName,
        schedulerHints: flavor.schedulerHints,
        keyPair,
        networks: [{ port: port.id }],
        metadata: { "ssept-environment": environment, "ssept-role": node.role },
        tags: ["ssept", environment, `k3s-${node.role}`],
      },
      // Reserved capacity holds exactly the nodes: the old instance must go before its successor boots.
      { ...child, deleteBeforeReplace: true },
    );
    const privateIp = port.allFixedIps.apply((ips) => {
      if (!ips?.[0]) throw new Error(`port of ${node.hostname} has no fixed IP`);
      return ips[0];
    });

    let publicIp: pulumi.Output<string> | undefined;
    const reachable: pulumi.Resource[] = [instance];
    if (node.floatingIpRole) {
      const address = site.network.floatingIps[node.floatingIpRole]!.address;
      reachable.push(
        new openstack.networking.FloatingIpAssociate(
          `${name}-fip`,
          { floatingIp: address, portId: port.id },
          { ...child, dependsOn: [instance] },
        ),
      );
      publicIp = address;
    }
    const login = { user: SSH_USER, privateKey: this.sshKey, ...DIAL };
    let connection: Machine["connection"];
    if (node.access === "direct") {
      connection = { host: publicIp!, ...login };
    } else {
      if (!bastion?.publicIp) throw new Error(`${node.hostname}: private nodes need the server as bastion`);
      reachable.push(...bastion.reachable);
      connection = { host: privateIp, ...login, proxy: { host: bastion.publicIp, ...login } };
    }
    return { plan: node, instance, privateIp, publicIp, reachable, connection };
  }

  /** One remote script run over SSH; see `remoteInvocation` for how script and variables travel. */
  private step(role: string, a: StepArgs): command.remote.Command {
    const script = remoteScript(a.script);
    const environment = a.environment ?? {};
    const invocation = remoteInvocation(Object.keys(environment));
    const runOn = a.runOn ?? "create";
    return new command.remote.Command(
      `${this.resourceName}-${role}`,
      {
        connection: a.host.connection,
        create: runOn === "create" ? invocation : undefined,
        delete: runOn === "delete" ? invocation : undefined,
        stdin: script.content,
        environment,
        // The script's hash, and the instances whose replacement means a fresh machine to set up.
        triggers: [
          script.sha256,
          a.host.instance.id,
          ...(a.alsoAfterReplacing ?? []).map((i) => i.id),
          ...(a.alsoWhenChanged ?? []),
        ],
        addPreviousOutputInEnv: false,
        logging: a.secretStdout ? "stderr" : "stdoutAndStderr",
      },
      {
        parent: this,
        dependsOn: a.dependsOn,
        additionalSecretOutputs: a.secretStdout ? ["stdout"] : undefined,
      },
    );
  }
}

/** Whether the node is in its site's `ingress` security group, besides `nodes`. */
function holdsIngress(node: NodePlan, network: ClusterNetwork): boolean {
  return node.floatingIpRole === SERVER_FLOATING_IP_ROLE && network.ingressSecurityGroupId !== undefined;
}

function siteInfo(config: ChameleonCluster, node: NodePlan): Site {
  return node.site === config.sites.compute.id ? config.sites.compute : config.sites.gpu;
}

function validate(args: K3sClusterArgs, plan: NodePlan[], crossSite: boolean): void {
  for (const node of plan) {
    const site = siteInfo(args.config, node);
    const network = node.site === args.config.sites.compute.id ? args.compute.network : args.gpuSite?.network;
    if (site.bareMetal && network && !network.hostFirewallRules) {
      throw new Error(
        `K3sCluster: ${node.hostname} is at ${site.region}, a bare-metal site where security groups are not ` +
          "enforced; its network must give hostFirewallRules() for the node's host firewall",
      );
    }
  }
  const gpus = plan.filter((n) => n.role === "gpu");
  if (!args.compute.network.floatingIps[SERVER_FLOATING_IP_ROLE]) {
    throw new Error(
      `K3sCluster: the compute site's network (computeSite ${args.config.sites.compute.id}) must allocate the ` +
        `"${SERVER_FLOATING_IP_ROLE}" floating IP; the server holds it and is the SSH bastion`,
    );
  }
  if (gpus.length === 0) return;
  // Throws, naming gpuFlavor, when a flavor:instance reservation gives no flavor.
  gpuPlacement(args.config.gpu.reservation, args.reservations.activeGpu!);
  if (crossSite) {
    if (!args.gpuSite) {
      throw new Error(
        `K3sCluster: gpuSite ${args.config.sites.gpu.id} differs from computeSite ${args.config.sites.compute.id}, ` +
          `so the cluster needs that site's provider and network (args.gpuSite)`,
      );
    }
    for (const node of gpus) {
      if (!args.gpuSite.network.floatingIps[node.floatingIpRole!]) {
        throw new Error(
          `K3sCluster: the network of gpuSite ${args.config.sites.gpu.id} must allocate the ` +
            `"${node.floatingIpRole}" floating IP (one per gpuNodeCount)`,
        );
      }
    }
  } else if (args.gpuSite) {
    throw new Error(
      `K3sCluster: gpuSite equals computeSite (${args.config.sites.compute.id}); GPU nodes share the compute ` +
        `network, so leave args.gpuSite out`,
    );
  }
}
