#!/usr/bin/env bash
# Usage: pushonce.sh WORKDIR TIER SOURCE
# Pushes SOURCE once with the tier binary TIER to the registry of
# WORKDIR/tier.yaml (written by bench.sh), each time to a repository not
# pushed before, so every run uploads every blob.
set -euo pipefail
work=$1 tier=$2 src=$3
n=$(cat "$work/counter" 2>/dev/null || echo 0)
echo $((n + 1)) >"$work/counter"
exec "$tier" -c "$work/tier.yaml" push "s$n" "$src" \
	--commit 0123456789abcdef0123456789abcdef01234567 \
	--created 2020-11-12T10:30:00Z --source-url https://example.com/app \
	--entrypoint /app >/dev/null
