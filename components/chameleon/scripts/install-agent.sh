#!/usr/bin/env bash
# Joins this node to the k3s server as an agent at the pinned release, configured by the
# config.yaml Pulumi renders (components/chameleon/k3sCommands.ts): server URL, node name and IPs.
# Idempotent: files are rewritten only when their content differs; the installer runs only when
# the release, the files or the service state call for it, and the agent restarts only when a file changed.
#
# Environment: SSEPT_K3S_VERSION, SSEPT_K3S_TOKEN (secret), SSEPT_K3S_CONFIG.
set -euo pipefail

: "${SSEPT_K3S_VERSION:?must name the pinned k3s release}"
: "${SSEPT_K3S_TOKEN:?must hold the cluster join token}"
: "${SSEPT_K3S_CONFIG:?must hold the rendered /etc/rancher/k3s/config.yaml}"

readonly config_dir=/etc/rancher/k3s
readonly service=k3s-agent
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

installed=$(k3s --version 2>/dev/null | awk 'NR == 1 { print $3 }' || true)
if [[ $installed != "$SSEPT_K3S_VERSION" || $changed == true ]] || ! systemctl is-active --quiet "$service"; then
  installer=$(mktemp)
  trap 'rm -f "$installer"' EXIT
  # The installer of the pinned release, not get.k3s.io's moving one.
  curl -sfL --retry 5 -o "$installer" \
    "https://raw.githubusercontent.com/k3s-io/k3s/${SSEPT_K3S_VERSION//+/%2B}/install.sh"
  INSTALL_K3S_VERSION=$SSEPT_K3S_VERSION INSTALL_K3S_EXEC=agent INSTALL_K3S_FORCE_RESTART=$changed \
    sh "$installer"
else
  echo "k3s $installed is installed, configured and running"
fi

for _ in $(seq 1 60); do
  if systemctl is-active --quiet "$service"; then
    echo "$service is running"
    exit 0
  fi
  sleep 5
done
echo "$service did not start within 5 minutes; see journalctl -u $service" >&2
exit 1
