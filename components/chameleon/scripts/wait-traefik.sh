#!/usr/bin/env bash
# Runs on the server after install-k3s.sh: waits until k3s's packaged Traefik has installed its
# CRDs (k3s applies the traefik-crd HelmChart in the background, minutes after the API answers), so
# that the estate's Middlewares, which depend on this step, are created in the same `pulumi up`
# rather than failing with "no matches for kind Middleware". Read-only, so running it twice changes
# nothing.
#
# Environment: SSEPT_TRAEFIK_CRDS (space-separated CRD names), SSEPT_WAIT_SECONDS.
set -euo pipefail

: "${SSEPT_TRAEFIK_CRDS:?must name the Traefik CRDs to wait for}"
readonly wait_seconds=${SSEPT_WAIT_SECONDS:-600}

read -ra crds <<<"$SSEPT_TRAEFIK_CRDS"
targets=()
for crd in "${crds[@]}"; do targets+=("crd/$crd"); done

for ((waited = 0; ; waited += 5)); do
  # `kubectl wait` fails at once for a CRD that does not exist yet, hence the loop around it.
  if k3s kubectl wait --for condition=established --timeout=5s "${targets[@]}" >/dev/null 2>&1; then
    echo "Traefik CRDs established: ${crds[*]}"
    exit 0
  fi
  if ((waited >= wait_seconds)); then
    break
  fi
  sleep 5
done
echo "Traefik CRDs (${crds[*]}) not established within ${wait_seconds}s; see k3s kubectl -n kube-system get helmcharts,jobs" >&2
exit 1
