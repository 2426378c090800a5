#!/usr/bin/env bash
# Imports in three groups: standard library, third party, this module.
# goimports keeps groups that are already separated by blank lines, so each
# file's import block is first collapsed into one, then regrouped.
#   scripts/imports.sh          list the files whose imports are not grouped (exit 1)
#   scripts/imports.sh -w       regroup them in place
set -euo pipefail
cd "$(dirname "$0")/.."
module=$(go list -m)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
files=$(git ls-files -co --exclude-standard '*.go')
for f in $files; do
  mkdir -p "$tmp/$(dirname "$f")"
  awk '/^import \($/ {inblock=1; print; next}
       inblock && /^\)$/ {inblock=0}
       inblock && /^[[:space:]]*$/ {next}
       {print}' "$f" > "$tmp/$f"
done
go tool goimports -local "$module" -w "$tmp"
bad=0
for f in $files; do
  if ! cmp -s "$f" "$tmp/$f"; then
    if [ "${1:-}" = "-w" ]; then cp "$tmp/$f" "$f"; else echo "$f"; bad=1; fi
  fi
done
if [ "$bad" = 1 ]; then
  echo "imports not grouped (standard library / third party / $module): run scripts/imports.sh -w" >&2
fi
exit $bad
