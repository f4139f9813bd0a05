#!/bin/sh
# tests/integration/test_agent_big.sh: a large stdout through `torpor exec`,
# checked with a checksum: the guest writes the same random MiB
# TORPOR_TEST_AGENT_MIB times (default 100), the host hashes what arrives and
# compares with the hash of that MiB repeated as often. Prints the rate.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"
. "$(dirname "$0")/agent_lib.sh"

mib=${TORPOR_TEST_AGENT_MIB:-100}
start=$(ms_now)
agent_vm_start "$T/vm.log"
S=$AGENT_UDS

guest_sh 'head -c 1048576 /dev/urandom >/tmp/r' || fail "cannot make the random MiB in the guest"
tp exec -n "$S" -- cat /tmp/r >"$T/r" || fail "cannot fetch the random MiB"
[ "$(wc -c <"$T/r" | tr -d ' ')" = 1048576 ] || fail "the random MiB is $(wc -c <"$T/r") bytes"
want=$(i=0; while [ "$i" -lt "$mib" ]; do cat "$T/r"; i=$((i + 1)); done | md5sum | cut -d' ' -f1)

t0=$(ms_now)
got=$(tp exec -n "$S" -- sh -c "i=0; while [ \$i -lt $mib ]; do cat /tmp/r; i=\$((i + 1)); done" |
	md5sum | cut -d' ' -f1)
el=$(($(ms_now) - t0))
[ "$got" = "$want" ] || fail "$mib MiB of stdout: md5 $got, expected $want"
echo "$mib MiB of stdout in $el ms ($((mib * 1048576 / (el + 1) / 1000)) MB/s), md5 $got"

agent_vm_stop
echo "the whole test: $(($(ms_now) - start)) ms"
