# tests/integration/agent_lib.sh: helpers for the guest agent tests (sourced
# after lib.sh and blk_lib.sh by test_agent*.sh). The guest boots from the
# ext4 root with a vsock device; guest-init starts the agent on port 1024;
# the host side is the torpor CLI ($CLI).
#
#   AGENT_UDS                 the VMM's vsock socket ($T/vm.vsock)
#   agent_vm_start LOG [VMM-ARGS...]
#                             boot the guest (it idles until agent_vm_stop) and
#                             wait until the agent answers a ping (fails after 90 s)
#   agent_vm_stop             ask the guest to power off and wait for the VMM (exit 0)
#   tp ARGS...                run the torpor CLI (logged to $T/commands)
#   tp_rc ARGS...             the same, exit status in TP_RC (never fails)
#   expect_rc WANT WHAT ARGS...  run tp ARGS, fail unless it exits WANT
#   guest_sh CMD              torpor exec -n $AGENT_UDS -- sh -c CMD (stdout to stdout)
#   agent_wait_listen PORT TIMEOUT
#                             wait until a TCP socket listens on PORT in the guest
#                             (read from /proc/net/tcp, without connecting to it)

AGENT_UDS=$T/vm.vsock
require_file "$CLI"

# guest-init runs the agent itself when the VM has a vsock device. The main
# command only waits for the stop file, so the guest lives until the test ends.
AGENT_RUN='while [ ! -e /tmp/agent-test-stop ]; do sleep 0.2; done; sync'

tp() {
	echo "+ torpor $*" >>"$T/commands"
	"$CLI" "$@"
}

tp_rc() {
	TP_RC=0
	tp "$@" || TP_RC=$?
}

expect_rc() {
	_want=$1 _what=$2
	shift 2
	tp_rc "$@"
	[ "$TP_RC" = "$_want" ] || fail "$_what: exit status $TP_RC, expected $_want (torpor $*)"
}

guest_sh() {
	tp exec -n "$AGENT_UDS" -- sh -c "$1"
}

agent_vm_start() {
	_log=$1
	shift
	vmm_start "$_log" --kernel "$KERNEL" --memory 256M \
		--disk "path=$ROOTFS_EXT4,overlay=$T/root.ovl" --vsock "cid=3,uds=$AGENT_UDS" \
		"$@" --cmdline "$(blk_cmdline "$AGENT_RUN")"
	_t0=$(ms_now)
	_end=$((_t0 + 90000))
	until "$CLI" ping "$AGENT_UDS" --timeout 5 >"$T/ping.out" 2>&1; do
		_vmm_alive || fail "the VMM exited before the agent answered: $(tr '\n' ' ' <"$T/ping.out")"
		[ "$(ms_now)" -lt "$_end" ] || fail "no answer from the agent within 90 s: $(tr '\n' ' ' <"$T/ping.out")"
		sleep 0.5
	done
	echo "agent up $(($(ms_now) - _t0)) ms after the VMM started: $(cat "$T/ping.out")"
}

agent_vm_stop() {
	tp exec -n "$AGENT_UDS" -- touch /tmp/agent-test-stop || fail "cannot ask the guest to stop"
	vmm_wait 60
	[ "$VMM_RC" = 0 ] || fail "torpor-vmm exited with $VMM_RC"
}

agent_wait_listen() {
	_hex=$(printf '%04X' "$1")
	_end=$(($(ms_now) + $2 * 1000))
	# /proc/net/tcp: local_address is IP:PORT in hex, st 0A is LISTEN.
	until guest_sh "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -qE '^ *[0-9]+: [0-9A-F]+:$_hex [0-9A-F]+:[0-9A-F]+ 0A'" 2>/dev/null; do
		[ "$(ms_now)" -lt "$_end" ] || return 1
		sleep 0.2
	done
}
