#!/usr/bin/env bash
# Prints the admin kubeconfig k3s wrote on the server, and nothing else: Pulumi keeps stdout as a
# secret and rewrites its server address to the floating IP. Read-only, so running it twice
# changes nothing.
set -euo pipefail

readonly kubeconfig=/etc/rancher/k3s/k3s.yaml

for _ in $(seq 1 60); do
  if [[ -s $kubeconfig ]]; then
    cat "$kubeconfig"
    exit 0
  fi
  sleep 5
done
echo "$kubeconfig did not appear within 5 minutes; is the k3s server running?" >&2
exit 1
