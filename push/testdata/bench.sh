#!/usr/bin/env bash
# Usage: bash push/testdata/bench.sh TIER MIB [WORKDIR]
# Measures `tier push` with the binary TIER (go build -o /tmp/tier ./cmd/tier)
# for a directory of MIB MiB, the same files as an OCI layout and as a
# docker-archive with an uncompressed layer (push/testdata/benchgen), each
# pushed to a `tier registry serve` on this machine. Prints the peak memory
# (maximum resident set size) and the wall time of each push, from
# /usr/bin/time -v.
set -euo pipefail
tier=$(realpath "$1") mib=$2
work=${3:-$(mktemp -d /tmp/tier-push-bench.XXXXXX)}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work/in"
[ -f "$work/in/archive.tar" ] || go run "$here/benchgen" -mib "$mib" -out "$work/in"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
{
	echo "registry: 127.0.0.1:$port"
	echo "services:"
	for i in $(seq 0 999); do echo "  s$i: {}"; done
	echo "tiers: [{name: dev, tag: dev}]"
} >"$work/tier.yaml"
"$tier" -c "$work/tier.yaml" registry serve --addr "127.0.0.1:$port" --dir "$work/registry" >"$work/serve.log" 2>&1 &
serve=$!
trap 'kill $serve' EXIT
for _ in $(seq 50); do
	curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break
	sleep 0.1
done
for kind in files oci archive.tar; do
	/usr/bin/time -v bash "$here/pushonce.sh" "$work" "$tier" "$work/in/$kind" 2>"$work/time.log"
	printf '%s MiB %-12s peak %6d MiB  wall %s\n' "$mib" "$kind" \
		$(($(awk '/Maximum resident/ {print $6}' "$work/time.log") / 1024)) \
		"$(awk '/Elapsed \(wall/ {print $8}' "$work/time.log")"
done
