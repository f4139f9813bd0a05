#!/bin/sh
# tests/integration/run.sh: run the integration tests (all test_*.sh here, or
# those named) and print one `TORPOR-TEST <name> PASS|FAIL <reason>|SKIP
# <reason>` line each. POSIX sh: runs under busybox ash in the test host and
# natively on an arm64 host with /dev/kvm.
set -u

usage() {
	cat <<'EOF'
usage: tests/integration/run.sh [-v] [-t SECONDS] [TEST...]

Run the integration tests, each under `timeout` (default 120 s, or
$TORPOR_TEST_TIMEOUT). TEST is a name (boot, test_boot, test_boot.sh) or a
path; none means every tests/integration/test_*.sh. Output per test, exactly
one result line:

  TORPOR-TEST <name> PASS
  TORPOR-TEST <name> FAIL <reason>     (the test's log is printed before it,
                                        each line prefixed with "  <name>| ")
  TORPOR-TEST <name> SKIP <reason>     (the test exited 77)

then `TORPOR-TESTS-DONE pass=N fail=N skip=N`. Exit status 1 if any failed.
-v (or TORPOR_TEST_VERBOSE=1) prints every test's log, not only failures'.
EOF
}

here=$(cd "$(dirname "$0")" && pwd)
TORPOR_ROOT=$(cd "$here/../.." && pwd)
export TORPOR_ROOT
timeout_s=${TORPOR_TEST_TIMEOUT:-120}
verbose=${TORPOR_TEST_VERBOSE:-0}

while [ $# -gt 0 ]; do
	case "$1" in
	-h | --help) usage; exit 0 ;;
	-t) timeout_s=${2:?-t needs SECONDS}; shift 2 ;;
	-v) verbose=1; shift ;;
	--) shift; break ;;
	-*) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	*) break ;;
	esac
done

if [ $# -eq 0 ]; then
	set -- "$here"/test_*.sh
	[ -e "$1" ] || set --
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/torpor-it.XXXXXX")
# Failed tests' files stay for a look; the rest go.
trap 'rmdir "$tmp" 2>/dev/null || echo "run.sh: files of failed tests kept in $tmp"' EXIT
# On Ctrl-C or TERM, stop the running test too (its lib.sh trap kills its
# VMMs): `timeout` puts it in its own process group, out of the terminal's.
cur=
trap '[ -n "$cur" ] && kill "$cur" 2>/dev/null; exit 130' INT TERM

npass=0 nfail=0 nskip=0

# The file for a test argument, or nothing.
resolve() {
	for _c in "$1" "$here/$1" "$here/$1.sh" "$here/test_$1.sh"; do
		case "$_c" in
		*/test_*.sh | test_*.sh) [ -f "$_c" ] && { echo "$_c"; return; } ;;
		esac
	done
}

result() { # NAME STATUS [REASON]
	_line="TORPOR-TEST $1 $2"
	[ -n "${3:-}" ] && _line="$_line $3"
	echo "$_line"
	case "$2" in
	PASS) npass=$((npass + 1)) ;;
	FAIL) nfail=$((nfail + 1)) ;;
	SKIP) nskip=$((nskip + 1)) ;;
	esac
}

# Reasons are one line.
oneline() { tr -d '\r' | tr '\n' ' ' | sed 's/[[:space:]]*$//'; }

uptime_s() { cut -d. -f1 /proc/uptime; }

show_log() { tr -d '\r' <"$2" | sed "s/^/  $1| /"; }

for arg in "$@"; do
	f=$(resolve "$arg")
	name=$(basename "$arg" .sh)
	if [ -z "$f" ]; then
		result "$name" FAIL "no such test: $arg"
		continue
	fi
	name=$(basename "$f" .sh)
	d=$tmp/$name
	mkdir -p "$d"
	start=$(uptime_s)
	TORPOR_TEST_TMP=$d/tmp TORPOR_TEST_REASON=$d/reason \
		timeout -k 10 "$timeout_s" sh "$f" >"$d/log" 2>&1 </dev/null &
	cur=$!
	wait "$cur"
	rc=$?
	cur=
	elapsed=$(($(uptime_s) - start))
	reason=
	[ -s "$d/reason" ] && reason=$(oneline <"$d/reason")
	if [ "$verbose" = 1 ] && { [ "$rc" = 0 ] || [ "$rc" = 77 ]; }; then
		show_log "$name" "$d/log"
	fi
	case "$rc" in
	0)
		rm -rf "$d"
		result "$name" PASS
		;;
	77)
		[ -n "$reason" ] || reason=$(tr -d '\r' <"$d/log" | grep -v '^[[:space:]]*$' | tail -n 1 | oneline)
		rm -rf "$d"
		result "$name" SKIP "${reason:-no reason given}"
		;;
	*)
		if [ "$elapsed" -ge $((timeout_s - 1)) ] && { [ "$rc" = 124 ] || [ "$rc" = 137 ] || [ "$rc" = 143 ]; }; then
			reason="timeout after ${timeout_s}s${reason:+ ($reason)}"
		elif [ -z "$reason" ]; then
			reason="exit status $rc"
		fi
		show_log "$name" "$d/log"
		result "$name" FAIL "$reason"
		;;
	esac
done

echo "TORPOR-TESTS-DONE pass=$npass fail=$nfail skip=$nskip"
[ "$nfail" -eq 0 ]
