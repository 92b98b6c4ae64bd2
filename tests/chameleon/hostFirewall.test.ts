import { spawnSync, SpawnSyncReturns } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  HOST_FIREWALL_TABLE,
  hostFirewallRuleset,
  K3S_POD_CIDR,
  ruleLine,
} from "../../components/chameleon/hostFirewall";
import { SCRIPTS_DIR } from "../../components/chameleon/k3sCommands";
import { SecurityRule, securityRules, SecurityRulesInput } from "../../components/chameleon/securityRules";
import { BuildResult, buildStack } from "../harness";

const run = (cmd: string, args: string[], opts: Parameters<typeof spawnSync>[2] = {}) =>
  spawnSync(cmd, args, { encoding: "utf8", ...opts }) as SpawnSyncReturns<string>;

/** A GPU site as production has it: its subnet, two admin networks, the server and the compute gateway as peers. */
const SITE: SecurityRulesInput = {
  environment: "production",
  adminCidrs: ["129.114.0.0/16", "198.51.100.7/32"],
  subnetCidr: "192.168.60.0/24",
  peerAddresses: ["192.5.87.20", "192.5.87.1"],
  openHttp: true,
  servesIngress: true,
};
const RULES = securityRules(SITE);
const NODES = hostFirewallRuleset({ rules: RULES, groups: ["nodes"] });
const INGRESS = hostFirewallRuleset({ rules: RULES, groups: ["nodes", "ingress"] });

/** The accept lines the table's rules became (the fixed cluster lines left out). */
const fromTable = (ruleset: string) =>
  ruleset
    .split("\n")
    .filter((l) => /comment "(nodes|ingress)\//.test(l))
    .map((l) => l.trim());

/**
 * nft needs CAP_NET_ADMIN even for `-c` (it checks against the kernel). Where it cannot run, the
 * tests that need it fail with this reason rather than pass without checking anything.
 */
function nftProblem(): string | undefined {
  const version = run("nft", ["--version"]);
  if (version.error || version.status !== 0) {
    return `nft is not installed (${version.error?.message ?? version.stderr}); apt-get install -y nftables (.ci/run does)`;
  }
  const probe = run("nft", ["-c", "-f", "-"], { input: "table inet ssept_probe { }\n" });
  if (probe.status !== 0) {
    return `nft -c cannot run here (needs root with CAP_NET_ADMIN): ${probe.stderr.trim()}`;
  }
  return undefined;
}

describe("host firewall rules from the security group table", () => {
  test("every inbound rule of the node's groups is one accept line, in the table's order, and nothing else is", () => {
    const nodes = RULES.filter((r) => r.group === "nodes" && r.direction === "ingress");
    expect(fromTable(NODES)).toEqual(nodes.map(ruleLine));
    expect(fromTable(NODES)).toHaveLength(2 * 2 + 1 + 2 * 3);
    // The ingress ports belong to the ingress node alone, as with the security groups.
    expect(NODES).not.toMatch(/dport (443|80) /);
    const ingress = RULES.filter((r) => r.group === "ingress");
    expect(fromTable(INGRESS)).toEqual([...nodes, ...ingress].map(ruleLine));
    expect(INGRESS).toContain(
      'meta nfproto ipv4 tcp dport 443 accept comment "ingress/https: public HTTPS ingress (Traefik)"',
    );
  });

  test("translates source, protocol and ports", () => {
    const rule = (r: Partial<SecurityRule>): SecurityRule => ({
      key: "k",
      group: "nodes",
      direction: "ingress",
      protocol: "tcp",
      ports: { min: 22, max: 22 },
      cidr: "129.114.0.0/16",
      why: "w",
      ...r,
    });
    expect(ruleLine(rule({}))).toBe('ip saddr 129.114.0.0/16 tcp dport 22 accept comment "nodes/k: w"');
    expect(
      ruleLine(rule({ protocol: "udp", ports: { min: 51820, max: 51820 }, cidr: "129.114.20.30/32" })),
    ).toBe('ip saddr 129.114.20.30/32 udp dport 51820 accept comment "nodes/k: w"');
    expect(ruleLine(rule({ ports: { min: 30000, max: 32767 }, cidr: "0.0.0.0/0" }))).toBe(
      'meta nfproto ipv4 tcp dport 30000-32767 accept comment "nodes/k: w"',
    );
    expect(ruleLine(rule({ protocol: "any", ports: undefined, cidr: "192.168.60.0/24" }))).toBe(
      'ip saddr 192.168.60.0/24 accept comment "nodes/k: w"',
    );
    expect(ruleLine(rule({ protocol: "udp", ports: undefined }))).toBe(
      'ip saddr 129.114.0.0/16 meta l4proto udp accept comment "nodes/k: w"',
    );
    // Quotes cannot end the comment early, and long reasons fit nft's 128 bytes.
    expect(ruleLine(rule({ why: 'say "hi"' }))).toContain(`comment "nodes/k: say 'hi'"`);
    const long = ruleLine(rule({ why: "x".repeat(300) }));
    expect(/comment "([^"]*)"/.exec(long)![1]).toHaveLength(128);
  });

  test("keeps the cluster's own traffic: replies, loopback, CNI and flannel interfaces, pod and service CIDRs", () => {
    const lines = NODES.split("\n").map((l) => l.trim());
    expect(lines).toEqual(
      expect.arrayContaining([
        "type filter hook prerouting priority -150; policy drop;",
        "ct state established,related accept",
        'iifname "lo" accept',
        'iifname "cni0" accept',
        'iifname "flannel*" accept',
        `ip saddr { ${K3S_POD_CIDR}, 10.43.0.0/16 } accept comment "pods and services of the cluster"`,
      ]),
    );
    // Our own table, replaced as a whole: never a flush of the whole ruleset (kube-proxy's and flannel's).
    expect(NODES).not.toMatch(/flush ruleset/);
    expect(lines.slice(2, 5)).toEqual([
      `table inet ${HOST_FIREWALL_TABLE}`,
      `delete table inet ${HOST_FIREWALL_TABLE}`,
      `table inet ${HOST_FIREWALL_TABLE} {`,
    ]);
  });

  test("refuses what it cannot enforce faithfully", () => {
    expect(() => hostFirewallRuleset({ rules: RULES, groups: ["ingress"] })).toThrow(/lack "nodes"/);
    const narrowEgress = RULES.map((r) => (r.direction === "egress" ? { ...r, cidr: "10.0.0.0/8" } : r));
    expect(() => hostFirewallRuleset({ rules: narrowEgress, groups: ["nodes"] })).toThrow(
      /egress rule nodes\/egress-all \(any all to 10.0.0.0\/8\) is narrower than egress to anywhere/,
    );
    const badSource = RULES.map((r) =>
      r.key === "subnet-all" ? { ...r, cidr: "192.168.60.0/24; flush ruleset" } : r,
    );
    expect(() => hostFirewallRuleset({ rules: badSource, groups: ["nodes"] })).toThrow(/not an IPv4 CIDR/);
  });
});

describe("host firewall against the real nft", () => {
  const problem = nftProblem();
  const needsNft = () => {
    if (problem) throw new Error(problem);
  };

  test.each([
    ["a node", NODES],
    ["the ingress node", INGRESS],
  ])("nft -c accepts the ruleset of %s", (_, ruleset) => {
    needsNft();
    const result = run("nft", ["-c", "-f", "-"], { input: ruleset });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  test("nft -c rejects a broken ruleset (the check is not a formality)", () => {
    needsNft();
    const broken = NODES.replace("tcp dport 22", "tcp dport 99999");
    expect(run("nft", ["-c", "-f", "-"], { input: broken }).status).not.toBe(0);
  });

  test("loaded into a fresh network namespace, twice, it holds exactly one table with the rules", () => {
    needsNft();
    const unshare = run("unshare", ["-n", "true"]);
    if (unshare.status !== 0)
      throw new Error(`unshare -n cannot run here (needs CAP_SYS_ADMIN): ${unshare.stderr}`);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "host-firewall-")), "ruleset.nft");
    fs.writeFileSync(file, NODES);
    try {
      // Loading it a second time (the boot unit, then a re-run) replaces the table, never doubles it.
      const result = run("unshare", [
        "-n",
        "sh",
        "-c",
        `nft -f ${file} && nft -f ${file} && nft -j list ruleset`,
      ]);
      expect(result.stderr).toBe("");
      expect(result.status).toBe(0);
      const items = (JSON.parse(result.stdout) as { nftables: Record<string, Record<string, unknown>>[] })
        .nftables;
      expect(items.filter((i) => i.table).map((i) => i.table.name)).toEqual([HOST_FIREWALL_TABLE]);
      const chains = items.filter((i) => i.chain).map((i) => i.chain);
      expect(chains).toEqual([
        expect.objectContaining({
          name: "inbound",
          hook: "prerouting",
          prio: -150,
          policy: "drop",
          type: "filter",
        }),
      ]);
      const comments = items.filter((i) => i.rule).map((i) => i.rule.comment);
      for (const r of RULES.filter((x) => x.group === "nodes" && x.direction === "ingress")) {
        expect(comments).toContain(`nodes/${r.key}: ${r.why}`);
      }
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });
});

describe("host firewall in a network namespace, probed over a veth pair", () => {
  const problem = nftProblem();
  /** Loads the ruleset into a namespace standing for the node; which TCP connections it answers. */
  const probe = (ruleset: string, probes: [string, number][]): Record<string, boolean> => {
    if (problem) throw new Error(problem);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "host-firewall-netns-"));
    try {
      fs.writeFileSync(path.join(dir, "ruleset.nft"), ruleset);
      fs.writeFileSync(path.join(dir, "probes.json"), JSON.stringify(probes));
      const result = run("bash", [
        path.join(__dirname, "firewall-netns.sh"),
        path.join(dir, "ruleset.nft"),
        path.join(dir, "probes.json"),
      ]);
      if (result.status !== 0) {
        throw new Error(`firewall-netns.sh failed (needs root and ip netns): ${result.stderr}`);
      }
      return JSON.parse(result.stdout) as Record<string, boolean>;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };

  test("without the firewall every probe is answered (the probes can tell open from dropped)", () => {
    const open = probe("table inet ssept_nothing { }\n", [
      ["203.0.113.9", 22],
      ["203.0.113.9", 10250],
    ]);
    expect(open).toEqual({ "203.0.113.9 22": true, "203.0.113.9 10250": true, outbound: true });
  });

  test("a node answers exactly what the table opens to each source, and its own connections get replies", () => {
    expect(
      probe(NODES, [
        ["129.114.1.5", 22],
        ["129.114.1.5", 6443],
        ["129.114.1.5", 10250],
        ["198.51.100.7", 22],
        ["198.51.100.8", 22],
        ["192.5.87.20", 6443],
        ["192.5.87.20", 10250],
        ["192.5.87.20", 22],
        ["192.168.60.20", 8080],
        ["10.42.1.7", 8080],
        ["10.43.0.10", 8080],
        ["203.0.113.9", 22],
        ["203.0.113.9", 443],
        ["203.0.113.9", 80],
      ]),
    ).toEqual({
      // SSH and the API from the admin networks, nothing else from them.
      "129.114.1.5 22": true,
      "129.114.1.5 6443": true,
      "129.114.1.5 10250": false,
      "198.51.100.7 22": true,
      "198.51.100.8 22": false,
      // The k3s ports from a cross-site peer, not SSH.
      "192.5.87.20 6443": true,
      "192.5.87.20 10250": true,
      "192.5.87.20 22": false,
      // Everything from the subnet, the pods and the services.
      "192.168.60.20 8080": true,
      "10.42.1.7 8080": true,
      "10.43.0.10 8080": true,
      // Nothing from anywhere else, the web ports included (they belong to the ingress node).
      "203.0.113.9 22": false,
      "203.0.113.9 443": false,
      "203.0.113.9 80": false,
      outbound: true,
    });
  });

  test("the ingress node also answers HTTPS (and HTTP for ACME) from anywhere", () => {
    expect(
      probe(INGRESS, [
        ["203.0.113.9", 443],
        ["203.0.113.9", 80],
        ["203.0.113.9", 22],
      ]),
    ).toEqual({ "203.0.113.9 443": true, "203.0.113.9 80": true, "203.0.113.9 22": false, outbound: true });
  });
});

describe("the production estate inside a GPU window (GPU node at CHI@UC, bare metal)", () => {
  let build: BuildResult;
  beforeAll(async () => {
    build = await buildStack("production", { now: new Date("2027-01-06T15:00:00Z") });
  });

  test("the GPU node's ruleset opens exactly what the CHI@UC security group declares, and nft -c accepts it", () => {
    const steps = build.resources.filter(
      (r) => r.type === "command:remote:Command" && r.name.endsWith("-host-firewall"),
    );
    // Only the bare-metal node: KVM@TACC enforces its security groups itself.
    expect(steps.map((r) => r.name)).toEqual(["ssept-gpu-0-host-firewall"]);
    const ruleset = (steps[0].inputs.environment as Record<string, string>).SSEPT_NFT_RULESET;
    const declared = build.resources
      .filter(
        (r) =>
          r.type === "openstack:networking/secGroupRule:SecGroupRule" && r.name.startsWith("ssept-chi-uc-"),
      )
      .filter((r) => r.inputs.direction === "ingress")
      .map((r) => {
        const { protocol, portRangeMin, remoteIpPrefix } = r.inputs as Record<
          string,
          string | number | undefined
        >;
        return `${remoteIpPrefix} ${protocol ?? "any"} ${portRangeMin ?? "all"}`;
      })
      .sort();
    const enforced = fromTable(ruleset)
      .map((l) => {
        const m = /^ip saddr (\S+) (?:(tcp|udp) dport (\d+) )?accept/.exec(l);
        if (!m) throw new Error(`unexpected rule line: ${l}`);
        return `${m[1]} ${m[2] ?? "any"} ${m[3] ?? "all"}`;
      })
      .sort();
    expect(declared.length).toBeGreaterThan(5);
    expect(enforced).toEqual(declared);
    const problem = nftProblem();
    if (problem) throw new Error(problem);
    const check = run("nft", ["-c", "-f", "-"], { input: ruleset });
    expect(check.stderr).toBe("");
    expect(check.status).toBe(0);
  });
});

describe("install-host-firewall.sh with stand-in systemctl and nft", () => {
  let dir: string;
  const runScript = (ruleset: string) =>
    run("bash", [path.join(SCRIPTS_DIR, "install-host-firewall.sh")], {
      env: {
        PATH: `${path.join(dir, "bin")}:${process.env.PATH}`,
        STAND_IN: dir,
        SSEPT_NFT_RULESET: ruleset,
        SSEPT_FIREWALL_DIR: path.join(dir, "etc"),
        SSEPT_SYSTEMD_DIR: path.join(dir, "systemd"),
      },
    });
  const calls = (name: string) =>
    fs.existsSync(path.join(dir, name))
      ? fs.readFileSync(path.join(dir, name), "utf8").trim().split("\n")
      : [];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "install-host-firewall-"));
    fs.mkdirSync(path.join(dir, "bin"));
    // nft -c is the real check (when nft can run here); loading and listing are recorded, not done.
    const realNft = run("sh", ["-c", "command -v nft"]).stdout.trim() || "/usr/sbin/nft";
    fs.writeFileSync(
      path.join(dir, "bin", "nft"),
      [
        "#!/usr/bin/env bash",
        `if [[ $1 == -c ]]; then exec ${realNft} "$@"; fi`,
        'echo "$*" >>"$STAND_IN/nft-calls"',
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    fs.writeFileSync(
      path.join(dir, "bin", "systemctl"),
      '#!/usr/bin/env bash\necho "$*" >>"$STAND_IN/systemctl-calls"\n',
      {
        mode: 0o755,
      },
    );
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("checks, keeps, enables at boot and loads the ruleset; a second run rewrites nothing", () => {
    if (nftProblem()) throw new Error(nftProblem());
    const first = runScript(NODES);
    expect(first.stderr).toBe("");
    expect(first.status).toBe(0);
    const kept = path.join(dir, "etc", "host-firewall.nft");
    expect(fs.readFileSync(kept, "utf8")).toBe(`${NODES}\n`);
    const unit = fs.readFileSync(path.join(dir, "systemd", "ssept-host-firewall.service"), "utf8");
    expect(unit).toContain(`ExecStart=${path.join(dir, "bin", "nft")} -f ${kept}`);
    expect(unit).toMatch(/Before=network-pre\.target k3s\.service k3s-agent\.service/);
    expect(calls("systemctl-calls")).toEqual(["daemon-reload", "enable ssept-host-firewall.service"]);
    expect(calls("nft-calls")).toEqual([`-f ${kept}`, `list table inet ${HOST_FIREWALL_TABLE}`]);

    const second = runScript(NODES);
    expect(second.status).toBe(0);
    expect(second.stdout).toContain(`${kept} is up to date`);
    expect(second.stdout).toContain("ssept-host-firewall.service is up to date");
    expect(calls("systemctl-calls")).toEqual([
      "daemon-reload",
      "enable ssept-host-firewall.service",
      "enable ssept-host-firewall.service",
    ]);
  });

  test("a ruleset nft rejects changes nothing and loads nothing", () => {
    if (nftProblem()) throw new Error(nftProblem());
    const result = runScript(NODES.replace("tcp dport 22", "tcp dport 99999"));
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("nft rejected the generated ruleset; nothing was changed");
    expect(fs.existsSync(path.join(dir, "etc", "host-firewall.nft"))).toBe(false);
    expect(calls("nft-calls")).toEqual([]);
    expect(calls("systemctl-calls")).toEqual([]);
  });
});
