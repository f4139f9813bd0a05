#!/bin/sh
# tests/integration/test_init_app.sh: a guest booted without torpor.run runs
# the app of /etc/torpor/app.json (installed by a first boot): its stdout and
# stderr reach the console prefixed "app: " and "app[err]: ", with its env and
# working directory; the host name, lo, the mounts, a read-write root and
# /etc/resolv.conf are set up; a double-forked orphan is reaped (no zombie).
# Then the app asks PID 1 to stop (kill -TERM 1): the app gets its stop
# signal (SIGINT here), prints its last lines and exits 0, and the VM powers
# off with status 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"
. "$(dirname "$0")/init_lib.sh"

ovl=$T/root.ovl
json='{"argv": ["/bin/sh", "/etc/torpor/app.sh", "first arg"], "env": ["GREETING=hi there"],
 "cwd": "/tmp", "port": 8080, "restart": "never", "stop_signal": "SIGINT", "stop_grace_ms": 3000}'
script=$(cat <<'SH'
trap 'echo "got SIGINT in $(pwd)"; echo bye >&2; printf "no newline"; exit 0' INT
echo "START $GREETING|$1|$(pwd)|$PATH"
echo "to stderr" >&2
echo "HOST $(hostname)"
ip link show lo | grep -q '<LOOPBACK,UP' && ip addr show lo | grep -q 'inet 127.0.0.1/8' && echo "LO up"
echo "MOUNTS $(grep -cE ' /(proc|sys|tmp|run|dev|dev/pts|dev/shm) ' /proc/mounts)"
echo "ROOT $(awk '$2 == "/" { split($4, o, ","); print o[1] }' /proc/mounts)"
echo "DNS $(grep '^nameserver' /etc/resolv.conf | tr '\n' ' ')"
(sleep 1 & echo $! >/tmp/orphan)
sleep 0.3
echo "ORPHAN_PPID $(awk '/^PPid/ { print $2 }' /proc/$(cat /tmp/orphan)/status)"
sleep 1.5
[ -e /proc/$(cat /tmp/orphan) ] || echo "ORPHAN gone"
echo "ZOMBIES $(cat /proc/[0-9]*/stat 2>/dev/null | awk '$3 == "Z"' | wc -l)"
kill -TERM 1
while :; do sleep 1 & wait $!; done
SH
)
app_install "$ovl" "$json" "$script"

log=$T/app.log
app_boot "$log" "$ovl" "torpor.hostname=app-vm-1 torpor.dns=10.0.2.3,1.1.1.1"
vmm_wait 90
[ "$VMM_RC" = 0 ] || fail "torpor-vmm exited with $VMM_RC, expected 0 (powered off)"
assert_line "$log" '^torpor-init: ready uptime_ms=[0-9]+' "no ready line"
assert_line "$log" '^torpor-init: app started pid=[0-9]+$' "the app was not started"
assert_line "$log" '^app: START hi there\|first arg\|/tmp\|/bin:/sbin:/usr/bin:/usr/sbin$' \
	"the app's env, argv or cwd are not as configured"
assert_line "$log" '^app\[err\]: to stderr$' "the app's stderr is not prefixed app[err]:"
assert_line "$log" '^app: HOST app-vm-1$' "the host name is not torpor.hostname"
assert_line "$log" '^app: LO up$' "lo is not up with 127.0.0.1/8"
assert_line "$log" '^app: MOUNTS 7$' "not all of /proc /sys /tmp /run /dev /dev/pts /dev/shm are mounted"
assert_line "$log" '^app: ROOT rw$' "the root was not remounted read-write"
assert_line "$log" '^app: DNS nameserver 10.0.2.3 nameserver 1.1.1.1 $' "resolv.conf is not from torpor.dns"
assert_line "$log" '^app: ORPHAN_PPID 1$' "the orphan was not re-parented to PID 1"
assert_line "$log" '^app: ORPHAN gone$' "the orphan did not end"
assert_line "$log" '^app: ZOMBIES 0$' "a zombie was left: PID 1 did not reap the orphan"
assert_line "$log" '^torpor-init: app stopping: SIGINT to its process group, grace 3000 ms$' \
	"PID 1 did not stop the app with its stop signal"
assert_line "$log" '^app: got SIGINT in /tmp$' "the app did not get SIGINT"
assert_line "$log" '^app\[err\]: bye$' "the app's last stderr line is missing"
assert_line "$log" '^app: no newline$' "the app's last partial line was not flushed"
assert_line "$log" '^torpor-init: app exited status=0$' "the app did not exit 0 on its stop signal"
assert_line "$log" 'torpor-vmm: info: guest powered off' "the guest did not power off"
if tr -d '\r' <"$log" | grep -q 'torpor-init: exit '; then
	fail "an exit line was printed in app mode"
fi
if tr -d '\r' <"$log" | grep -qE 'torpor-init: (warning|error)'; then
	fail "guest-init printed a warning or an error: $(tr -d '\r' <"$log" | grep -E 'torpor-init: (warning|error)')"
fi
echo "app ran, output prefixed; stopped by its signal; $(tr -d '\r' <"$log" | grep -oE 'ready uptime_ms=[0-9]+')"
