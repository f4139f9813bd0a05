#!/bin/sh
# bench/part-snapshot.sh WHERE: snapshots and restores, measured in one run.
# Every guest boots the initramfs (build/guest/rootfs.cpio.gz, 1 vCPU, no
# disk) with a vsock device; guest-init runs the agent. Every line ends with
# [WHERE]. Times come from build/aarch64/torpor-test-timeit.
#   restore vs cold boot  for each size in TORPOR_BENCH_SNAP_SIZES (MiB,
#                         default "128 512 2048"): the median of
#                         TORPOR_BENCH_SNAP_RUNS (default 5) cold boots and of
#                         as many restores, each from starting torpor-vmm to
#                         the first `torpor ping` the agent answers (a ping
#                         every ~10 ms); the snapshot is a full one of the last
#                         cold-booted guest, 2 s after its agent answered.
#                         torpor-vmm refuses a guest larger than the host's
#                         RAM: such a size is skipped and said so (bench/run.sh
#                         gives the test host 3072 MiB for the 2 GiB guest)
#   full vs diff          a 1 GiB guest: `torpor vm snapshot ... full` (guest
#                         paused), resume, 16 MiB of random bytes written to a
#                         file in the guest's /tmp by `torpor exec`, pause,
#                         `torpor vm snapshot ... diff`: the time of each whole
#                         command and the files' sizes (allocated, du; apparent)
#   sharing               5 VMMs restored from the 512 MiB snapshot (or the
#                         largest size under 1 GiB) running at once: Rss and
#                         Pss of each from /proc/PID/smaps_rollup, and of its
#                         guest RAM mapping alone (the memory file's lines in
#                         /proc/PID/smaps)
# The snapshot files live in a tmpfs under /tmp (mounted for this part with a
# size limit above guest RAM, when we are root, so that a full snapshot is
# mapped as RAM and diffs work; see docs/api-vmm.md): restores map page cache.
# Every VMM started here is killed on exit.
set -eu
where=${1:-unlabelled}
B=build/aarch64
VMM=$B/torpor-vmm
CLI=$B/torpor
TIMEIT=$B/torpor-test-timeit
KERNEL=build/guest/Image
INITRD=build/guest/rootfs.cpio.gz
SIZES=${TORPOR_BENCH_SNAP_SIZES:-128 512 2048}
RUNS=${TORPOR_BENCH_SNAP_RUNS:-5}
SHARE_N=5

for f in "$VMM" "$CLI" "$TIMEIT" "$KERNEL" "$INITRD"; do
	[ -f "$f" ] || { echo "bench snapshot: $f is missing (run make all guest)"; exit 1; }
done
VMM=$(cd "$(dirname "$VMM")" && pwd)/torpor-vmm
CLI=$(cd "$(dirname "$CLI")" && pwd)/torpor
T=$(mktemp -d /tmp/torpor-bench-snap.XXXXXX)
mounted=
PIDS=$T.pids # outside $T: it must survive the unmount
: >"$PIDS"

cleanup() {
	set +e
	for p in $(cat "$PIDS" 2>/dev/null); do
		kill -9 "$p" 2>/dev/null
	done
	for p in $(cat "$PIDS" 2>/dev/null); do
		i=0
		while [ -d "/proc/$p" ] && [ "$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$p/status" 2>/dev/null)" != Z ] && [ "$i" -lt 100 ]; do
			sleep 0.05
			i=$((i + 1))
		done
	done
	[ -n "$mounted" ] && umount "$T"
	rm -rf "$T" "$PIDS"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A tmpfs of our own, whose room exceeds any guest's RAM (a limit, not an allocation).
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=16g,mode=0700 torpor-bench-snap "$T" 2>/dev/null; then
	mounted=1
fi
fstype=$(stat -f -c %T "$T" 2>/dev/null || echo unknown)

bad() {
	echo "bench snapshot: $1"
	[ -f "${2:-}" ] && tail -n 30 "$2" | tr -d '\r'
	exit 1
}

ms() { # microseconds as milliseconds with 1 decimal
	awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'
}

median() { # numbers as arguments
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2)) }'
}

minmax() {
	printf '%s\n' "$@" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.1f..%.1f", lo / 1000, hi / 1000 }'
}

# up.sh LOG PIDFILE SOCK VMM-ARGS...: start the VMM in the background and
# return once the agent answers a ping (exit 1 if the VMM dies or 60 s pass).
# Timed as a whole by TIMEIT; the VMM outlives it (killed by pid).
cat >"$T/up.sh" <<EOF
log=\$1 pidf=\$2 sock=\$3
shift 3
"$VMM" "\$@" </dev/null >"\$log" 2>&1 &
p=\$!
echo "\$p" >"\$pidf"
echo "\$p" >>"$PIDS"
i=0
until "$CLI" ping "\$sock" --timeout 5 >/dev/null 2>&1; do
	if ! kill -0 "\$p" 2>/dev/null; then
		wait "\$p"
		echo "bench: torpor-vmm exited with status \$?" >>"\$log"
		exit 1
	fi
	i=\$((i + 1))
	if [ "\$i" -gt 3000 ]; then
		echo "bench: no answer to ping after 3000 tries" >>"\$log"
		exit 1
	fi
	sleep 0.01
done
EOF

# up NAME SOCK VMM-ARGS...: start and time; sets UP_US and UP_PID. A start
# whose agent does not answer is reported and tried once more (RETRIES).
RETRIES=0
up() {
	_n=$1 _s=$2
	shift 2
	if ! "$TIMEIT" -n 1 -- sh "$T/up.sh" "$T/$_n.log" "$T/$_n.pid" "$_s" "$@" >"$T/$_n.time" 2>&1; then
		[ -s "$T/$_n.pid" ] && vmm_kill "$(cat "$T/$_n.pid")"
		[ "$RETRIES" -lt 2 ] || bad "$_n: the agent did not answer, again" "$T/$_n.log"
		RETRIES=$((RETRIES + 1))
		echo "  $_n: the agent did not answer ($(tr -d '\r' <"$T/$_n.log" | tail -n 2 | tr '\n' ' ' | cut -c1-240)); trying again  [$where]"
		rm -f "$_s" "$T/$_n.ctl"
		"$TIMEIT" -n 1 -- sh "$T/up.sh" "$T/$_n.log" "$T/$_n.pid" "$_s" "$@" >"$T/$_n.time" 2>&1 ||
			bad "$_n: the agent did not answer ($(tr '\n' ' ' <"$T/$_n.time" | cut -c1-200))" "$T/$_n.log"
	fi
	UP_US=$(sed -n 's/^TIMEIT .*total_us=\([0-9]*\).*/\1/p' "$T/$_n.time")
	UP_PID=$(cat "$T/$_n.pid")
	[ -n "$UP_US" ] || bad "$_n: no TIMEIT line"
}

# kill -9 one VMM and wait until it is gone (it was orphaned: no wait).
vmm_kill() {
	kill -9 "$1" 2>/dev/null || true
	_i=0
	while [ -d "/proc/$1" ] && [ "$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)" != Z ]; do
		_i=$((_i + 1))
		[ "$_i" -le 200 ] || bad "torpor-vmm $1 did not die"
		sleep 0.05
	done
}

# timed NAME CMD...: run CMD once under TIMEIT; microseconds in TIMED_US.
timed() {
	_n=$1
	shift
	"$TIMEIT" -n 1 -- "$@" >"$T/$_n.time" 2>&1 ||
		bad "$_n failed: $(tr '\n' ' ' <"$T/$_n.time" | cut -c1-300)"
	TIMED_US=$(sed -n 's/^TIMEIT .*total_us=\([0-9]*\).*/\1/p' "$T/$_n.time")
}

cold_args() { # MiB SOCK CONTROL
	echo "--kernel $KERNEL --initrd $INITRD --memory ${1}M --no-console-input --vsock cid=3,uds=$2 --control $3"
}
CMDLINE='console=ttyS0 quiet panic=-1 torpor.run="sleep 100000"'

apparent() { ls -ln "$1" | awk '{ printf ($5 < 1048576 ? "%.1f KiB" : "%.1f MiB"), ($5 < 1048576 ? $5 / 1024 : $5 / 1048576) }'; }
allocated() { du -k "$1" | awk '{ printf "%.1f MiB", $1 / 1024 }'; }

host_kib=$(awk '/^MemTotal/ { print $2 }' /proc/meminfo)
host_mem="$((host_kib / 1024)) MiB"
if [ "${TORPOR_TESTHOST:-}" = 1 ] && [ "$host_kib" -gt 2200000 ]; then
	host_mem="$host_mem (the test host's, raised from its default 2048 MiB by bench/run.sh: torpor-vmm refuses a guest larger than host RAM)"
fi
echo "snapshot and restore, $where:"
echo "  guests: initramfs root, 1 vCPU, vsock; snapshot files on $fstype ($T$([ -n "$mounted" ] && echo ", a tmpfs mounted for this part, size=16g")): restores map page cache, not a disk; host RAM $host_mem  [$where]"

# --- 1. restore latency vs cold boot --------------------------------------
share_state=
res=
for mib in $SIZES; do
	if [ "$((mib * 1024))" -gt "$host_kib" ]; then
		res="$res$(printf '  %-8s skipped: more than this host'"'"'s RAM (%s KiB), which torpor-vmm refuses  [%s]' "$mib MiB" "$host_kib" "$where")
"
		continue
	fi
	cold=
	r=0
	while [ "$r" -lt "$RUNS" ]; do
		r=$((r + 1))
		n=cold$mib.$r
		# shellcheck disable=SC2046
		up "$n" "$T/$n.vsock" $(cold_args "$mib" "$T/$n.vsock" "$T/$n.ctl") --cmdline "$CMDLINE"
		cold="$cold $UP_US"
		[ "$r" -lt "$RUNS" ] && vmm_kill "$UP_PID"
	done
	# Snapshot the last one, settled.
	sleep 2
	rss_cold=$(awk '/^Rss:/ { print $2 }' "/proc/$UP_PID/smaps_rollup" 2>/dev/null || echo "?")
	"$CLI" vm pause "$T/$n.ctl" >/dev/null || bad "pause ($mib MiB) failed" "$T/$n.log"
	timed snap$mib "$CLI" vm snapshot "$T/$n.ctl" "$T/state$mib.bin" "$T/mem$mib.bin" full
	snap_us=$TIMED_US
	vmm_kill "$UP_PID"
	rest=
	r=0
	while [ "$r" -lt "$RUNS" ]; do
		r=$((r + 1))
		n=rest$mib.$r
		up "$n" "$T/$n.vsock" --restore "$T/state$mib.bin" --no-console-input \
			--vsock "cid=3,uds=$T/$n.vsock" --control "$T/$n.ctl"
		rest="$rest $UP_US"
		vmm_kill "$UP_PID"
	done
	# shellcheck disable=SC2086
	cm=$(median $cold)
	# shellcheck disable=SC2086
	rm_=$(median $rest)
	# shellcheck disable=SC2086
	res="$res$(printf '  %-8s restore %8s ms (%s)  cold boot %8s ms (%s)  restore/cold %s  [full snapshot %s ms, mem file %s allocated; VMM Rss before it %s KiB]  [%s]' \
		"$mib MiB" "$(ms "$rm_")" "$(minmax $rest)" "$(ms "$cm")" "$(minmax $cold)" \
		"$(awk -v a="$rm_" -v b="$cm" 'BEGIN { printf "%.2f", a / b }')" "$(ms "$snap_us")" \
		"$(allocated "$T/mem$mib.bin")" "$rss_cold" "$where")
"
	[ "$mib" -lt 1024 ] && share_state=$mib
	# Keep only what part 3 uses.
	[ "$mib" = "$share_state" ] || rm -f "$T/state$mib.bin" "$T/mem$mib.bin"
	rm -f "$T"/*.log
done
echo "restore (VMM start -> agent answers torpor ping) vs cold boot (the same), median of $RUNS, ms (min..max):"
printf '%s' "$res"

# --- 2. full and diff snapshot of a 1 GiB guest ---------------------------
n=d1g
up "$n" "$T/$n.vsock" $(cold_args 1024 "$T/$n.vsock" "$T/$n.ctl") --cmdline "$CMDLINE"
vm=$UP_PID
sleep 2
"$CLI" vm pause "$T/$n.ctl" >/dev/null || bad "pause failed" "$T/$n.log"
timed full1g "$CLI" vm snapshot "$T/$n.ctl" "$T/s-full.bin" "$T/m-full.bin" full
full_us=$TIMED_US
"$CLI" vm resume "$T/$n.ctl" >/dev/null || bad "resume failed" "$T/$n.log"
timed dirty "$CLI" exec -n "$T/$n.vsock" -- sh -c 'dd if=/dev/urandom of=/tmp/dirty bs=1048576 count=16 2>/dev/null && sync'
dirty_us=$TIMED_US
"$CLI" vm pause "$T/$n.ctl" >/dev/null || bad "pause failed" "$T/$n.log"
timed diff1g "$CLI" vm snapshot "$T/$n.ctl" "$T/s-diff.bin" "$T/m-diff.bin" diff
diff_us=$TIMED_US
vmm_kill "$vm"
echo "full and diff snapshot, 1 GiB guest, 16 MiB written in the guest between them (dd from /dev/urandom to its /tmp: $(ms "$dirty_us") ms), the whole torpor vm snapshot command:"
printf '  %-5s %8s ms   mem file %s allocated (du), %s apparent; state file %s  [%s]\n' \
	full "$(ms "$full_us")" "$(allocated "$T/m-full.bin")" "$(apparent "$T/m-full.bin")" "$(apparent "$T/s-full.bin")" "$where"
printf '  %-5s %8s ms   mem file %s allocated (du), %s apparent; state file %s  [%s]\n' \
	diff "$(ms "$diff_us")" "$(allocated "$T/m-diff.bin")" "$(apparent "$T/m-diff.bin")" "$(apparent "$T/s-diff.bin")" "$where"
rm -f "$T"/s-*.bin "$T"/m-*.bin

# --- 3. page-cache sharing among VMs restored from one snapshot ----------
[ -n "$share_state" ] || bad "no snapshot under 1 GiB for the sharing test (TORPOR_BENCH_SNAP_SIZES)"
pids=
i=0
while [ "$i" -lt "$SHARE_N" ]; do
	i=$((i + 1))
	n=share$i
	up "$n" "$T/$n.vsock" --restore "$T/state$share_state.bin" --no-console-input \
		--vsock "cid=3,uds=$T/$n.vsock" --control "$T/$n.ctl"
	pids="$pids $UP_PID"
done
sleep 3 # let them settle
# Every one still answers, then read them all.
i=0
for p in $pids; do
	i=$((i + 1))
	"$CLI" ping "$T/share$i.vsock" --timeout 10 >/dev/null 2>&1 || bad "restored VM $i stopped answering" "$T/share$i.log"
done
echo "$SHARE_N VMs restored from one $share_state MiB snapshot, all running, KiB: whole VMM (/proc/PID/smaps_rollup) | its guest RAM mapping of the memory file (/proc/PID/smaps):"
i=0
for p in $pids; do
	i=$((i + 1))
	ram=$(awk -v f="$T/mem$share_state.bin" '
		/^[0-9a-f]+-[0-9a-f]+ / { in_ram = (index($0, f) > 0) }
		in_ram && /^Rss:/ { r += $2 } in_ram && /^Pss:/ { q += $2 } in_ram && /^Anonymous:/ { a += $2 }
		END { printf "Rss %6d  Pss %6d  (private copies %d)", r, q, a }' "/proc/$p/smaps")
	awk -v i="$i" -v w="$where" -v ram="$ram" '
		/^Rss:/ { rss = $2 } /^Pss:/ { pss = $2 } /^Pss_Anon:/ { an = $2 }
		/^Pss_File:/ { fi = $2 } /^Pss_Shmem:/ { sh = $2 }
		END { printf "  VM %d%-12s Rss %6d  Pss %6d  Pss/Rss %.2f  (Pss_Anon %d, Pss_File %d, Pss_Shmem %d) | guest RAM %s  [%s]\n",
			i, (i == 1 ? " (reference)" : ""), rss, pss, (rss ? pss / rss : 0), an, fi, sh, ram, w }' "/proc/$p/smaps_rollup"
done
for p in $pids; do
	vmm_kill "$p"
done
