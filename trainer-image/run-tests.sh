#!/usr/bin/env bash
# Python tests of the trainer image, on CPU with Debian's python3-torch / python3-pytest /
# python3-numpy / python3-onnx / python3-boto3 (they are visible to /usr/bin/python3 only).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."

if ! /usr/bin/python3 -c "import torch, pytest, numpy, onnx" 2>/dev/null; then
  echo "trainer-image tests need /usr/bin/python3 with torch, pytest, numpy and onnx:" >&2
  echo "  apt-get install -y python3-torch python3-pytest python3-numpy python3-onnx python3-boto3" >&2
  exit 1
fi

# pytest exits 5 when it collects no test, so an empty run fails too.
exec /usr/bin/python3 -m pytest trainer-image/tests -q -p no:cacheprovider "$@"
