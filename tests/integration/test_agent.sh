#!/bin/sh
# tests/integration/test_agent.sh: `torpor exec` against the guest agent:
# exit statuses and deaths by signal pass through (128+N), a missing command
# is 127, stdin is piped through and its EOF ends the command's input,
# stdout and stderr stay apart, --env/--cwd/--user/--no-stdin, --timeout
# kills (124), signals sent to torpor reach the command, a closed stdout
# pipe gives the command SIGPIPE, and `torpor ping`.
# The other agent tests: test_agent_{concurrent,big,pty,files,relay}.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"
. "$(dirname "$0")/agent_lib.sh"

agent_vm_start "$T/vm.log"
S=$AGENT_UDS

# ping: uptime, version, protocol
tp ping "$S" >"$T/ping" || fail "ping failed"
grep -qE '^uptime [0-9]+\.[0-9]{3} s, guest-init .+, protocol 1, round trip' "$T/ping" ||
	fail "ping printed: $(cat "$T/ping")"

# Exit statuses, and deaths by signal as a shell reports them.
for code in 0 1 2 42 255; do
	expect_rc "$code" "exit $code" exec -n "$S" -- sh -c "exit $code"
done
expect_rc 143 "SIGTERM death" exec -n "$S" -- sh -c 'kill -TERM $$'
expect_rc 137 "SIGKILL death" exec -n "$S" -- sh -c 'kill -KILL $$'
expect_rc 127 "missing command" exec -n "$S" -- /no/such/command 2>"$T/err"
grep -q '^torpor: error: ' "$T/err" || fail "no error line for a missing command: $(cat "$T/err")"
echo "missing command: $(cat "$T/err")"

# stdout and stderr stay apart, in order within each.
tp exec -n "$S" -- sh -c 'echo out1; echo err1 >&2; echo out2; echo err2 >&2' \
	>"$T/out" 2>"$T/err" || fail "exec with stdout and stderr failed"
[ "$(cat "$T/out")" = "$(printf 'out1\nout2')" ] || fail "stdout: $(cat "$T/out")"
[ "$(cat "$T/err")" = "$(printf 'err1\nerr2')" ] || fail "stderr: $(cat "$T/err")"

# stdin: 1 MiB piped through and checked on both sides; EOF ends it.
head -c 1048576 /dev/urandom >"$T/in"
tp exec "$S" -- cat <"$T/in" >"$T/echo" || fail "cat of stdin failed"
cmp -s "$T/in" "$T/echo" || fail "stdin came back different ($(wc -c <"$T/echo") bytes)"
gsum=$(tp exec "$S" -- sha256sum <"$T/in" | cut -d' ' -f1)
[ "$gsum" = "$(sha "$T/in")" ] || fail "the guest's sha256 of stdin differs: $gsum"
[ "$(tp exec "$S" -- wc -c </dev/null | tr -d ' ')" = 0 ] || fail "an empty stdin is not EOF"
[ "$(echo data | tp exec -n "$S" -- wc -c | tr -d ' ')" = 0 ] || fail "-n still passed stdin"

# Environment, working directory, user.
got=$(tp exec -n -e FOO=bar -e 'SP=a b' -w /tmp -u 1000:1001 "$S" -- \
	sh -c 'echo "$FOO|$SP|$(pwd)|$(id -u)|$(id -g)"') || fail "exec with options failed"
[ "$got" = "bar|a b|/tmp|1000|1001" ] || fail "env/cwd/user: $got"

# --timeout: the agent kills the command; 124 without waiting for it.
t0=$(ms_now)
expect_rc 124 "--timeout" exec -n --timeout 2 "$S" -- sleep 100
el=$(($(ms_now) - t0))
[ "$el" -lt 30000 ] || fail "--timeout 2 took $el ms"
echo "--timeout 2 ended after $el ms"

# A signal to torpor reaches the command: SIGTERM → the command dies of it →
# 143. (Not SIGINT: a background job of a script starts with SIGINT ignored,
# and torpor, like any program, leaves an ignored signal ignored.)
"$CLI" exec -n "$S" -- sleep 61 & # not tp: $! must be torpor itself
pid=$!
end=$(($(ms_now) + 30000))
until guest_sh 'ps' | grep -q '[s]leep 61'; do
	[ "$(ms_now)" -lt "$end" ] || fail "the remote sleep never showed up"
	sleep 0.2
done
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" = 143 ] || fail "SIGTERM to torpor exec: exit status $rc, expected 143"
guest_sh 'ps' | grep -q '[s]leep 61' && fail "the remote sleep survived SIGTERM"

# A closed stdout pipe: the command gets SIGPIPE (141), as if local.
(
	rc=0
	"$CLI" exec -n "$S" -- yes || rc=$?
	echo "$rc" >"$T/yes.rc"
) | head -n 3 >"$T/yes.out"
[ "$(cat "$T/yes.rc")" = 141 ] || fail "exec ... | head: exit status $(cat "$T/yes.rc"), expected 141"
[ "$(wc -l <"$T/yes.out" | tr -d ' ')" = 3 ] || fail "head got: $(cat "$T/yes.out")"

# Usage errors are 125 for exec, with a one-line error.
expect_rc 125 "exec without a command" exec "$S" 2>"$T/err"
grep -q '^torpor: error: ' "$T/err" || fail "usage error without an error line"

agent_vm_stop
