#!/usr/bin/env bash
# Prepares a GPU node for k3s: checks the NVIDIA driver and installs the pinned NVIDIA container
# toolkit. It runs before install-k3s.sh, because k3s adds an `nvidia` runtime to its containerd
# config only when it finds nvidia-container-runtime at start; the rendered config.yaml makes that
# runtime the node's default (components/chameleon/k3sCommands.ts). The driver comes with the CUDA
# image; without a working one the script stops before k3s is installed.
# Idempotent: packages are installed only when their pinned version is missing, the apt source is
# written only when missing, and an agent already running restarts only when the toolkit changed.
#
# Environment: SSEPT_NVIDIA_CTK_VERSION.
set -euo pipefail

: "${SSEPT_NVIDIA_CTK_VERSION:?must name the pinned NVIDIA container toolkit release}"

readonly service=k3s-agent
readonly keyring=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
readonly apt_list=/etc/apt/sources.list.d/nvidia-container-toolkit.list

if ! nvidia-smi -L; then
  echo "no working NVIDIA driver (nvidia-smi failed): boot GPU nodes from the CUDA image" >&2
  exit 1
fi

installed_ctk() {
  dpkg-query -W -f='${Version}' nvidia-container-toolkit 2>/dev/null || true
}

readonly ctk_package_version=$SSEPT_NVIDIA_CTK_VERSION-1
if [[ "$(installed_ctk)" == "$ctk_package_version" ]]; then
  echo "nvidia-container-toolkit $ctk_package_version is installed"
  exit 0
fi

# The CUDA image may already list NVIDIA's repository under another name; listing it twice with
# different keyrings makes apt refuse to run.
if ! grep -rqs --exclude="$(basename "$apt_list")" 'nvidia.github.io/libnvidia-container' \
  /etc/apt/sources.list /etc/apt/sources.list.d/; then
  if [[ ! -s $keyring ]]; then
    curl -fsSL --retry 5 https://nvidia.github.io/libnvidia-container/gpgkey | gpg --dearmor -o "$keyring"
  fi
  wanted="deb [signed-by=$keyring] https://nvidia.github.io/libnvidia-container/stable/deb/\$(ARCH) /"
  if [[ ! -f $apt_list ]] || [[ "$(<"$apt_list")" != "$wanted" ]]; then
    printf '%s\n' "$wanted" >"$apt_list"
    chmod 0644 "$apt_list"
    echo "wrote $apt_list"
  fi
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --allow-downgrades \
  "nvidia-container-toolkit=$ctk_package_version" \
  "nvidia-container-toolkit-base=$ctk_package_version" \
  "libnvidia-container-tools=$ctk_package_version" \
  "libnvidia-container1=$ctk_package_version"

# On a node that already runs k3s (a toolkit upgrade), k3s looks for the runtime again only when it starts.
if systemctl is-active --quiet "$service"; then
  systemctl restart "$service"
  echo "restarted $service to pick up the toolkit"
fi
