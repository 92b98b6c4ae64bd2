#!/usr/bin/env bash
# Joins a GPU node to the k3s server: installs the pinned NVIDIA container toolkit first, so that
# k3s finds nvidia-container-runtime when the agent starts and adds an `nvidia` runtime to its
# containerd config; the rendered config.yaml makes it the node's default runtime and carries the
# GPU label and taint (components/chameleon/k3sCommands.ts). The NVIDIA driver comes with the
# CUDA image; without a working driver the script stops before joining.
# Idempotent: packages are installed only when their pinned version is missing, files are rewritten
# only when their content differs, and the agent restarts only when something changed.
#
# Environment: SSEPT_K3S_VERSION, SSEPT_K3S_TOKEN (secret), SSEPT_K3S_CONFIG,
# SSEPT_NVIDIA_CTK_VERSION.
set -euo pipefail

: "${SSEPT_K3S_VERSION:?must name the pinned k3s release}"
: "${SSEPT_K3S_TOKEN:?must hold the cluster join token}"
: "${SSEPT_K3S_CONFIG:?must hold the rendered /etc/rancher/k3s/config.yaml}"
: "${SSEPT_NVIDIA_CTK_VERSION:?must name the pinned NVIDIA container toolkit release}"

readonly config_dir=/etc/rancher/k3s
readonly service=k3s-agent
readonly containerd_config=/var/lib/rancher/k3s/agent/etc/containerd/config.toml
readonly keyring=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
readonly apt_list=/etc/apt/sources.list.d/nvidia-container-toolkit.list
changed=false

if ! nvidia-smi -L; then
  echo "no working NVIDIA driver (nvidia-smi failed): boot GPU nodes from the CUDA image" >&2
  exit 1
fi

# Writes stdin to $1 with mode $2 when the content differs, and records that something changed.
write_if_changed() {
  local target=$1 mode=$2 tmp
  install -d -m 0755 "$(dirname "$target")"
  tmp=$(mktemp "$target.XXXXXX")
  cat >"$tmp"
  if [[ -f $target ]] && cmp -s "$tmp" "$target"; then
    rm -f "$tmp"
    return 0
  fi
  chmod "$mode" "$tmp"
  mv "$tmp" "$target"
  changed=true
  echo "wrote $target"
}

installed_ctk() {
  dpkg-query -W -f='${Version}' nvidia-container-toolkit 2>/dev/null || true
}

readonly ctk_package_version=$SSEPT_NVIDIA_CTK_VERSION-1
if [[ "$(installed_ctk)" != "$ctk_package_version" ]]; then
  # The CUDA image may already list NVIDIA's repository under another name; listing it twice with
  # different keyrings makes apt refuse to run.
  if ! grep -rqs --exclude="$(basename "$apt_list")" 'nvidia.github.io/libnvidia-container' \
    /etc/apt/sources.list /etc/apt/sources.list.d/; then
    if [[ ! -s $keyring ]]; then
      curl -fsSL --retry 5 https://nvidia.github.io/libnvidia-container/gpgkey | gpg --dearmor -o "$keyring"
    fi
    write_if_changed "$apt_list" 0644 <<<"deb [signed-by=$keyring] https://nvidia.github.io/libnvidia-container/stable/deb/\$(ARCH) /"
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --allow-downgrades \
    "nvidia-container-toolkit=$ctk_package_version" \
    "nvidia-container-toolkit-base=$ctk_package_version" \
    "libnvidia-container-tools=$ctk_package_version" \
    "libnvidia-container1=$ctk_package_version"
  changed=true
else
  echo "nvidia-container-toolkit $ctk_package_version is installed"
fi

write_if_changed "$config_dir/token" 0600 <<<"$SSEPT_K3S_TOKEN"
write_if_changed "$config_dir/config.yaml" 0600 <<<"$SSEPT_K3S_CONFIG"

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

# k3s writes containerd's config when the agent starts; without an nvidia runtime in it, pods with
# runtimeClassName nvidia could never start here, so fail now rather than at scheduling time.
for _ in $(seq 1 60); do
  if systemctl is-active --quiet "$service" &&
    grep -Eqs "runtimes\.['\"]?nvidia['\"]?\]" "$containerd_config"; then
    echo "$service is running with the nvidia runtime"
    exit 0
  fi
  sleep 5
done
echo "$service is not running with an nvidia runtime in $containerd_config; see journalctl -u $service" >&2
exit 1
