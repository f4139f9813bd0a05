#!/usr/bin/env bash
# tests/run-unit.sh: run cmocka unit test binaries and count their results.
# Also the home of the result tally (tally_*) that run-integration.sh and
# run-all.sh source, so all three count and summarize the same way.
set -euo pipefail

# --- Result tally (shared) ---------------------------------------------------
TALLY_PASSED=0
TALLY_FAILED=0
TALLY_SKIPPED=0
TALLY_FAILED_NAMES=()

tally_pass() { TALLY_PASSED=$((TALLY_PASSED + ${1:-1})); }
tally_skip() { TALLY_SKIPPED=$((TALLY_SKIPPED + ${1:-1})); }
tally_fail() { # NAME [REASON]
	TALLY_FAILED=$((TALLY_FAILED + 1))
	TALLY_FAILED_NAMES+=("$1${2:+ ($2)}")
}

# Tally one `TORPOR-TEST <name> PASS|FAIL <reason>|SKIP <reason>` line of
# KIND (integration, fuzz); sets TALLY_LAST_NAME. Returns 1 for other lines.
tally_result_line() { # KIND LINE
	[[ "$2" =~ ^TORPOR-TEST\ ([^ ]+)\ (PASS|FAIL|SKIP)( (.*))?$ ]] || return 1
	TALLY_LAST_NAME=${BASH_REMATCH[1]}
	case "${BASH_REMATCH[2]}" in
	PASS) tally_pass ;;
	FAIL) tally_fail "$1:$TALLY_LAST_NAME" "${BASH_REMATCH[4]}" ;;
	SKIP) tally_skip ;;
	esac
}

# Print the failed tests' names, then the one summary line, which is always
# the last line: `N passed, N failed` plus `, N skipped` when any skipped.
tally_summary() {
	local n
	if [ ${#TALLY_FAILED_NAMES[@]} -gt 0 ]; then
		echo "Failed tests:"
		for n in "${TALLY_FAILED_NAMES[@]}"; do
			echo "  $n"
		done
	fi
	if [ "$TALLY_SKIPPED" -gt 0 ]; then
		echo "$TALLY_PASSED passed, $TALLY_FAILED failed, $TALLY_SKIPPED skipped"
	else
		echo "$TALLY_PASSED passed, $TALLY_FAILED failed"
	fi
}

# 0 only when something ran and nothing failed.
tally_status() {
	[ "$TALLY_FAILED" -eq 0 ] && [ $((TALLY_PASSED + TALLY_FAILED)) -gt 0 ]
}

# --- Unit tests ----------------------------------------------------------------
UNIT_TIMEOUT=${TORPOR_UNIT_TIMEOUT:-300}

# Count one binary's cmocka output (file $2, exit status $3) for binary $1.
# cmocka prints per group: `[==========] Running N test(s).`, then at the end
# `[  PASSED  ] N test(s).` and, when any, `[  SKIPPED|FAILED  ] N test(s),
# listed below:` followed by one `[  ...  ] name` line per test. A group that
# started but printed no PASSED line crashed.
unit_count() {
	local bin=$1 out=$2 rc=$3 name line list= started=0 finished=0 failed=0
	name=$(basename "$bin")
	while IFS= read -r line; do
		line=${line%$'\r'}
		if [[ "$line" =~ ^\[=+\]\ Running\ [0-9]+\ test ]]; then
			started=$((started + 1)); list=
		elif [[ "$line" =~ ^\[\ +PASSED\ +\]\ ([0-9]+)\ test ]]; then
			finished=$((finished + 1)); list=
			tally_pass "${BASH_REMATCH[1]}"
		elif [[ "$line" =~ ^\[\ +SKIPPED\ +\]\ ([0-9]+)\ test\(s\),\ listed\ below ]]; then
			list=skip
			tally_skip "${BASH_REMATCH[1]}"
		elif [[ "$line" =~ ^\[\ +FAILED\ +\]\ ([0-9]+)\ test\(s\),\ listed\ below ]]; then
			list=fail
		elif [ "$list" = fail ] && [[ "$line" =~ ^\[\ +FAILED\ +\]\ (.+)$ ]]; then
			tally_fail "unit:$name:${BASH_REMATCH[1]}"
			failed=$((failed + 1))
		elif [ "$list" = skip ] && [[ "$line" =~ ^\[\ +SKIPPED\ +\]\ (.+)$ ]]; then
			:
		else
			list=
		fi
	done <"$out"
	if [ "$rc" -ge 128 ] && [ "$rc" -ne 255 ]; then
		tally_fail "unit:$name" "killed by signal $((rc - 128))"
	elif [ "$started" -eq 0 ] || [ "$finished" -lt "$started" ]; then
		tally_fail "unit:$name" "crashed: exit status $rc, no cmocka summary"
	elif [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
		tally_fail "unit:$name" "exit status $rc"
	fi
	[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
}

# Run each binary; show its output when it fails, one line when it passes.
unit_run() {
	local bin out rc before
	out=$(mktemp "${TMPDIR:-/tmp}/torpor-unit.XXXXXX")
	for bin in "$@"; do
		before=$TALLY_PASSED
		if [ ! -x "$bin" ]; then
			tally_fail "unit:$(basename "$bin")" "not found or not executable: $bin"
			continue
		fi
		rc=0
		CMOCKA_MESSAGE_OUTPUT=stdout timeout -k 10 "$UNIT_TIMEOUT" "$bin" >"$out" 2>&1 || rc=$?
		if [ "$rc" -eq 124 ]; then
			cat "$out"
			tally_fail "unit:$(basename "$bin")" "timeout after ${UNIT_TIMEOUT}s"
		elif unit_count "$bin" "$out" "$rc"; then
			echo "unit: $(basename "$bin"): $((TALLY_PASSED - before)) passed"
		else
			sed 's/^/  /' "$out"
			echo "unit: $(basename "$bin"): FAILED (exit status $rc)"
		fi
	done
	rm -f "$out"
}

unit_main() {
	case "${1:-}" in
	-h | --help)
		echo "usage: tests/run-unit.sh BIN...   (cmocka test binaries; prints \`N passed, N failed\`)"
		return 0
		;;
	esac
	unit_run "$@"
	tally_summary
	tally_status
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	unit_main "$@"
fi
