#!/usr/bin/env bash
# The offline plan of each stack on a base commit and on the working tree, and the Markdown diff
# between them: what the PR workflow writes to the job summary and posts as one comment.
# No cloud, no credentials, no Pulumi CLI.
#
# Usage: .github/scripts/plan-diff.sh <base-ref> <out-dir> [stack ...]   (default: staging production)
# Writes <out-dir>/diff.md, and <out-dir>/base/<stack>/ and <out-dir>/head/<stack>/ (the plans).
set -euo pipefail

if [ "$#" -lt 2 ]; then
  echo "usage: $0 <base-ref> <out-dir> [stack ...]" >&2
  exit 2
fi
base_ref="$1"
out="$2"
shift 2
stacks=("$@")
[ "${#stacks[@]}" -gt 0 ] || stacks=(staging production)

repo="$(git rev-parse --show-toplevel)"
base_sha="$(git -C "$repo" rev-parse --verify --quiet "${base_ref}^{commit}")" ||
  {
    echo "plan-diff: base ref '$base_ref' is not a commit here (fetch it first: git fetch origin <branch>)" >&2
    exit 2
  }
# Both sides are planned as of the same moment, so GPU windows cannot make a spurious diff.
now="$(date -u +%Y-%m-%dT%H:%MZ)"

mkdir -p "$out"
out="$(cd "$out" && pwd)"
base_dir="$(mktemp -d)"
trap 'rm -rf "$base_dir"' EXIT
git -C "$repo" archive "$base_sha" | tar -x -C "$base_dir"
if cmp -s "$repo/package-lock.json" "$base_dir/package-lock.json"; then
  ln -s "$repo/node_modules" "$base_dir/node_modules"
else
  (cd "$base_dir" && npm ci --ignore-scripts --no-audit --no-fund --silent)
fi

{
  echo "## Offline plan diff"
  echo
  echo "Base \`${base_sha:0:12}\` → head \`$(git -C "$repo" rev-parse --short=12 HEAD)\`, planned as of ${now} (no cloud involved)."
} >"$out/diff.md"

status=0
for stack in "${stacks[@]}"; do
  printf '\n### %s\n\n' "$stack" >>"$out/diff.md"
  if ! (cd "$base_dir" && npx ts-node --transpile-only tools/plan.ts "$stack" --out "$out/base/$stack" --now "$now") \
    >"$out/base-$stack.log" 2>&1; then
    echo "The base commit has no plan for ${stack} (see the job log); showing the head plan only." >>"$out/diff.md"
    rm -rf "$out/base/$stack"
  fi
  if [ -d "$out/base/$stack" ]; then
    if ! (cd "$repo" && npx ts-node --transpile-only tools/plan.ts "$stack" --out "$out/head/$stack" \
      --diff "$out/base/$stack" --now "$now") >>"$out/diff.md" 2>"$out/head-$stack.log"; then
      echo "**The head commit's plan for ${stack} fails:**" >>"$out/diff.md"
      sed 's/^/    /' "$out/head-$stack.log" >>"$out/diff.md"
      status=1
    fi
  elif ! (cd "$repo" && npx ts-node --transpile-only tools/plan.ts "$stack" --out "$out/head/$stack" --now "$now") \
    >"$out/head-$stack.log" 2>&1; then
    echo "**The head commit's plan for ${stack} fails:**" >>"$out/diff.md"
    sed 's/^/    /' "$out/head-$stack.log" >>"$out/diff.md"
    status=1
  fi
done
echo "plan-diff: wrote $out/diff.md" >&2
exit "$status"
