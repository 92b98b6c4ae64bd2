#!/usr/bin/env bash
# Runs on a GPU node after install-k3s.sh: k3s writes containerd's config when the agent starts, and
# without an nvidia runtime in it, pods with runtimeClassName nvidia could never start here, so fail
# now rather than at scheduling time. Read-only, so running it twice changes nothing.
set -euo pipefail

readonly service=k3s-agent
readonly containerd_config=/var/lib/rancher/k3s/agent/etc/containerd/config.toml

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
