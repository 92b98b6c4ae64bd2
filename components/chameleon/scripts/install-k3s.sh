#!/usr/bin/env bash
# Installs k3s at the pinned release as the server or as an agent joining it, configured by the
# config.yaml Pulumi renders (components/chameleon/k3sCommands.ts) and the join token Pulumi generates.
# On GPU nodes install-nvidia-toolkit.sh runs first, so that k3s finds the NVIDIA runtime when it starts.
# Idempotent: files are rewritten only when their content differs; the installer runs only when
# the release, the files or the service state call for it, and k3s restarts only when a file changed.
#
# Environment: SSEPT_K3S_ROLE (server or agent), SSEPT_K3S_VERSION, SSEPT_K3S_TOKEN (secret),
# SSEPT_K3S_CONFIG. SSEPT_K3S_CONFIG_DIR exists so that tests can run this script without root.
set -euo pipefail

: "${SSEPT_K3S_ROLE:?must be server or agent}"
: "${SSEPT_K3S_VERSION:?must name the pinned k3s release}"
: "${SSEPT_K3S_TOKEN:?must hold the cluster join token}"
: "${SSEPT_K3S_CONFIG:?must hold the rendered /etc/rancher/k3s/config.yaml}"
readonly config_dir=${SSEPT_K3S_CONFIG_DIR:-/etc/rancher/k3s}

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

# The server is ready when its API answers; an agent when its service runs (it joins by itself).
ready() {
  if [[ $SSEPT_K3S_ROLE == server ]]; then
    k3s kubectl get --raw /readyz >/dev/null 2>&1
  else
    systemctl is-active --quiet "$service"
  fi
}

for _ in $(seq 1 60); do
  if ready; then
    echo "$service is ready"
    exit 0
  fi
  sleep 5
done
echo "$service did not become ready within 5 minutes; see journalctl -u $service" >&2
exit 1
