#!/usr/bin/env bash
# Python tests of the trainer image, on the virtual environment of trainer-image/requirements.lock
# (.venv/, created by .ci/run; SSEPT_VENV overrides). Tests that need the real services
# (tests/services/services.sh) or a locked package fail when CI=true and skip otherwise.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."

venv="${SSEPT_VENV:-$PWD/.venv}"
if [ ! -x "$venv/bin/python" ]; then
  echo "trainer-image tests need the virtual environment $venv with trainer-image/requirements.lock:" >&2
  echo "  /usr/bin/python3 -m venv .venv && .venv/bin/pip install --require-hashes --no-deps -r trainer-image/requirements.lock" >&2
  echo "  (or run: bash .ci/run)" >&2
  exit 1
fi

# One BLAS/OpenMP thread per process: on a shared 2-core machine more threads only spin against
# each other (a training test took 110 s with 2 threads, 20 s with 1, under load).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"

# pytest exits 5 when it collects no test, so an empty run fails too.
exec "$venv/bin/python" -m pytest trainer-image/tests -q -p no:cacheprovider "$@"
