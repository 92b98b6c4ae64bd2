#!/usr/bin/env bash
# Installs k3s at the pinned release as the server or as an agent joining it, configured by the
# config.yaml Pulumi renders (components/chameleon/k3sCommands.ts) and the join token Pulumi generates.
# On GPU nodes install-nvidia-toolkit.sh runs first, so that k3s finds the NVIDIA runtime when it starts.
# Idempotent: files are rewritten only when their content differs; the installer runs only when
# the release, the files or the service state call for it, and k3s restarts only when a file changed
# or, on an agent, when it is registered with another server than the one it is told to join.
#
# An agent whose server was replaced (same address, same token, new machine) still runs happily
# against nothing: its service is active, but the CA it holds is the old server's. So an agent
# compares the CA it holds with the one the server serves at /cacerts, restarts k3s when they
# differ (the agent fetches the server's CA afresh at every start and registers again), and is
# ready only when the server's API, through the agent's own kubelet credentials, knows its Node.
#
# Environment: SSEPT_K3S_ROLE (server or agent), SSEPT_K3S_VERSION, SSEPT_K3S_TOKEN (secret),
# SSEPT_K3S_CONFIG. SSEPT_K3S_CONFIG_DIR, SSEPT_K3S_DATA_DIR and SSEPT_K3S_WAIT_SECONDS exist so
# that tests can run this script without root and without waiting.
set -euo pipefail

: "${SSEPT_K3S_ROLE:?must be server or agent}"
: "${SSEPT_K3S_VERSION:?must name the pinned k3s release}"
: "${SSEPT_K3S_TOKEN:?must hold the cluster join token}"
: "${SSEPT_K3S_CONFIG:?must hold the rendered /etc/rancher/k3s/config.yaml}"
readonly config_dir=${SSEPT_K3S_CONFIG_DIR:-/etc/rancher/k3s}
readonly data_dir=${SSEPT_K3S_DATA_DIR:-/var/lib/rancher/k3s}
readonly wait_seconds=${SSEPT_K3S_WAIT_SECONDS:-300}

case $SSEPT_K3S_ROLE in
  server) readonly service=k3s ;;
  agent) readonly service=k3s-agent ;;
  *)
    echo "SSEPT_K3S_ROLE is \"$SSEPT_K3S_ROLE\": expected server or agent" >&2
    exit 1
    ;;
esac
changed=false

# Writes stdin to $1 with mode 0600 when the content differs, and records that something changed.
write_if_changed() {
  local target=$1 tmp
  install -d -m 0755 "$(dirname "$target")"
  tmp=$(mktemp "$target.XXXXXX")
  cat >"$tmp"
  if [[ -f $target ]] && cmp -s "$tmp" "$target"; then
    rm -f "$tmp"
    return 0
  fi
  chmod 0600 "$tmp"
  mv "$tmp" "$target"
  changed=true
  echo "wrote $target"
}

write_if_changed "$config_dir/token" <<<"$SSEPT_K3S_TOKEN"
write_if_changed "$config_dir/config.yaml" <<<"$SSEPT_K3S_CONFIG"

# A top-level `key: value` of the rendered config (quotes, if any, removed).
config_value() {
  awk -v key="$1" '$1 == key ":" { v = $2; gsub(/["\047]/, "", v); print v; exit }' "$config_dir/config.yaml"
}
node_name=$(config_value node-name)
[[ -n $node_name ]] || {
  echo "SSEPT_K3S_CONFIG has no node-name" >&2
  exit 1
}

# The SHA-256 fingerprint of the PEM certificate on stdin, e.g. 27:DB:...:96.
fingerprint() {
  openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/^.*=//'
}

# The fingerprint of the CA the server serves now (agents only).
server_ca() {
  local body
  if ! body=$(curl -fsSk --retry 5 --max-time 20 "$server_url/cacerts"); then
    echo "cannot fetch $server_url/cacerts: is the k3s server running?" >&2
    return 1
  fi
  fingerprint <<<"$body" || true
}

# The fingerprint of the CA the agent registered with; empty before it ever started.
held_ca() {
  [[ -s $data_dir/agent/server-ca.crt ]] || return 0
  fingerprint <"$data_dir/agent/server-ca.crt" || echo "unreadable"
}

if [[ $SSEPT_K3S_ROLE == agent ]]; then
  server_url=$(config_value server)
  [[ $server_url == https://* ]] || {
    echo "SSEPT_K3S_CONFIG has no https server URL (server: \"$server_url\")" >&2
    exit 1
  }
  current_ca=$(server_ca)
  [[ -n $current_ca ]] || {
    echo "$server_url/cacerts did not return a certificate" >&2
    exit 1
  }
  held=$(held_ca)
  if [[ -n $held && $held != "$current_ca" ]]; then
    echo "registered with another server (CA $held) than $server_url (CA $current_ca): joining again"
    changed=true
  fi
fi

installed=$(k3s --version 2>/dev/null | awk 'NR == 1 { print $3 }' || true)
if [[ $installed != "$SSEPT_K3S_VERSION" || $changed == true ]] || ! systemctl is-active --quiet "$service"; then
  installer=$(mktemp)
  trap 'rm -f "$installer"' EXIT
  # The installer of the pinned release, not get.k3s.io's moving one.
  curl -sfL --retry 5 -o "$installer" \
    "https://raw.githubusercontent.com/k3s-io/k3s/${SSEPT_K3S_VERSION//+/%2B}/install.sh"
  INSTALL_K3S_VERSION=$SSEPT_K3S_VERSION INSTALL_K3S_EXEC=$SSEPT_K3S_ROLE INSTALL_K3S_FORCE_RESTART=$changed \
    sh "$installer"
else
  echo "k3s $installed is installed, configured and running"
fi

# The server is ready when its API answers. An agent is ready when its service runs, it holds the
# current server's CA, and that server knows its Node (the kubelet may read its own Node object).
ready() {
  if [[ $SSEPT_K3S_ROLE == server ]]; then
    k3s kubectl get --raw /readyz >/dev/null 2>&1
  else
    systemctl is-active --quiet "$service" &&
      [[ "$(held_ca)" == "$current_ca" ]] &&
      k3s kubectl --kubeconfig "$data_dir/agent/kubelet.kubeconfig" get node "$node_name" >/dev/null 2>&1
  fi
}

for ((waited = 0; ; waited += 5)); do
  if ready; then
    echo "$service is ready"
    exit 0
  fi
  if ((waited >= wait_seconds)); then
    break
  fi
  sleep 5
done
if [[ $SSEPT_K3S_ROLE == agent ]]; then
  echo "node $node_name did not register with $server_url (CA $current_ca; the agent holds CA $(held_ca)) within ${wait_seconds}s; see journalctl -u $service" >&2
else
  echo "$service did not become ready within ${wait_seconds}s; see journalctl -u $service" >&2
fi
exit 1
