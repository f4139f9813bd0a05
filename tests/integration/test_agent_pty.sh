#!/bin/sh
# tests/integration/test_agent_pty.sh: `torpor shell` on a host pseudo-terminal
# (build/aarch64/torpor-test-pty plays the user): the guest shell sees a tty
# of the host terminal's size, follows a resize (SIGWINCH), gets TERM from
# the environment, its exit status passes through, and torpor gives the
# terminal back in the modes it found it in, also when SIGTERM ends it. Then `torpor exec -t`.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"
. "$(dirname "$0")/agent_lib.sh"

PTY=${TORPOR_TEST_PTY:-$TORPOR_ROOT/build/aarch64/torpor-test-pty}
require_file "$PTY"
agent_vm_start "$T/vm.log"
S=$AGENT_UDS

echo "+ torpor-test-pty ... -- torpor shell $S" >>"$T/commands"
TERM=xterm-torpor-test "$PTY" -t 30 -s 24x80 -o "$T/transcript" \
	'expect:[#$] ' \
	'send:stty size; tty; echo T=$TERM\r' \
	'expect:24 80' 'expect:/dev/pts/[0-9]+' 'expect:T=xterm-torpor-test' \
	'resize:40x132' 'sleep:500' \
	'send:stty size\r' \
	'expect:40 132' \
	'send:exit 7\r' \
	-- "$CLI" shell "$S" >"$T/pty.log" 2>&1 || fail "the pty session failed: $(tr '\n' ' ' <"$T/pty.log" | cut -c1-600)"
cat "$T/pty.log"
assert_line "$T/pty.log" '^PTY-EXIT code=7$' "the shell's exit status did not pass through"
assert_line "$T/pty.log" '^PTY-TERMIOS restored$' "torpor shell left the terminal changed"

# exec -t: a command on a pty, with its exit status.
"$PTY" -t 30 -s 30x100 'expect:30 100' -- "$CLI" exec -t "$S" -- sh -c 'stty size; tty; exit 5' \
	>"$T/pty2.log" 2>&1 || fail "exec -t failed: $(tr '\n' ' ' <"$T/pty2.log" | cut -c1-600)"
assert_line "$T/pty2.log" '^PTY-EXIT code=5$' "exec -t: the exit status did not pass through"
assert_line "$T/pty2.log" '^PTY-TERMIOS restored$' "exec -t left the terminal changed"

# SIGTERM to torpor shell: the session is hung up, the terminal restored, 143.
"$PTY" -t 30 'expect:[#$] ' 'send:echo ready-for-term\r' 'expect:ready-for-term' 'kill:15' \
	-- "$CLI" shell "$S" >"$T/pty3.log" 2>&1 || fail "SIGTERM session: $(tr '\n' ' ' <"$T/pty3.log" | cut -c1-600)"
assert_line "$T/pty3.log" '^PTY-EXIT code=143$' "torpor shell did not exit 143 on SIGTERM"
assert_line "$T/pty3.log" '^PTY-TERMIOS restored$' "SIGTERM left the terminal raw"
agent_vm_stop
