#!/bin/sh
# tests/integration/test_init_restart.sh: restart "on-failure" starts a
# crashing app again with a growing delay (100 ms, then 200 ms) until it
# runs; an app that ignores its stop signal is killed with SIGKILL once its
# grace (500 ms) is over, and the VM still powers off with status 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"
. "$(dirname "$0")/init_lib.sh"

ovl=$T/root.ovl
json='{"argv": ["/bin/sh", "/etc/torpor/app.sh"], "restart": "on-failure", "stop_grace_ms": 500}'
script=$(cat <<'SH'
n=$(($(cat /tmp/runs 2>/dev/null || echo 0) + 1))
echo $n >/tmp/runs
echo "run $n"
if [ $n -lt 3 ]; then echo "crash $n" >&2; exit 3; fi
trap '' TERM
echo "stable, ignoring SIGTERM"
kill -TERM 1
while :; do sleep 1; done
SH
)
app_install "$ovl" "$json" "$script"

log=$T/app.log
app_boot "$log" "$ovl"
vmm_wait 90
[ "$VMM_RC" = 0 ] || fail "torpor-vmm exited with $VMM_RC, expected 0 (powered off)"
assert_line "$log" '^app: run 1$' "the app's first run is missing"
assert_line "$log" '^app\[err\]: crash 1$' "the first crash's output is missing"
assert_line "$log" '^torpor-init: app exited status=3; restarting in 100 ms \(restart on-failure\)$' \
	"the first crash was not followed by a restart after 100 ms"
assert_line "$log" '^torpor-init: app exited status=3; restarting in 200 ms \(restart on-failure\)$' \
	"the second crash was not followed by a restart after 200 ms"
assert_line "$log" '^app: run 3$' "the app was not started a third time"
[ "$(tr -d '\r' <"$log" | grep -c '^torpor-init: app started pid=')" = 3 ] ||
	fail "the app was not started exactly 3 times"
assert_line "$log" '^app: stable, ignoring SIGTERM$' "the third run did not come up"
assert_line "$log" '^torpor-init: app stopping: SIGTERM to its process group, grace 500 ms$' \
	"the stop request did not reach the app"
assert_line "$log" '^torpor-init: warning: app did not exit within 500 ms of SIGTERM; SIGKILL$' \
	"the app that ignores SIGTERM was not killed after its grace"
assert_line "$log" '^torpor-init: app exited signal=9$' "the app did not end by SIGKILL"
assert_line "$log" 'torpor-vmm: info: guest powered off' "the guest did not power off"
echo "restarted twice (100 ms, 200 ms), then SIGKILL after the 500 ms grace"
