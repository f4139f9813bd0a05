# tests/integration/snap_lib.sh: helpers for the snapshot tests (sourced after
# lib.sh, blk_lib.sh and agent_lib.sh by test_snapshot*.sh).
#
#   snap_counter_start         start a guest process that counts in memory and
#                              appends each number to /root/count.log (ext4)
#   snap_count                 the last number in /root/count.log
#   snap_check_count           fail unless count.log is 1..N with no gap or repeat
#   snap_wait_agent UDS TIMEOUT  wait until the agent at UDS answers a ping
#   realtime_ms                CLOCK_REALTIME in ms (busybox adjtimex; date has no %N)
#   REALTIME_MS                the same as a command for guest_sh

snap_counter_start() {
	guest_sh 'rm -f /root/count.log; setsid sh -c "i=0; while true; do i=\$((i+1)); echo \$i >>/root/count.log; sleep 0.05; done" </dev/null >/dev/null 2>&1 &' ||
		fail "cannot start the counter in the guest"
}

snap_count() {
	guest_sh 'tail -n 1 /root/count.log'
}

snap_check_count() {
	_r=$(guest_sh "awk 'NR != \$1 { bad = NR } END { print (bad ? \"BAD at \" bad : \"OK\"), NR }' /root/count.log") ||
		fail "cannot read count.log"
	case "$_r" in OK*) echo "count.log: $_r" ;; *) fail "count.log is not 1..N: $_r" ;; esac
}

snap_wait_agent() {
	_end=$(($(ms_now) + $2 * 1000))
	until "$CLI" ping "$1" --timeout 5 >"$T/ping.out" 2>&1; do
		_vmm_alive || fail "the VMM exited before the agent answered: $(tr '\n' ' ' <"$T/ping.out")"
		[ "$(ms_now)" -lt "$_end" ] || fail "no answer from the agent at $1 within $2 s: $(tr '\n' ' ' <"$T/ping.out")"
		sleep 0.5
	done
}

REALTIME_MS="adjtimex | awk '/tv_sec/ { s = \$NF } /tv_usec/ { u = \$NF } END { printf \"%.0f\\n\", s * 1000 + int(u / 1000) }'"

realtime_ms() {
	sh -c "$REALTIME_MS"
}
