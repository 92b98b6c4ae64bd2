#!/usr/bin/env bash
# Writes a stack's outputs, secrets included, to a file only the current user can read: what the
# smoke tests and the promotion steps read. Never prints them.
# Usage: .github/scripts/stack-outputs.sh <stack> <file>
set -euo pipefail
if [ "$#" -ne 2 ]; then
  echo "usage: $0 <stack> <file>" >&2
  exit 2
fi
stack="$1"
file="$2"
command -v pulumi >/dev/null || {
  echo "stack-outputs: the pulumi CLI is not on PATH" >&2
  exit 2
}
umask 077
pulumi stack output --stack "$stack" --json --show-secrets >"$file"
echo "stack-outputs: wrote the outputs of $stack to $file" >&2
