#!/usr/bin/env bash
# tests/run-integration.sh: run the integration tests on real KVM, in the
# test host on x86_64 or directly on an aarch64 host with /dev/kvm, and count
# their TORPOR-TEST lines (tally_* from run-unit.sh).
set -euo pipefail

_it_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_it_root=$(cd "$_it_here/.." && pwd)
# shellcheck source=run-unit.sh
. "$_it_here/run-unit.sh"

IT_TIMEOUT=${TORPOR_TESTHOST_TIMEOUT:-1800}

# The test names run.sh will report for these arguments (all when none).
it_expected() {
	local a n
	if [ $# -eq 0 ]; then
		for a in "$_it_root"/tests/integration/test_*.sh; do
			[ -e "$a" ] && basename "$a" .sh
		done
		return 0
	fi
	for a in "$@"; do
		n=$(basename "$a" .sh)
		case "$n" in test_*) ;; *) n=test_$n ;; esac
		echo "$n"
	done
}

# How the tests can run here: "native", "testhost", or "skip:<reason>".
it_mode() {
	local arch
	arch=$(uname -m)
	if [ "$arch" = aarch64 ] || [ "$arch" = arm64 ]; then
		if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
			echo native
		elif [ -e /dev/kvm ]; then
			echo "skip:/dev/kvm is not readable and writable by $(id -un)"
		else
			echo "skip:aarch64 host without /dev/kvm"
		fi
		return 0
	fi
	if ! command -v qemu-system-aarch64 >/dev/null; then
		echo "skip:$arch host without qemu-system-aarch64 for the test host (run tools/deps.sh)"
	elif ! ls "${TORPOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/torpor}"/sysroot-arm64/boot/vmlinuz-*-arm64 >/dev/null 2>&1; then
		echo "skip:$arch host without the test host kernel in the sysroot (run tools/deps.sh)"
	else
		echo testhost
	fi
}

# Count the TORPOR-TEST lines in $1. An expected test without a line (the
# run died before reaching it) counts as $2 (FAIL or SKIP) with reason $3.
it_count() {
	local out=$1 missing=$2 why=$3 line n
	local -A seen=()
	shift 3
	while IFS= read -r line; do
		line=${line%$'\r'}
		tally_result_line integration "$line" || continue
		seen[$TALLY_LAST_NAME]=1
	done <"$out"
	while IFS= read -r n; do
		[ -z "${seen[$n]:-}" ] || continue
		echo "TORPOR-TEST $n $missing no result: $why"
		if [ "$missing" = SKIP ]; then
			tally_skip
		else
			tally_fail "integration:$n" "no result: $why"
		fi
	done < <(it_expected "$@")
}

# Run tests/integration/run.sh [TEST...] where possible; stream its output.
integration_run() {
	local mode out rc=0 why missing n
	mode=$(it_mode)
	case "$mode" in
	skip:*)
		echo "integration: cannot run here: ${mode#skip:}; every test is SKIP"
		while IFS= read -r n; do
			echo "TORPOR-TEST $n SKIP ${mode#skip:}"
			tally_skip
		done < <(it_expected "$@")
		return 0
		;;
	esac
	out=$(mktemp "${TMPDIR:-/tmp}/torpor-integration.XXXXXX")
	if [ "$mode" = native ]; then
		echo "integration: running natively on $(uname -m) with /dev/kvm"
		(cd "$_it_root" && tests/integration/run.sh "$@") 2>&1 | tee "$out" || rc=$?
	else
		echo "integration: running in the test host (tools/testhost, timeout ${IT_TIMEOUT}s)"
		"$_it_root/tools/testhost" run --timeout "$IT_TIMEOUT" -- tests/integration/run.sh "$@" 2>&1 |
			tee "$out" || rc=$?
	fi
	missing=FAIL
	case "$rc" in
	0 | 1) why="the run ended without it (exit status $rc)" ;;
	124) why="test host timeout after ${IT_TIMEOUT}s" ;;
	125) missing=SKIP why="the test host has no /dev/kvm" ;;
	130) why="interrupted" ;;
	*) why="the run died (exit status $rc)" ;;
	esac
	it_count "$out" "$missing" "$why" "$@"
	rm -f "$out"
}

integration_main() {
	case "${1:-}" in
	-h | --help)
		cat <<'EOF'
usage: tests/run-integration.sh [TEST...]

Run tests/integration/run.sh [TEST...]: inside tools/testhost on x86_64,
directly on aarch64 with /dev/kvm; otherwise every test is SKIP with the
reason. Ends with `N passed, N failed[, N skipped]`; exit status 0 only if
something ran and nothing failed. TORPOR_TESTHOST_TIMEOUT (default 1800 s)
bounds the whole test host run.
EOF
		return 0
		;;
	esac
	integration_run "$@"
	tally_summary
	tally_status
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	integration_main "$@"
fi
