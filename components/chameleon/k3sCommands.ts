import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { DATA_VOLUME_NODE_LABEL, GPU_NODE_LABEL, GPU_NODE_TAINT, NVIDIA_RUNTIME_CLASS } from "../contracts";
import { labelArg, taintArg } from "./nodeScheduling";

/**
 * What the K3sCluster runs on its nodes, as pure values: the scripts, the command line that runs
 * them, the k3s config files, and the kubeconfig rewrite. Tested without mocks.
 */

export const SCRIPTS_DIR = path.resolve(__dirname, "scripts");

export const SCRIPT_NAMES = [
  "accept-env",
  "install-host-firewall",
  "prepare-volume",
  "install-nvidia-toolkit",
  "install-k3s",
  "check-nvidia-runtime",
  "read-kubeconfig",
  "wait-traefik",
  "remove-node",
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

export interface RemoteScript {
  name: ScriptName;
  content: string;
  /** sha256 of the content: a command's trigger, so it runs again when, and only when, its script changes. */
  sha256: string;
}

export function remoteScript(name: ScriptName): RemoteScript {
  const content = fs.readFileSync(path.join(SCRIPTS_DIR, `${name}.sh`), "utf8");
  return { name, content, sha256: crypto.createHash("sha256").update(content).digest("hex") };
}

/** Every variable a script reads starts with it; accept-env.sh lets sshd accept exactly these. */
export const ENV_PREFIX = "SSEPT_";
const ENV_NAME = /^SSEPT_[A-Z0-9_]+$/;

/**
 * The command line of every remote step. The script arrives on stdin and is saved to a private
 * temporary file before it runs, so nothing it starts can read the rest of it as input; it runs as
 * root with exactly the named variables kept (sudo drops the rest). Parameters, the join token
 * included, arrive as SSH environment variables, never on this line.
 */
export function remoteInvocation(envNames: readonly string[]): string {
  for (const name of envNames) {
    if (!ENV_NAME.test(name)) {
      throw new Error(`remote script variable ${JSON.stringify(name)}: expected ${ENV_PREFIX}[A-Z0-9_]+`);
    }
  }
  const names = [...new Set(envNames)].sort();
  const sudo = names.length > 0 ? `sudo --preserve-env=${names.join(",")}` : "sudo";
  return `set -eu; script=$(mktemp); trap 'rm -f "$script"' EXIT; cat >"$script"; ${sudo} bash "$script"`;
}

/** Where k3s's local-path provisioner keeps persistent volumes; the data volume is mounted here. */
export const DATA_MOUNT_POINT = "/var/lib/rancher/k3s/storage";
export const K3S_TOKEN_FILE = "/etc/rancher/k3s/token";
export const K3S_API_PORT = 6443;
/**
 * The CRDs of k3s's packaged Traefik that the estate creates objects of (Middlewares, for basic
 * auth); `wait-traefik.sh` waits for them before those objects are created.
 */
export const TRAEFIK_CRDS = ["middlewares.traefik.io"] as const;
/** NVIDIA container toolkit release installed on GPU nodes (apt packages `<version>-1`). */
export const NVIDIA_CONTAINER_TOOLKIT_VERSION = "1.18.2";

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function ipv4(value: string, what: string): string {
  if (!IPV4.test(value)) throw new Error(`${what} ${JSON.stringify(value)} is not an IPv4 address`);
  return value;
}

export function k3sServerUrl(host: string): string {
  return `https://${ipv4(host, "k3s server address")}:${K3S_API_PORT}`;
}

export interface K3sServerOptions {
  nodeName: string;
  privateIp: string;
  /** The floating IP: in the API certificate, since the exported kubeconfig points at it. */
  publicIp: string;
  /**
   * A node at another site joins: flannel runs over WireGuard between the nodes' external
   * addresses, and the server advertises its floating IP as its external one.
   */
  crossSite: boolean;
}

/**
 * /etc/rancher/k3s/config.yaml of the server. The API is advertised on the private address, so
 * in-cluster clients reach it inside the subnet; the floating IP serves admins and remote nodes.
 * k3s's own RuntimeClasses are disabled: the platform declares the `nvidia` one, with scheduling
 * rules, and owns it alone.
 */
export function k3sServerConfig(o: K3sServerOptions): string {
  const config: Record<string, unknown> = {
    "node-name": o.nodeName,
    "node-ip": ipv4(o.privateIp, "server private IP"),
    "advertise-address": o.privateIp,
    "tls-san": [ipv4(o.publicIp, "server floating IP")],
    "token-file": K3S_TOKEN_FILE,
    "write-kubeconfig-mode": "0600",
    "secrets-encryption": true,
    disable: ["runtimes"],
    "node-label": [labelArg(DATA_VOLUME_NODE_LABEL)],
  };
  if (o.crossSite) {
    config["node-external-ip"] = o.publicIp;
    config["flannel-backend"] = "wireguard-native";
    config["flannel-external-ip"] = true;
  }
  return render(config);
}

export interface K3sAgentOptions {
  nodeName: string;
  privateIp: string;
  /** `k3sServerUrl(...)`: the server's private IP inside the site, its floating IP from another site. */
  serverUrl: string;
  /** The node's own floating IP, when it is at another site than the server. */
  publicIp?: string;
  gpu: boolean;
}

/** /etc/rancher/k3s/config.yaml of an agent; a GPU agent also gets its label, taint and default runtime. */
export function k3sAgentConfig(o: K3sAgentOptions): string {
  const config: Record<string, unknown> = {
    server: o.serverUrl,
    "token-file": K3S_TOKEN_FILE,
    "node-name": o.nodeName,
    "node-ip": ipv4(o.privateIp, "agent private IP"),
  };
  if (o.publicIp !== undefined) config["node-external-ip"] = ipv4(o.publicIp, "agent floating IP");
  if (o.gpu) {
    config["node-label"] = [labelArg(GPU_NODE_LABEL)];
    config["node-taint"] = [taintArg(GPU_NODE_TAINT)];
    // Also pods that forget runtimeClassName get the GPU runtime here.
    config["default-runtime"] = NVIDIA_RUNTIME_CLASS;
  }
  return render(config);
}

function render(config: Record<string, unknown>): string {
  return (
    "# Written by Pulumi (components/chameleon/k3sCommands.ts); changes here are overwritten.\n" +
    yaml.dump(config, { lineWidth: -1 })
  );
}

interface KubeconfigDoc {
  clusters?: { name?: string; cluster?: { server?: string } }[];
}

/**
 * k3s writes its admin kubeconfig for https://127.0.0.1:6443; from outside the cluster the API is
 * at the floating IP (which the server's certificate names through tls-san).
 */
export function rewriteKubeconfigServer(kubeconfig: string, host: string): string {
  let doc: KubeconfigDoc;
  try {
    doc = yaml.load(kubeconfig) as KubeconfigDoc;
  } catch (error) {
    throw new Error(`the server's kubeconfig is not YAML: ${(error as Error).message}`);
  }
  const clusters = doc?.clusters ?? [];
  if (clusters.length === 0) throw new Error("the server's kubeconfig has no clusters");
  const url = k3sServerUrl(host);
  for (const entry of clusters) {
    if (!entry.cluster?.server) throw new Error(`kubeconfig cluster ${entry.name ?? "?"} has no server`);
    entry.cluster.server = url;
  }
  return yaml.dump(doc, { lineWidth: -1 });
}
