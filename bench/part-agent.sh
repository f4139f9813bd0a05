#!/bin/sh
# bench/part-agent.sh WHERE: the guest agent as the torpor CLI sees it, one
# guest (1 vCPU, 256 MiB, ext4 root, vsock) booted for all of it:
#   exec round trip   `torpor exec -n VSOCK -- true`, median/min/max of
#                     TORPOR_BENCH_AGENT_EXECS runs (default 100): a CLI
#                     process, connect + CONNECT/OK, the exec request, fork and
#                     exec of /bin/true in the guest, its exit, the reply;
#                     `torpor ping` (process + connect + ping) beside it
#   file transfer     `torpor cp` of TORPOR_BENCH_AGENT_MIB MiB (default 32) of
#                     random bytes to the guest's /tmp (tmpfs) and back, MB/s
#                     (10^6 bytes/s) of each whole command
#   relay             `torpor relay` to busybox nc in the guest, the same size,
#                     host → guest (nc writes to /dev/null) and guest → host
#                     (cat of a tmpfs file, run by nc -e), MB/s of each whole command
#   idle RSS          VmRSS of the torpor-agent process (/proc/PID/status, read
#                     with an exec) after boot and again after all the above
# Every line ends with [WHERE]. Times come from build/aarch64/torpor-test-timeit.
set -eu
where=${1:-unlabelled}
B=build/aarch64
VMM=$B/torpor-vmm
CLI=$B/torpor
TIMEIT=$B/torpor-test-timeit
KERNEL=build/guest/Image
ROOT=build/guest/rootfs.ext4
EXECS=${TORPOR_BENCH_AGENT_EXECS:-100}
MIB=${TORPOR_BENCH_AGENT_MIB:-32}

for f in "$VMM" "$CLI" "$TIMEIT" "$KERNEL" "$ROOT"; do
	[ -f "$f" ] || { echo "bench agent: $f is missing (run make all guest)"; exit 1; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/torpor-bench-agent.XXXXXX")
S=$T/vm.vsock
vmm_pid=
cleanup() {
	[ -n "$vmm_pid" ] && kill -9 "$vmm_pid" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

bad() {
	echo "bench agent: $1"
	[ -f "${2:-}" ] && tail -n 30 "$2" | tr -d '\r'
	exit 1
}

# timeit NAME N CMD...: the TIMEIT line's fields as shell variables NAME_median_us etc.
timeit() {
	_name=$1 _n=$2
	shift 2
	"$TIMEIT" -n "$_n" -- "$@" >"$T/$_name.time" 2>"$T/$_name.err" ||
		bad "$_name failed: $(cat "$T/$_name.time" "$T/$_name.err" | tr '\n' ' ' | cut -c1-300)"
	eval "$(sed -n 's/^TIMEIT //p' "$T/$_name.time" | tr ' ' '\n' | sed -n "s/^\([a-z_]*\)=\([0-9]*\)$/${_name}_\1=\2/p")"
}

ms() { # microseconds as milliseconds with 2 decimals
	awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'
}

mbps() { # bytes, microseconds
	awk -v b="$1" -v u="$2" 'BEGIN { printf "%.1f", (u > 0 ? b / u : 0) }'
}

rss() {
	"$CLI" exec -n "$S" -- sh -c 'for d in /proc/[0-9]*; do
		[ "$(cat $d/comm 2>/dev/null)" = torpor-agent ] && sed -n "s/^VmRSS:[[:space:]]*//p" $d/status
	done' | head -n 1
}

# The guest idles until /tmp/bench-stop exists.
"$VMM" --kernel "$KERNEL" --memory 256M --no-console-input \
	--disk "path=$ROOT,overlay=$T/root.ovl" --vsock "cid=3,uds=$S" \
	--cmdline "console=ttyS0 quiet panic=-1 root=/dev/vda rw torpor.run=\"while [ ! -e /tmp/bench-stop ]; do sleep 0.5; done\"" \
	</dev/null >"$T/vm.log" 2>&1 &
vmm_pid=$!
i=0
until "$CLI" ping "$S" --timeout 5 >/dev/null 2>&1; do
	i=$((i + 1))
	[ "$i" -le 180 ] || bad "the agent did not answer within 90 s" "$T/vm.log"
	kill -0 "$vmm_pid" 2>/dev/null || bad "torpor-vmm exited" "$T/vm.log"
	sleep 0.5
done
sleep 2 # let the boot settle before measuring
rss_boot=$(rss)

timeit ping 20 "$CLI" ping "$S"
timeit exec "$EXECS" "$CLI" exec -n "$S" -- true

bytes=$((MIB * 1048576))
head -c "$bytes" /dev/urandom >"$T/data"
timeit up 1 "$CLI" cp "$T/data" "guest:$S:/tmp/data"
timeit down 1 "$CLI" cp "guest:$S:/tmp/data" "$T/back"
cmp -s "$T/data" "$T/back" || bad "the file came back different"
rm -f "$T/back"

# Relay: a guest nc per direction, started through a background exec.
"$CLI" exec -n "$S" -- sh -c 'nc -l -p 7100 >/dev/null' &
nc_pid=$!
sleep 1
i=0
until "$CLI" exec -n "$S" -- sh -c "cat /proc/net/tcp* 2>/dev/null | grep -qE ':1BBC [0-9A-F]+:[0-9A-F]+ 0A'"; do
	i=$((i + 1))
	[ "$i" -le 100 ] || bad "nc did not listen"
	sleep 0.2
done
timeit relay_up 1 sh -c "\"$CLI\" relay \"$S\" 7100 <\"$T/data\" >/dev/null"
wait "$nc_pid" || bad "the guest's nc (7100) failed"
# nc -e: nc itself would exit at our EOF before sending everything.
"$CLI" exec -n "$S" -- nc -l -p 7101 -e cat /tmp/data &
nc_pid=$!
i=0
until "$CLI" exec -n "$S" -- sh -c "cat /proc/net/tcp* 2>/dev/null | grep -qE ':1BBD [0-9A-F]+:[0-9A-F]+ 0A'"; do
	i=$((i + 1))
	[ "$i" -le 100 ] || bad "nc did not listen"
	sleep 0.2
done
timeit relay_down 1 sh -c "\"$CLI\" relay \"$S\" 7101 </dev/null >\"$T/relayed\""
wait "$nc_pid" || bad "the guest's nc (7101) failed"
cmp -s "$T/data" "$T/relayed" || bad "the relayed file came back different"

sleep 2
rss_after=$(rss)
"$CLI" exec -n "$S" -- touch /tmp/bench-stop >/dev/null 2>&1 || true
wait "$vmm_pid" || bad "torpor-vmm failed" "$T/vm.log"
vmm_pid=

echo "guest agent through the torpor CLI, $where:"
echo "  one guest (1 vCPU, 256 MiB); every figure is a whole torpor command: process start, connect, request, reply"
printf '  %-26s median %s ms  min %s ms  max %s ms  (n=%s)  [%s]\n' "exec true round trip" \
	"$(ms "$exec_median_us")" "$(ms "$exec_min_us")" "$(ms "$exec_max_us")" "$EXECS" "$where"
printf '  %-26s median %s ms  min %s ms  max %s ms  (n=20)  [%s]\n' "ping round trip" \
	"$(ms "$ping_median_us")" "$(ms "$ping_min_us")" "$(ms "$ping_max_us")" "$where"
printf '  %-26s %s MB/s  (%s MiB in %s ms)  [%s]\n' "cp host -> guest /tmp" \
	"$(mbps "$bytes" "$up_total_us")" "$MIB" "$(ms "$up_total_us")" "$where"
printf '  %-26s %s MB/s  (%s MiB in %s ms)  [%s]\n' "cp guest /tmp -> host" \
	"$(mbps "$bytes" "$down_total_us")" "$MIB" "$(ms "$down_total_us")" "$where"
printf '  %-26s %s MB/s  (%s MiB in %s ms)  [%s]\n' "relay host -> guest nc" \
	"$(mbps "$bytes" "$relay_up_total_us")" "$MIB" "$(ms "$relay_up_total_us")" "$where"
printf '  %-26s %s MB/s  (%s MiB in %s ms)  [%s]\n' "relay guest nc -> host" \
	"$(mbps "$bytes" "$relay_down_total_us")" "$MIB" "$(ms "$relay_down_total_us")" "$where"
printf '  %-26s %s after boot, %s after the runs above  [%s]\n' "agent idle RSS (VmRSS)" \
	"${rss_boot:-?}" "${rss_after:-?}" "$where"
