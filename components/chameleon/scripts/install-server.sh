#!/usr/bin/env bash
# Installs the k3s server at the pinned release, configured by the config.yaml Pulumi renders
# (components/chameleon/k3sCommands.ts) and the join token Pulumi generates.
# Idempotent: files are rewritten only when their content differs; the installer runs only when
# the release, the files or the service state call for it, and k3s restarts only when a file changed.
#
# Environment: SSEPT_K3S_VERSION, SSEPT_K3S_TOKEN (secret), SSEPT_K3S_CONFIG.
set -euo pipefail

: "${SSEPT_K3S_VERSION:?must name the pinned k3s release}"
: "${SSEPT_K3S_TOKEN:?must hold the cluster join token}"
: "${SSEPT_K3S_CONFIG:?must hold the rendered /etc/rancher/k3s/config.yaml}"

readonly config_dir=/etc/rancher/k3s
readonly service=k3s
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
  INSTALL_K3S_VERSION=$SSEPT_K3S_VERSION INSTALL_K3S_EXEC=server INSTALL_K3S_FORCE_RESTART=$changed \
    sh "$installer"
else
  echo "k3s $installed is installed, configured and running"
fi

for _ in $(seq 1 60); do
  if k3s kubectl get --raw /readyz >/dev/null 2>&1; then
    echo "the Kubernetes API is ready"
    exit 0
  fi
  sleep 5
done
echo "the Kubernetes API did not become ready within 5 minutes; see journalctl -u $service" >&2
exit 1
