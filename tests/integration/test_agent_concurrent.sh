#!/bin/sh
# tests/integration/test_agent_concurrent.sh: 20 `torpor exec` at once against
# one guest agent, each with its own stdin, stdout, stderr and exit status,
# all overlapping in time (each command sleeps while the others run).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"
. "$(dirname "$0")/agent_lib.sh"

N=20
agent_vm_start "$T/vm.log"
S=$AGENT_UDS

t0=$(ms_now)
pids=
i=1
while [ "$i" -le "$N" ]; do
	(
		rc=0
		printf 'in-%d' "$i" | "$CLI" exec "$S" -- \
			sh -c "cat; echo; echo out-$i; sleep 2; echo err-$i >&2; exit $i" \
			>"$T/out.$i" 2>"$T/err.$i" || rc=$?
		echo "$rc" >"$T/rc.$i"
	) &
	pids="$pids $!"
	i=$((i + 1))
done
for p in $pids; do # not a bare wait: the VMM is a background job too
	wait "$p"
done
el=$(($(ms_now) - t0))

bad=0
i=1
while [ "$i" -le "$N" ]; do
	want=$(printf 'in-%d\nout-%d' "$i" "$i")
	if [ "$(cat "$T/rc.$i")" != "$i" ] || [ "$(cat "$T/out.$i")" != "$want" ] ||
		[ "$(cat "$T/err.$i")" != "err-$i" ]; then
		echo "exec $i: rc=$(cat "$T/rc.$i") out=[$(tr '\n' '|' <"$T/out.$i")] err=[$(tr '\n' '|' <"$T/err.$i")]"
		bad=$((bad + 1))
	fi
	i=$((i + 1))
done
[ "$bad" = 0 ] || fail "$bad of $N concurrent execs went wrong"
echo "$N concurrent execs (each sleeping 2 s) in $el ms"
# Sequential would take at least N * 2 s.
[ "$el" -lt $((N * 2000)) ] || fail "the execs did not overlap ($el ms)"

agent_vm_stop
