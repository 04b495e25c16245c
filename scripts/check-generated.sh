#!/usr/bin/env bash
# check-generated.sh: verify that the committed bpf2go output in rxq/xdpprog
# (xdpmux_bpfel.go, xdpmux_bpfel.o) is exactly what `go generate` makes from
# rxq/xdpprog/bpf/xdpmux.c. Regenerates into the tree. Without clang it says
# so and succeeds (nothing can be checked).
set -euo pipefail
cd "$(dirname "$0")/.."

pkg=rxq/xdpprog
if ! command -v "${BPF2GO_CC:-clang}" >/dev/null 2>&1; then
	echo "check-generated: ${BPF2GO_CC:-clang} not found, skipping $pkg" >&2
	exit 0
fi

before=$(cd "$pkg" && sha256sum xdpmux_bpfel.go xdpmux_bpfel.o)
go generate "./$pkg"
after=$(cd "$pkg" && sha256sum xdpmux_bpfel.go xdpmux_bpfel.o)

status=0
if [ "$before" != "$after" ]; then
	echo "check-generated: regenerated files differ from the ones in the tree:" >&2
	diff <(echo "$before") <(echo "$after") >&2 || true
	status=1
fi
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	if ! git diff --exit-code --stat -- "$pkg"; then
		echo "check-generated: git diff shows changes in $pkg after go generate" >&2
		status=1
	fi
	untracked=$(git ls-files --others --exclude-standard -- "$pkg")
	if [ -n "$untracked" ] && git ls-files --error-unmatch "$pkg/xdpmux_bpfel.o" >/dev/null 2>&1; then
		echo "check-generated: untracked files in $pkg after go generate:" >&2
		echo "$untracked" >&2
		status=1
	fi
fi
if [ "$status" -eq 0 ]; then
	echo "check-generated: $pkg is up to date"
fi
exit "$status"
