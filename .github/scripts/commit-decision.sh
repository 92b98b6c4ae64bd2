#!/usr/bin/env bash
# Commits a promotion decision (the changed Pulumi.<stack>.yaml, nothing else) and pushes it, so
# that the next `pulumi up` applies it instead of undoing it. Does nothing when the file is unchanged.
# Usage: .github/scripts/commit-decision.sh <stack> <message>   (pushes to $PUSH_BRANCH, default main)
set -euo pipefail
if [ "$#" -ne 2 ]; then
  echo "usage: $0 <stack> <message>" >&2
  exit 2
fi
stack="$1"
message="$2"
file="Pulumi.${stack}.yaml"
[ -f "$file" ] || {
  echo "commit-decision: $file not found (run from the repository root)" >&2
  exit 2
}
if git diff --quiet -- "$file"; then
  echo "commit-decision: $file unchanged; nothing to commit" >&2
  exit 0
fi
git -c user.name="ssept-promotion[bot]" -c user.email="ssept-promotion-bot@users.noreply.github.com" \
  commit --quiet -m "$message" -- "$file"
# main may have moved since this run checked out: replay the one-file commit on top of it.
git pull --quiet --rebase --autostash origin "${PUSH_BRANCH:-main}"
git push --quiet origin "HEAD:${PUSH_BRANCH:-main}"
echo "commit-decision: pushed $(git rev-parse --short HEAD) ($file) to ${PUSH_BRANCH:-main}" >&2
