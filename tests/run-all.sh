#!/usr/bin/env bash
# tests/run-all.sh: `make test` — the unit tests, then the integration tests,
# then one summary. Counting is shared: tally_* (run-unit.sh), unit_run
# (run-unit.sh) and integration_run (run-integration.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/run-unit.sh"
. "$here/run-integration.sh"

case "${1:-}" in
-h | --help)
	cat <<'EOF'
usage: tests/run-all.sh [UNIT_TEST_BIN...]

Run the cmocka unit test binaries given, then every integration test
(tests/run-integration.sh), then each fuzz target for FUZZ_QUICK_SECONDS, print the names of the failed tests and end with
exactly one line `N passed, N failed` (`, N skipped` appended when any were
skipped). Exit status 1 if anything failed or no test ran.
EOF
	exit 0
	;;
esac

echo "=== unit tests ($# binaries)"
unit_run "$@"
echo "=== integration tests"
integration_run
# The libFuzzer targets, briefly (make fuzz runs them longer).
echo "=== fuzz targets (${FUZZ_QUICK_SECONDS:-5} s each)"
fuzz_out=$(mktemp "${TMPDIR:-/tmp}/torpor-fuzz.XXXXXX")
fuzz_rc=0
# shellcheck disable=SC2086 # FUZZ_TARGETS is a list
"$here/run-fuzz.sh" "${FUZZ_QUICK_SECONDS:-5}" ${FUZZ_TARGETS:-} 2>&1 | tee "$fuzz_out" || fuzz_rc=$?
fuzz_n=0
while IFS= read -r line; do
	tally_result_line fuzz "${line%$'\r'}" && fuzz_n=$((fuzz_n + 1))
done <"$fuzz_out"
rm -f "$fuzz_out"
[ "$fuzz_n" -gt 0 ] || tally_fail fuzz "run-fuzz.sh printed no result (exit status $fuzz_rc)"
echo "==="
tally_summary
tally_status
