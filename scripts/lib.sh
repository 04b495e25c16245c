# Shared checks of the measurement scripts (bench.sh, latency.sh, dnsperf.sh,
# netstack.sh): source it, then call need_root and need_tool. Each prints one
# line naming the script and exits 1: a missing requirement fails, it never
# skips.

# need_root SCRIPT: the labs need root (network namespaces, XDP, AF_XDP).
need_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "$1: needs root (network namespaces, XDP, AF_XDP)" >&2
		exit 1
	fi
}

# need_tool SCRIPT TOOL PACKAGE: TOOL must be on PATH (Debian package PACKAGE).
need_tool() {
	if ! command -v "$2" >/dev/null; then
		echo "$1: $2 not found: apt-get install $3" >&2
		exit 1
	fi
}
