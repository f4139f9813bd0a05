#!/bin/sh
# tests/integration/test_agent_relay.sh: `torpor relay` to a TCP server in the
# guest (busybox nc), both directions with checksums and half-close; a port
# nobody listens on fails; `torpor ready` with a listener (at once) and
# without one (not ready at its deadline).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"
. "$(dirname "$0")/agent_lib.sh"

agent_vm_start "$T/vm.log"
S=$AGENT_UDS

# Host → guest: the guest's nc writes what it receives to its stdout, which
# comes back through the exec stream.
head -c 2097152 /dev/urandom >"$T/up"
tp exec -n "$S" -- nc -l -p 7000 >"$T/got-up" 2>"$T/nc-up.err" &
ncpid=$!
agent_wait_listen 7000 30 || fail "nc did not listen on port 7000"
tp relay "$S" 7000 <"$T/up" >"$T/relay-up.out" || fail "relay host → guest failed"
wait "$ncpid" || fail "the guest's nc failed: $(cat "$T/nc-up.err")"
cmp -s "$T/up" "$T/got-up" || fail "host → guest: $(wc -c <"$T/got-up") bytes arrived, differing"

# Guest → host: a program run by nc for the connection sends a file and
# exits, which closes the connection. (nc itself would stop at our EOF before
# sending everything: busybox nc exits when the network side ends.)
guest_sh 'head -c 2097152 /dev/urandom >/tmp/down; sha256sum /tmp/down' | cut -d' ' -f1 >"$T/down.sum"
tp exec -n "$S" -- nc -l -p 7001 -e cat /tmp/down >/dev/null 2>"$T/nc-down.err" &
ncpid=$!
agent_wait_listen 7001 30 || fail "nc did not listen on port 7001"
tp relay "$S" 7001 </dev/null >"$T/got-down" || fail "relay guest → host failed"
wait "$ncpid" || fail "the guest's nc failed: $(cat "$T/nc-down.err")"
[ "$(sha "$T/got-down")" = "$(cat "$T/down.sum")" ] || fail "guest → host: checksums differ ($(wc -c <"$T/got-down") bytes)"

# Nobody listens: the relay fails at once with a clear error.
expect_rc 1 "relay to a closed port" relay "$S" 7999 </dev/null 2>"$T/err"
grep -q '^torpor: error: relay to port 7999' "$T/err" || fail "error line: $(cat "$T/err")"
echo "closed port: $(cat "$T/err")"

# ready: a listener answers at once; without one, not ready after the deadline.
tp exec -n "$S" -- nc -l -p 7002 >/dev/null 2>&1 &
ncpid=$!
agent_wait_listen 7002 30 || fail "nc did not listen on port 7002"
t0=$(ms_now)
tp ready "$S" --port 7002 --timeout 10 >"$T/ready" || fail "ready with a listener failed"
[ "$(cat "$T/ready")" = ready ] || fail "ready printed: $(cat "$T/ready")"
echo "ready with a listener: $(($(ms_now) - t0)) ms"
wait "$ncpid"
t0=$(ms_now)
expect_rc 1 "ready without a listener" ready "$S" --port 7998 --timeout 2 2>"$T/err"
el=$(($(ms_now) - t0))
grep -q 'not ready' "$T/err" || fail "error line: $(cat "$T/err")"
[ "$el" -ge 1500 ] && [ "$el" -lt 20000 ] || fail "ready --timeout 2 took $el ms"
echo "ready without a listener: $(cat "$T/err") after $el ms"

agent_vm_stop
