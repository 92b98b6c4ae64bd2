#!/usr/bin/env bash
# Submits a run of the cluster's `training-pipeline` WorkflowTemplate (k8s-manifests/argo/) with
# kubectl and waits for it to finish. KUBECONFIG must point at the stack's kubeconfig output.
#
# Usage: .github/scripts/submit-training.sh [--dry-run] <dataset> <dataVersion> <gitCommit> [name=value ...]
#   extra name=value pairs are pipeline parameters (epochs=50 lr=0.001 ...).
# Prints the workflow's name on stdout; --dry-run prints the Workflow manifest instead and submits nothing.
# Environment: PIPELINE_NAMESPACE (default pipeline), POLL_SECONDS (default 30).
set -euo pipefail

dry_run=false
if [ "${1:-}" = "--dry-run" ]; then
  dry_run=true
  shift
fi
if [ "$#" -lt 3 ]; then
  echo "usage: $0 [--dry-run] <dataset> <dataVersion> <gitCommit> [name=value ...]" >&2
  exit 2
fi
dataset="$1"
data_version="$2"
git_commit="$3"
shift 3
namespace="${PIPELINE_NAMESPACE:-pipeline}"

case "$dataset" in ml-1m | wikipedia) ;; *)
  echo "submit-training: dataset '$dataset': ml-1m or wikipedia" >&2
  exit 2
  ;;
esac
[[ "$data_version" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || {
  echo "submit-training: dataVersion '$data_version': letters, digits, . _ -" >&2
  exit 2
}
[[ "$git_commit" =~ ^[0-9a-f]{7,40}$ ]] || {
  echo "submit-training: gitCommit '$git_commit': a hex commit id" >&2
  exit 2
}

params=$(printf '      - {name: dataset, value: "%s"}\n      - {name: dataVersion, value: "%s"}\n      - {name: gitCommit, value: "%s"}' \
  "$dataset" "$data_version" "$git_commit")
for pair in "$@"; do
  name="${pair%%=*}"
  value="${pair#*=}"
  [[ "$pair" == *=* && "$name" =~ ^[a-zA-Z][a-zA-Z0-9]*$ && "$value" =~ ^[A-Za-z0-9._-]+$ ]] || {
    echo "submit-training: parameter '$pair': expected name=value with a plain value" >&2
    exit 2
  }
  params+=$(printf '\n      - {name: %s, value: "%s"}' "$name" "$value")
done

manifest="apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: training-${dataset}-
  namespace: ${namespace}
  labels:
    app.kubernetes.io/part-of: sse-pt-platform
    sse-pt-platform/submitted-by: ci
spec:
  workflowTemplateRef:
    name: training-pipeline
  arguments:
    parameters:
${params}"

if $dry_run; then
  echo "$manifest"
  exit 0
fi

name="$(echo "$manifest" | kubectl create -f - -o jsonpath='{.metadata.name}')"
echo "submit-training: submitted $namespace/$name" >&2
while :; do
  phase="$(kubectl get workflow "$name" -n "$namespace" -o jsonpath='{.status.phase}')"
  case "$phase" in
  Succeeded) break ;;
  Failed | Error)
    echo "submit-training: $name ended $phase: $(kubectl get workflow "$name" -n "$namespace" -o jsonpath='{.status.message}')" >&2
    exit 1
    ;;
  esac
  sleep "${POLL_SECONDS:-30}"
done
echo "$name"
