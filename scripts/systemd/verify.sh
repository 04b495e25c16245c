#!/usr/bin/env bash
# Checks scripts/systemd/xdpmux.service with systemd-analyze verify (CI):
# builds xdpmux into a temporary directory and verifies a copy of the unit
# whose ExecStart names it (verify wants the executable to exist).
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/xdpmux" ./cmd/xdpmux
sed "s#/usr/local/bin/xdpmux#$tmp/xdpmux#g" scripts/systemd/xdpmux.service >"$tmp/xdpmux.service"
out=$(systemd-analyze verify "$tmp/xdpmux.service" 2>&1) || { echo "$out"; exit 1; }
# verify exits 0 on some warnings; treat any line about our unit as an error.
if printf '%s\n' "$out" | grep -F "xdpmux.service"; then
	exit 1
fi
echo "xdpmux.service: verified"
