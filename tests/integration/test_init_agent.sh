#!/bin/sh
# tests/integration/test_init_agent.sh: with a vsock device PID 1 runs the
# agent next to the app, and restarts it when it dies: the app kills the
# agent with SIGKILL, PID 1 says so and starts it again after 100 ms, and the
# new agent answers. Then the agent's shutdown request (SIGTERM to PID 1)
# stops the app gracefully (it gets SIGTERM and prints a line) and the VM
# powers off with status 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"
. "$(dirname "$0")/init_lib.sh"

AGENT_HOST=${TORPOR_TEST_AGENT:-$TORPOR_ROOT/build/aarch64/torpor-test-agent}
require_file "$AGENT_HOST"
require_file "$CLI"
UDS=$T/vm.vsock

agent() {
	echo "+ torpor-test-agent vsock:$UDS $*" >>"$T/commands"
	"$AGENT_HOST" "vsock:$UDS" "$@"
}

ovl=$T/root.ovl
json='{"argv": ["/bin/sh", "/etc/torpor/app.sh"], "port": 8080}'
# The agent: a child of PID 1 that names itself torpor-agent.
script=$(cat <<'SH'
trap 'echo "got SIGTERM, bye"; exit 0' TERM
for p in /proc/[0-9]*; do
	n=${p#/proc/}
	[ "$(cat $p/comm 2>/dev/null)" = torpor-agent ] &&
		awk '/^PPid/ { exit $2 != 1 }' $p/status && kill -9 $n && echo "killed agent $n"
done
while :; do sleep 1 & wait $!; done
SH
)
app_install "$ovl" "$json" "$script"

log=$T/vm.log
vmm_start "$log" --kernel "$KERNEL" --memory 256M --disk "path=$ROOTFS_EXT4,overlay=$ovl" \
	--vsock "cid=3,uds=$UDS" --cmdline "$APP_CMDLINE"
wait_for_line "$log" '^app: killed agent [0-9]+$' 60 || fail "the app did not find and kill the agent"
wait_for_line "$log" '^torpor-init: warning: agent exited signal=9; restarting in 100 ms$' 30 ||
	fail "PID 1 did not report the agent's death and restart it"
agent -t 60 wait >"$T/wait.log" 2>&1 || fail "the restarted agent did not answer: $(grep FAIL "$T/wait.log")"
"$CLI" ping "$UDS" >"$T/ping.log" 2>&1 || fail "torpor ping failed: $(cat "$T/ping.log")"
echo "restarted agent: $(cat "$T/ping.log")"
_vmm_alive || fail "the VM ended when the agent died"

agent shutdown >"$T/shutdown.log" 2>&1 || fail "shutdown: $(cat "$T/shutdown.log")"
vmm_wait 60
[ "$VMM_RC" = 0 ] || fail "torpor-vmm exited with $VMM_RC after shutdown"
assert_line "$log" '^torpor-init: app stopping: SIGTERM to its process group, grace 5000 ms$' \
	"the shutdown request did not stop the app with SIGTERM"
assert_line "$log" '^app: got SIGTERM, bye$' "the app did not get SIGTERM"
assert_line "$log" '^torpor-init: app exited status=0$' "the app did not exit 0"
assert_line "$log" 'torpor-vmm: info: guest powered off' "the guest did not power off"
[ "$(tr -d '\r' <"$log" | grep -c 'agent exited')" = 1 ] ||
	fail "the agent's exit was reported more than once (a restart at shutdown?)"
echo "agent restarted after SIGKILL; shutdown stopped the app and powered off"
