#!/usr/bin/env bash
# Runs on the server when a GPU node goes away (its window ended or it was replaced): deletes its
# Node object, so that no NotReady GPU node lingers and k3s drops the node's password secret.
# Idempotent: a Node that is already gone is not an error.
#
# Environment: SSEPT_NODE_NAME.
set -euo pipefail

: "${SSEPT_NODE_NAME:?must name the Kubernetes node to remove}"

k3s kubectl delete node "$SSEPT_NODE_NAME" --ignore-not-found --wait=false
