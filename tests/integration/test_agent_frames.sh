#!/bin/sh
# tests/integration/test_agent_frames.sh: the guest agent (docs/agent-protocol.md)
# over the VMM's vsock socket, frame by frame, with build/aarch64/torpor-test-agent
# (tests/host/agent_host.c): ping; exec exit codes, output, env/cwd, signal,
# timeout, cancel; 1 MiB of stdin through cat and back (credit both ways); a
# producer that stalls at the window while other streams go on; every kind of
# bad frame, each followed by a working ping; stream resets; an oversized
# length closing only its connection; 16 connections x 16 streams; the
# 64-connection and 256-stream limits; a client that grants credit but does
# not read (the agent's memory stays bounded); files (atomic write, read, stat, list, remove); pty and
# resize; ready and relay to a TCP port in the guest; a client that vanishes
# mid-stream leaves no process, zombie or fd behind (counted in /proc from a
# later exec); uid, quiesce, restored (entropy, clock), app.json's port for
# ready and its restored hook. Then `shutdown` powers the guest off.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"

AGENT_HOST=${TORPOR_TEST_AGENT:-$TORPOR_ROOT/build/aarch64/torpor-test-agent}
require_file "$AGENT_HOST"
UDS=$T/vm.vsock

agent() {
	echo "+ torpor-test-agent vsock:$UDS $*" >>"$T/commands"
	"$AGENT_HOST" "vsock:$UDS" "$@"
}

# PID 1 starts the agent when the guest has a vsock device.
vmm_start "$T/vm.log" --kernel "$KERNEL" --memory 256M \
	--disk "path=$ROOTFS_EXT4,overlay=$T/root.ovl" --vsock "cid=3,uds=$UDS" \
	--cmdline "$(blk_cmdline 'sleep 600')"
agent -t 60 wait >"$T/wait.log" 2>&1 || fail "the agent did not answer: $(grep FAIL "$T/wait.log")"
cat "$T/wait.log"

agent all >"$T/checks.log" 2>&1
rc=$?
cat "$T/checks.log"
[ "$rc" = 0 ] || fail "$(grep 'FAIL' "$T/checks.log" | head -n 3 | tr '\n' ' ')"
grep -q '^AGENT-DONE ok=17 fail=0$' "$T/checks.log" || fail "not every check ran: $(tail -n 1 "$T/checks.log")"

agent shutdown >"$T/shutdown.log" 2>&1 || fail "shutdown: $(cat "$T/shutdown.log")"
vmm_wait 60
[ "$VMM_RC" = 0 ] || fail "torpor-vmm exited with $VMM_RC after shutdown"
assert_line "$VMM_LOG" 'torpor-init: exit signal=15' "the main command was not stopped by shutdown"
