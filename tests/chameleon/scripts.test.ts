import { spawnSync, SpawnSyncReturns } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  ENV_PREFIX,
  remoteInvocation,
  remoteScript,
  SCRIPT_NAMES,
  SCRIPTS_DIR,
} from "../../components/chameleon/k3sCommands";

/** Variables a script refuses to run without: `: "${SSEPT_X:?...}"`. */
function requiredVariables(content: string): string[] {
  return [...content.matchAll(/^: "\$\{(SSEPT_[A-Z0-9_]+):\?/gm)].map((m) => m[1]).sort();
}

/** Variables with a default: `${SSEPT_X:-default}`. */
function optionalVariables(content: string): string[] {
  return [...new Set([...content.matchAll(/\$\{(SSEPT_[A-Z0-9_]+):-/g)].map((m) => m[1]))].sort();
}

/** The script without its comment lines. */
function code(content: string): string {
  return content
    .split("\n")
    .filter((l) => !l.trim().startsWith("#"))
    .join("\n");
}

const scripts = SCRIPT_NAMES.map((name) => remoteScript(name));
const run = (cmd: string, args: string[], opts: Parameters<typeof spawnSync>[2] = {}) =>
  spawnSync(cmd, args, { encoding: "utf8", ...opts }) as SpawnSyncReturns<string>;

describe("remote scripts", () => {
  test("every script in scripts/ is one the cluster runs, and every one it runs exists", () => {
    const files = fs
      .readdirSync(SCRIPTS_DIR)
      .filter((f) => f.endsWith(".sh"))
      .map((f) => f.replace(/\.sh$/, ""))
      .sort();
    expect(files).toEqual([...SCRIPT_NAMES].sort());
  });

  test("shellcheck -x finds nothing (shellcheck must be installed: .ci/run installs it)", () => {
    const version = run("shellcheck", ["--version"]);
    if (version.error || version.status !== 0) {
      throw new Error(
        `shellcheck is not installed (${version.error?.message ?? version.stderr}); apt-get install -y shellcheck`,
      );
    }
    const result = run("shellcheck", ["-x", "--format=gcc", ...SCRIPT_NAMES.map((n) => `${n}.sh`)], {
      cwd: SCRIPTS_DIR,
    });
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  test.each(scripts.map((s) => [s.name, s] as const))(
    "%s runs under bash with errexit, nounset and pipefail",
    (_, s) => {
      const lines = s.content.split("\n");
      expect(lines[0]).toBe("#!/usr/bin/env bash");
      expect(lines).toContain("set -euo pipefail");
      // Nothing runs before the strict mode is on.
      const firstCommand = lines.findIndex((l, i) => i > 0 && l.trim() !== "" && !l.startsWith("#"));
      expect(lines[firstCommand]).toBe("set -euo pipefail");
    },
  );

  test.each(scripts.map((s) => [s.name, s] as const))(
    "%s reads only SSEPT_ variables, each one required or defaulted",
    (_, s) => {
      const mentioned = [
        ...new Set([...s.content.matchAll(/\$\{?(SSEPT_[A-Z0-9_]+)/g)].map((m) => m[1])),
      ].sort();
      const declared = [
        ...new Set([...requiredVariables(s.content), ...optionalVariables(s.content)]),
      ].sort();
      expect(mentioned).toEqual(declared);
      for (const v of mentioned) expect(v.startsWith(ENV_PREFIX)).toBe(true);
    },
  );

  test("accept-env lets sshd accept exactly the prefix the scripts use, and validates before reloading", () => {
    const s = remoteScript("accept-env").content;
    expect(s).toContain(`readonly wanted='AcceptEnv ${ENV_PREFIX}*'`);
    expect(s.indexOf("sshd -t")).toBeLessThan(s.indexOf("systemctl reload ssh.service"));
    // Rewrites and reloads only when the drop-in differs.
    expect(s).toMatch(
      /if \[\[ -f \$drop_in \]\] && \[\[ "\$\(<"\$drop_in"\)" == "\$wanted" \]\]; then\n.*\n\s+exit 0/,
    );
  });

  test("prepare-volume formats only a device without any signature, and appends to fstab only what is missing", () => {
    const s = remoteScript("prepare-volume").content;
    expect(code(s).match(/mkfs/g)).toHaveLength(1);
    // mkfs sits in the branch of blkid -p's exit status 2 ("nothing found"), nowhere else.
    expect(s).toMatch(/\n {2}2\)\n[^\n]*\n {4}mkfs\.ext4 -q -L "\$fs_label" "\$device"\n {4};;/);
    expect(s).toContain('fs_type=$(blkid -p -s TYPE -o value "$device")');
    // fstab by UUID, grep before any write, and mount only when nothing is mounted there.
    expect(s).toContain('entry="UUID=$uuid $mount_point ext4 defaults,nofail 0 2"');
    const check = s.indexOf('if grep -qxF "$entry" "$fstab"; then');
    expect(check).toBeGreaterThan(0);
    expect(check).toBeLessThan(s.indexOf('cat "$tmp" >"$fstab"'));
    expect(code(s).match(/>+"\$fstab"/g)).toEqual(['>"$fstab"', '>"$fstab"']);
    expect(s.indexOf('if findmnt --mountpoint "$mount_point"')).toBeLessThan(s.indexOf("mount --fstab"));
    expect(s).toContain("RequiresMountsFor=%s");
  });

  test("install-k3s rewrites files only when they differ and runs the pinned installer only when needed", () => {
    const s = remoteScript("install-k3s").content;
    expect(s).toContain('if [[ -f $target ]] && cmp -s "$tmp" "$target"; then');
    expect(s).toContain(
      "https://raw.githubusercontent.com/k3s-io/k3s/${SSEPT_K3S_VERSION//+/%2B}/install.sh",
    );
    expect(s).not.toMatch(/curl[^\n]*get\.k3s\.io/);
    expect(s).toContain("INSTALL_K3S_FORCE_RESTART=$changed");
    // The installer is inside the "something to do" branch.
    const guard = s.indexOf('if [[ $installed != "$SSEPT_K3S_VERSION" || $changed == true ]]');
    expect(guard).toBeGreaterThan(0);
    expect(s.indexOf('sh "$installer"')).toBeGreaterThan(guard);
    // The token goes to a root-only file, never into a command's arguments.
    expect(s).toContain('<<<"$SSEPT_K3S_TOKEN"');
    // Mentioned once to require it, once to write the file.
    expect(code(s).match(/SSEPT_K3S_TOKEN/g)).toHaveLength(2);
  });

  test("install-k3s installs the role it is given, and only server or agent", () => {
    const s = remoteScript("install-k3s").content;
    expect(s).toContain("INSTALL_K3S_EXEC=$SSEPT_K3S_ROLE");
    // The role is checked before anything is written.
    const roleCheck = s.indexOf("case $SSEPT_K3S_ROLE in");
    expect(roleCheck).toBeGreaterThan(0);
    expect(roleCheck).toBeLessThan(s.indexOf('write_if_changed "$config_dir/token"'));
    expect(s).toContain("server) readonly service=k3s ;;");
    expect(s).toContain("agent) readonly service=k3s-agent ;;");
    // The server is ready when its API answers.
    expect(s).toContain("k3s kubectl get --raw /readyz");
  });

  test("install-nvidia-toolkit checks the driver, then installs the pinned toolkit only when it is missing", () => {
    const s = remoteScript("install-nvidia-toolkit").content;
    expect(s.indexOf("nvidia-smi -L")).toBeLessThan(s.indexOf("apt-get install"));
    // Installs nothing, and restarts nothing, when the pinned version is there.
    expect(s).toMatch(
      /if \[\[ "\$\(installed_ctk\)" == "\$ctk_package_version" \]\]; then\n.*\n\s+exit 0\nfi/,
    );
    expect(s.indexOf('== "$ctk_package_version" ]]; then')).toBeLessThan(s.indexOf("apt-get install"));
    for (const pkg of [
      "nvidia-container-toolkit",
      "nvidia-container-toolkit-base",
      "libnvidia-container-tools",
      "libnvidia-container1",
    ]) {
      expect(s).toContain(`"${pkg}=$ctk_package_version"`);
    }
    // An agent already running restarts after the install, so that k3s finds the runtime again.
    expect(s.indexOf('systemctl restart "$service"')).toBeGreaterThan(s.indexOf("apt-get install"));
    expect(s).toContain("readonly service=k3s-agent");
  });

  test("check-nvidia-runtime waits for the nvidia runtime in the containerd config k3s writes", () => {
    const s = remoteScript("check-nvidia-runtime").content;
    expect(s).toContain("/var/lib/rancher/k3s/agent/etc/containerd/config.toml");
    expect(s).toContain(`grep -Eqs "runtimes\\.['\\"]?nvidia['\\"]?\\]" "$containerd_config"`);
    expect(code(s)).not.toMatch(/apt-get|systemctl (restart|start)|>"/);
  });
});

describe("install-k3s with stand-in k3s, systemctl, installer and server", () => {
  const SERVER_URL = "https://192.168.50.10:6443";
  const AGENT_CONFIG = `server: ${SERVER_URL}\nnode-name: ssept-staging-k3s-agent-0`;
  let dir: string;
  /** Two k3s server CAs: the server's before and after it was replaced. */
  let caBefore: string;
  let caAfter: string;
  const runInstall = (role: string, config = "node-name: n") =>
    run("bash", [path.join(SCRIPTS_DIR, "install-k3s.sh")], {
      env: {
        PATH: `${path.join(dir, "bin")}:${process.env.PATH}`,
        STAND_IN: dir,
        SSEPT_K3S_ROLE: role,
        SSEPT_K3S_VERSION: "v1.31.6+k3s1",
        SSEPT_K3S_TOKEN: "join-token",
        SSEPT_K3S_CONFIG: config,
        SSEPT_K3S_CONFIG_DIR: path.join(dir, "etc"),
        SSEPT_K3S_DATA_DIR: path.join(dir, "data"),
        SSEPT_K3S_WAIT_SECONDS: "0",
      },
    });
  const standIn = (name: string, lines: string[]) =>
    fs.writeFileSync(path.join(dir, "bin", name), ["#!/usr/bin/env bash", ...lines, ""].join("\n"), {
      mode: 0o755,
    });
  const installerRuns = () =>
    fs.existsSync(path.join(dir, "installs")) ? fs.readFileSync(path.join(dir, "installs"), "utf8") : "";
  const serverServes = (ca: string | undefined) => {
    if (ca === undefined) fs.rmSync(path.join(dir, "server-ca.pem"), { force: true });
    else fs.writeFileSync(path.join(dir, "server-ca.pem"), ca);
  };
  const agentHolds = () => fs.readFileSync(path.join(dir, "data", "agent", "server-ca.crt"), "utf8");
  const selfSignedCa = (cn: string) => {
    const key = path.join(os.tmpdir(), `ca-${process.pid}-${cn}.key`);
    const result = run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      key,
      "-subj",
      `/CN=${cn}`,
      "-days",
      "1",
    ]);
    fs.rmSync(key, { force: true });
    if (result.status !== 0) throw new Error(`openssl req failed: ${result.stderr}`);
    return result.stdout;
  };

  beforeAll(() => {
    caBefore = selfSignedCa("k3s-server-ca@1700000000");
    caAfter = selfSignedCa("k3s-server-ca@1800000000");
  });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "install-k3s-"));
    fs.mkdirSync(path.join(dir, "bin"));
    serverServes(caBefore);
    // curl -o: the installer, which records how it was asked to install; k3s then "runs" at that
    // version and, as a k3s agent does at every start, fetches the server's CA (unless the test
    // made the agent unable to join). Without -o: the server's /cacerts.
    standIn("curl", [
      'out=""; url=""; while (($#)); do case $1 in -o) out=$2; shift ;; https://*) url=$1 ;; esac; shift; done',
      'if [[ -z $out ]]; then echo "$url" >>"$STAND_IN/cacerts-requests"; cat "$STAND_IN/server-ca.pem" 2>/dev/null || exit 7; exit; fi',
      `cat >"$out" <<'INSTALLER'`,
      'echo "$INSTALL_K3S_EXEC $INSTALL_K3S_VERSION restart=$INSTALL_K3S_FORCE_RESTART" >>"$STAND_IN/installs"',
      'echo "k3s version $INSTALL_K3S_VERSION (abc)" >"$STAND_IN/version"',
      'if [ "$INSTALL_K3S_EXEC" = agent ] && [ ! -f "$STAND_IN/cannot-join" ]; then',
      '  mkdir -p "$SSEPT_K3S_DATA_DIR/agent" && cp "$STAND_IN/server-ca.pem" "$SSEPT_K3S_DATA_DIR/agent/server-ca.crt"',
      "fi",
      "INSTALLER",
    ]);
    // The kubelet's credentials reach the server that issued them: its Node is found only when the
    // CA the agent holds is the one the server serves.
    standIn("k3s", [
      'if [[ $1 == --version ]]; then cat "$STAND_IN/version" 2>/dev/null; exit; fi',
      'echo "$*" >>"$STAND_IN/k3s-calls"',
      "if [[ $1 == kubectl && $2 == --kubeconfig ]]; then",
      '  cmp -s "$SSEPT_K3S_DATA_DIR/agent/server-ca.crt" "$STAND_IN/server-ca.pem"',
      "fi",
    ]);
    standIn("systemctl", ['[[ -f "$STAND_IN/version" ]]']);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("installs the server, waits for its API, and a second run changes nothing", () => {
    const first = runInstall("server");
    expect(first.stderr).toBe("");
    expect(first.status).toBe(0);
    expect(installerRuns()).toBe("server v1.31.6+k3s1 restart=true\n");
    expect(fs.readFileSync(path.join(dir, "k3s-calls"), "utf8")).toContain("kubectl get --raw /readyz");
    expect(fs.readFileSync(path.join(dir, "etc", "token"), "utf8")).toBe("join-token\n");
    expect(fs.statSync(path.join(dir, "etc", "token")).mode & 0o777).toBe(0o600);
    expect(first.stdout).toContain("k3s is ready");
    // The server asks no one for a CA.
    expect(fs.existsSync(path.join(dir, "cacerts-requests"))).toBe(false);

    const second = runInstall("server");
    expect(second.status).toBe(0);
    expect(second.stdout).toContain("k3s v1.31.6+k3s1 is installed, configured and running");
    expect(installerRuns()).toBe("server v1.31.6+k3s1 restart=true\n");
  });

  test("installs an agent, ready once the server knows its Node, and restarts it when its config changes", () => {
    const first = runInstall("agent", AGENT_CONFIG);
    expect(first.stderr).toBe("");
    expect(first.status).toBe(0);
    expect(fs.readFileSync(path.join(dir, "cacerts-requests"), "utf8")).toBe(`${SERVER_URL}/cacerts\n`);
    expect(fs.readFileSync(path.join(dir, "k3s-calls"), "utf8")).toContain(
      `kubectl --kubeconfig ${path.join(dir, "data", "agent", "kubelet.kubeconfig")} get node ssept-staging-k3s-agent-0`,
    );
    const renamed = runInstall("agent", AGENT_CONFIG.replace("agent-0", "agent-9"));
    expect(renamed.stdout).toContain("k3s-agent is ready");
    expect(installerRuns()).toBe("agent v1.31.6+k3s1 restart=true\nagent v1.31.6+k3s1 restart=true\n");
    expect(fs.readFileSync(path.join(dir, "etc", "config.yaml"), "utf8")).toContain(
      "node-name: ssept-staging-k3s-agent-9\n",
    );
  });

  test("an agent of a replaced server joins the new one; while the server stays, nothing is redone", () => {
    expect(runInstall("agent", AGENT_CONFIG).status).toBe(0);
    const unchanged = runInstall("agent", AGENT_CONFIG);
    expect(unchanged.status).toBe(0);
    expect(unchanged.stdout).toContain("is installed, configured and running");
    expect(installerRuns().split("\n").filter(Boolean)).toHaveLength(1);

    // Same address, same token, same config: only the server's CA tells the new server apart.
    serverServes(caAfter);
    const rejoin = runInstall("agent", AGENT_CONFIG);
    expect(rejoin.stderr).toBe("");
    expect(rejoin.status).toBe(0);
    expect(rejoin.stdout).toMatch(
      /registered with another server \(CA [0-9A-F:]{95}\) than https:\/\/192\.168\.50\.10:6443/,
    );
    expect(installerRuns().split("\n").filter(Boolean)).toEqual([
      "agent v1.31.6+k3s1 restart=true",
      "agent v1.31.6+k3s1 restart=true",
    ]);
    expect(agentHolds()).toBe(caAfter);
    expect(rejoin.stdout).toContain("k3s-agent is ready");
  });

  test("an agent that cannot join the replaced server fails, naming the node and both CAs", () => {
    expect(runInstall("agent", AGENT_CONFIG).status).toBe(0);
    fs.writeFileSync(path.join(dir, "cannot-join"), "");
    serverServes(caAfter);
    const result = runInstall("agent", AGENT_CONFIG);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      /node ssept-staging-k3s-agent-0 did not register with https:\/\/192\.168\.50\.10:6443 \(CA .+; the agent holds CA .+\) within 0s/,
    );
    expect(agentHolds()).toBe(caBefore);
  });

  test("an agent fails before installing anything when the server does not answer, or no server is configured", () => {
    serverServes(undefined);
    const unreachable = runInstall("agent", AGENT_CONFIG);
    expect(unreachable.status).toBe(1);
    expect(unreachable.stderr).toContain(`cannot fetch ${SERVER_URL}/cacerts: is the k3s server running?`);
    const noServer = runInstall("agent", "node-name: a");
    expect(noServer.status).toBe(1);
    expect(noServer.stderr).toContain('SSEPT_K3S_CONFIG has no https server URL (server: "")');
    expect(installerRuns()).toBe("");
  });

  test("refuses any other role before writing anything", () => {
    const result = runInstall("gpu");
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('SSEPT_K3S_ROLE is "gpu": expected server or agent');
    expect(fs.existsSync(path.join(dir, "etc"))).toBe(false);
    expect(installerRuns()).toBe("");
  });
});

describe("wait-traefik with a stand-in k3s", () => {
  let dir: string;
  const runWait = (waitSeconds: string) =>
    run("bash", [path.join(SCRIPTS_DIR, "wait-traefik.sh")], {
      env: {
        PATH: `${path.join(dir, "bin")}:${process.env.PATH}`,
        STAND_IN: dir,
        SSEPT_TRAEFIK_CRDS: "middlewares.traefik.io ingressroutes.traefik.io",
        SSEPT_WAIT_SECONDS: waitSeconds,
      },
    });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "wait-traefik-"));
    fs.mkdirSync(path.join(dir, "bin"));
    // kubectl wait fails until the CRDs "exist", which the test decides.
    fs.writeFileSync(
      path.join(dir, "bin", "k3s"),
      '#!/usr/bin/env bash\necho "$*" >>"$STAND_IN/calls"\n[[ -f "$STAND_IN/established" ]]\n',
      { mode: 0o755 },
    );
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("asks for every named CRD to be established, and succeeds once they are", () => {
    fs.writeFileSync(path.join(dir, "established"), "");
    const result = runWait("0");
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(
      "Traefik CRDs established: middlewares.traefik.io ingressroutes.traefik.io",
    );
    expect(fs.readFileSync(path.join(dir, "calls"), "utf8")).toBe(
      "kubectl wait --for condition=established --timeout=5s crd/middlewares.traefik.io crd/ingressroutes.traefik.io\n",
    );
  });

  test("fails after the wait, naming the CRDs and where to look", () => {
    const result = runWait("0");
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      "Traefik CRDs (middlewares.traefik.io ingressroutes.traefik.io) not established within 0s; see k3s kubectl -n kube-system get helmcharts,jobs",
    );
  });
});

describe("remoteInvocation", () => {
  test("rejects variables sshd would drop", () => {
    expect(() => remoteInvocation(["K3S_TOKEN"])).toThrow(/expected SSEPT_/);
    expect(() => remoteInvocation(["SSEPT_ok", "SSEPT_OK"])).toThrow(/"SSEPT_ok"/);
  });

  test("names the variables sudo keeps, sorted, and nothing else", () => {
    expect(remoteInvocation(["SSEPT_B", "SSEPT_A", "SSEPT_B"])).toContain(
      "sudo --preserve-env=SSEPT_A,SSEPT_B bash",
    );
    expect(remoteInvocation([])).toContain("; sudo bash ");
  });

  test("runs the script from stdin as a file, with the named variables, with stdin drained, and cleans up", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "invocation-"));
    try {
      // Stands in for sudo: keeps only the --preserve-env variables, as sudo's env_reset does.
      fs.writeFileSync(
        path.join(dir, "sudo"),
        [
          "#!/usr/bin/env bash",
          "set -euo pipefail",
          'keep=""',
          "if [[ $1 == --preserve-env=* ]]; then keep=${1#--preserve-env=}; shift; fi",
          'args=(env -i PATH="$PATH")',
          'IFS=, read -ra names <<<"$keep"',
          'for n in "${names[@]}"; do if [[ -n ${!n+x} ]]; then args+=("$n=${!n}"); fi; done',
          'exec "${args[@]}" "$@"',
          "",
        ].join("\n"),
        { mode: 0o755 },
      );
      const script = [
        "#!/usr/bin/env bash",
        "set -euo pipefail",
        'echo "token=${SSEPT_TOKEN} other=${SSEPT_OTHER:-unset} home=${HOME:-dropped}"',
        'if read -r line; then echo "stdin still had: $line"; else echo "stdin drained"; fi',
        'echo "script at $0"',
        "",
      ].join("\n");
      const result = run("bash", ["-c", remoteInvocation(["SSEPT_TOKEN"])], {
        input: script,
        env: {
          PATH: `${dir}:${process.env.PATH}`,
          SSEPT_TOKEN: "s3cret",
          SSEPT_OTHER: "leaked",
          HOME: "/home/cc",
        },
      });
      expect(result.stderr).toBe("");
      expect(result.status).toBe(0);
      const lines = result.stdout.trim().split("\n");
      expect(lines[0]).toBe("token=s3cret other=unset home=dropped");
      expect(lines[1]).toBe("stdin drained");
      const scriptFile = lines[2].replace("script at ", "");
      expect(fs.existsSync(scriptFile)).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("prepare-volume against file-backed disks", () => {
  const volumeId = "3f2a9c41-77de-4c1b-9a0e-5b6d7e8f9012";
  let dir: string;
  let byId: string;
  const runPrepare = (mountPoint: string) =>
    run("bash", [path.join(SCRIPTS_DIR, "prepare-volume.sh")], {
      env: {
        PATH: process.env.PATH,
        SSEPT_VOLUME_ID: volumeId,
        SSEPT_MOUNT_POINT: mountPoint,
        SSEPT_DISK_BY_ID_DIR: byId,
        SSEPT_FSTAB: path.join(dir, "fstab"),
        SSEPT_SYSTEMD_DIR: path.join(dir, "systemd"),
        SSEPT_DEVICE_WAIT_SECONDS: "0",
      },
    });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "prepare-volume-"));
    byId = path.join(dir, "by-id");
    fs.mkdirSync(byId);
    fs.writeFileSync(
      path.join(dir, "fstab"),
      "# <file system> <mount point> <type> <options> <dump> <pass>\n",
    );
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("refuses a disk that holds something other than ext4, and writes nothing", () => {
    const disk = path.join(dir, "disk.img");
    fs.writeFileSync(disk, Buffer.alloc(16 * 1024 * 1024));
    expect(run("mkswap", [disk]).status).toBe(0);
    fs.symlinkSync(disk, path.join(byId, `virtio-${volumeId.slice(0, 20)}`));
    const result = runPrepare(path.join(dir, "storage"));
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("holds swap, not ext4: refusing to format or mount it");
    expect(run("blkid", ["-p", "-s", "TYPE", "-o", "value", disk]).stdout.trim()).toBe("swap");
    expect(fs.readFileSync(path.join(dir, "fstab"), "utf8")).not.toContain("UUID=");
  });

  test("fails, naming the serial, when the volume is not attached", () => {
    const result = runPrepare(path.join(dir, "storage"));
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`no disk with serial ${volumeId.slice(0, 20)}`);
  });

  // Mounting needs root and a loop device; where there are none (an unprivileged CI runner) the
  // static checks above still hold.
  const canLoop = process.getuid?.() === 0 && run("losetup", ["-f"]).status === 0;
  (canLoop ? test : test.skip)(
    "formats a blank disk once, mounts it by UUID, and a second run changes nothing",
    () => {
      const image = path.join(dir, "volume.img");
      fs.writeFileSync(image, "");
      fs.truncateSync(image, 64 * 1024 * 1024);
      const loop = run("losetup", ["-f", "--show", image]).stdout.trim();
      const mountPoint = path.join(dir, "storage");
      try {
        fs.symlinkSync(loop, path.join(byId, `virtio-${volumeId.slice(0, 20)}`));
        // A partition link of the same serial must not be taken for the disk.
        fs.symlinkSync("/dev/null", path.join(byId, `virtio-${volumeId.slice(0, 20)}-part1`));

        const first = runPrepare(mountPoint);
        expect(first.stderr).toBe("");
        expect(first.status).toBe(0);
        expect(first.stdout).toContain("is blank: formatting ext4");
        const uuid = run("blkid", ["-p", "-s", "UUID", "-o", "value", loop]).stdout.trim();
        const fstab = () => fs.readFileSync(path.join(dir, "fstab"), "utf8");
        expect(fstab()).toContain(`UUID=${uuid} ${mountPoint} ext4 defaults,nofail 0 2\n`);
        expect(run("findmnt", ["-n", "-o", "SOURCE", "--mountpoint", mountPoint]).stdout.trim()).toBe(loop);
        const dropIn = path.join(dir, "systemd", "k3s.service.d", "10-ssept-data-volume.conf");
        expect(fs.readFileSync(dropIn, "utf8")).toBe(`[Unit]\nRequiresMountsFor=${mountPoint}\n`);

        fs.writeFileSync(path.join(mountPoint, "pvc-marker"), "data");
        const before = { fstab: fstab(), dropIn: fs.readFileSync(dropIn, "utf8") };
        const second = runPrepare(mountPoint);
        expect(second.status).toBe(0);
        expect(second.stdout).toContain("already holds ext4; keeping its data");
        expect(second.stdout).toContain("is already mounted");
        expect(second.stdout).not.toContain("formatting");
        expect(run("blkid", ["-p", "-s", "UUID", "-o", "value", loop]).stdout.trim()).toBe(uuid);
        expect({ fstab: fstab(), dropIn: fs.readFileSync(dropIn, "utf8") }).toEqual(before);
        expect(fs.readFileSync(path.join(mountPoint, "pvc-marker"), "utf8")).toBe("data");
        expect(fstab().match(/UUID=/g)).toHaveLength(1);

        // After a reboot-like unmount, the fstab entry alone brings the same filesystem back.
        expect(run("umount", [mountPoint]).status).toBe(0);
        const third = runPrepare(mountPoint);
        expect(third.status).toBe(0);
        expect(third.stdout).toContain(`mounted ${loop} at ${mountPoint}`);
        expect(fs.readFileSync(path.join(mountPoint, "pvc-marker"), "utf8")).toBe("data");
      } finally {
        run("umount", [mountPoint]);
        run("losetup", ["-d", loop]);
      }
    },
  );
});
