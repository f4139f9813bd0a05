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
(tests/run-integration.sh), print the names of the failed tests and end with
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
echo "==="
tally_summary
tally_status
