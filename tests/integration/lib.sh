# tests/integration/lib.sh: shared setup and helpers for the integration
# tests (sourced by each test_*.sh; POSIX sh: busybox ash, dash, bash).
#
# Provides:
#   TORPOR_ROOT VMM CLI KERNEL ROOTFS   repo root and the built artifacts
#   T                 per-test temp dir (removed on success)
#   TEST_NAME         e.g. test_boot
#   DEFAULT_CMDLINE   console=ttyS0 quiet panic=-1
#   guest_cmdline CMD          DEFAULT_CMDLINE plus torpor.run="CMD"
#   fail MSG / skip MSG        end the test: FAIL (exit 1) / SKIP (exit 77)
#   require_kvm / require_file FILE   skip (kvm) or fail (file) if missing
#   wait_for_line FILE PATTERN TIMEOUT   poll FILE for a grep -E PATTERN;
#                              returns 1 on timeout (or if the VMM died)
#   assert_line FILE PATTERN [MSG]       fail unless FILE has PATTERN
#   vmm_start LOGFILE ARGS...  start $VMM ARGS in the background: stdin from
#                              a fifo (write with vmm_input), stdout+stderr to
#                              LOGFILE; sets VMM_PID, VMM_LOG
#   vmm_input TEXT             write TEXT and a newline to the VMM's stdin
#   vmm_wait TIMEOUT           wait for the VMM; exit status in VMM_RC; on
#                              timeout kill -9 it and fail
#   vmm_kill                   kill -9 the current VMM and reap it
#   ms_now                     milliseconds since boot (from /proc/uptime)
# Lines read from console logs have their \r removed before matching.
# Tests need /dev/kvm: sourcing this file SKIPs the test when it is missing,
# unless TORPOR_NO_KVM_OK=1 is set first.

: "${TORPOR_ROOT:=$(cd "$(dirname "$0")/../.." && pwd)}"
VMM=${TORPOR_VMM:-$TORPOR_ROOT/build/aarch64/torpor-vmm}
CLI=${TORPOR_CLI:-$TORPOR_ROOT/build/aarch64/torpor}
KERNEL=${TORPOR_KERNEL:-$TORPOR_ROOT/build/guest/Image}
ROOTFS=${TORPOR_ROOTFS:-$TORPOR_ROOT/build/guest/rootfs.cpio.gz}
DEFAULT_CMDLINE="console=ttyS0 quiet panic=-1"
TEST_NAME=$(basename "$0" .sh)

# run.sh hands us a temp dir and a file for the failure reason; a test run
# on its own makes its own.
if [ -n "${TORPOR_TEST_TMP:-}" ]; then
	T=$TORPOR_TEST_TMP
	mkdir -p "$T"
else
	T=$(mktemp -d "${TMPDIR:-/tmp}/torpor-$TEST_NAME.XXXXXX")
fi

VMM_PID=
VMM_PIDS=
VMM_LOG=
VMM_RC=
_vmm_n=0
_lib_failed=

_lib_cleanup() {
	for _p in $VMM_PIDS; do
		kill -9 "$_p" 2>/dev/null
	done
	if [ -z "$_lib_failed" ] && [ -z "${TORPOR_TEST_TMP:-}" ]; then
		rm -rf "$T"
	elif [ -n "$_lib_failed" ]; then
		echo "$TEST_NAME: files kept in $T"
	fi
}
trap _lib_cleanup EXIT
trap 'echo "$TEST_NAME: terminated"; _lib_failed=1; exit 143' TERM INT

fail() {
	_lib_failed=1
	echo "FAIL: $*"
	if [ -n "$VMM_LOG" ] && [ -f "$VMM_LOG" ]; then
		echo "--- last 60 lines of $VMM_LOG ---"
		tail -n 60 "$VMM_LOG" | tr -d '\r'
		echo "---"
	fi
	[ -n "${TORPOR_TEST_REASON:-}" ] && printf '%s\n' "$*" >"$TORPOR_TEST_REASON"
	exit 1
}

skip() {
	echo "SKIP: $*"
	[ -n "${TORPOR_TEST_REASON:-}" ] && printf '%s\n' "$*" >"$TORPOR_TEST_REASON"
	exit 77
}

require_kvm() {
	[ -c /dev/kvm ] || skip "no /dev/kvm on this host"
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "/dev/kvm is not readable and writable by $(id -un)"
}

require_file() {
	[ -f "$1" ] || fail "$1: missing (run make)"
}

guest_cmdline() {
	printf '%s torpor.run="%s"' "$DEFAULT_CMDLINE" "$1"
}

ms_now() {
	awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime
}

# Drop a reaped VMM from the list the cleanup kills (its pid may be reused).
_vmm_forget() {
	_l=
	for _p in $VMM_PIDS; do
		[ "$_p" = "$1" ] || _l="$_l $_p"
	done
	VMM_PIDS=$_l
}

# True while the VMM process exists and is not a zombie.
_vmm_alive() {
	[ -n "$VMM_PID" ] || return 1
	_st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$VMM_PID/status" 2>/dev/null)
	[ -n "$_st" ] && [ "$_st" != Z ]
}

wait_for_line() {
	_f=$1 _pat=$2 _end=$(($(ms_now) + $3 * 1000))
	while :; do
		if [ -f "$_f" ] && tr -d '\r' <"$_f" | grep -qE -- "$_pat"; then
			return 0
		fi
		[ "$(ms_now)" -ge "$_end" ] && return 1
		if [ "$_f" = "$VMM_LOG" ] && ! _vmm_alive; then
			tr -d '\r' <"$_f" | grep -qE -- "$_pat"
			return
		fi
		sleep 0.1
	done
}

assert_line() {
	tr -d '\r' <"$1" | grep -qE -- "$2" || fail "${3:-no line matching /$2/ in $(basename "$1")}"
}

vmm_start() {
	VMM_LOG=$1
	shift
	require_file "$VMM"
	_vmm_n=$((_vmm_n + 1))
	VMM_FIFO=$T/vmm-stdin.$_vmm_n
	rm -f "$VMM_FIFO"
	mkfifo "$VMM_FIFO"
	echo "+ $VMM $*" >>"$T/commands"
	"$VMM" "$@" <"$VMM_FIFO" >"$VMM_LOG" 2>&1 &
	VMM_PID=$!
	VMM_PIDS="$VMM_PIDS $VMM_PID"
	VMM_RC=
	# Holding the write end keeps the VMM's stdin open (no EOF) until the
	# next vmm_start or the end of the test.
	exec 8>"$VMM_FIFO"
}

vmm_input() {
	printf '%s\n' "$*" >&8
}

# Polls rather than using a watchdog process: a signal sent to a freshly
# forked subshell can hit the inherited trap and be lost.
vmm_wait() {
	[ -n "$VMM_PID" ] || fail "vmm_wait: no VMM started"
	_end=$(($(ms_now) + $1 * 1000))
	while _vmm_alive; do
		if [ "$(ms_now)" -ge "$_end" ]; then
			vmm_kill
			fail "VMM did not exit within $1 s (killed)"
		fi
		sleep 0.1
	done
	wait "$VMM_PID"
	VMM_RC=$?
	_vmm_forget "$VMM_PID"
	exec 8>&-
	return 0
}

vmm_kill() {
	[ -n "$VMM_PID" ] || return 0
	kill -9 "$VMM_PID" 2>/dev/null
	wait "$VMM_PID" 2>/dev/null
	VMM_RC=$?
	_vmm_forget "$VMM_PID"
	exec 8>&-
}

[ "${TORPOR_NO_KVM_OK:-0}" = 1 ] || require_kvm
