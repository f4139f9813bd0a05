#!/bin/sh
# tests/integration/test_init_badapp.sh: a bad /etc/torpor/app.json gives one
# clear error line and the guest still boots, with a shell on the console
# (which powers off on request); an app that cannot be executed exits 127,
# and with restart "never" the guest stays up (a stop request still powers
# it off, status 0).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"
. "$(dirname "$0")/init_lib.sh"

# 1. Not valid: one error line naming the file and the problem, then a shell.
ovl=$T/bad.ovl
app_install "$ovl" '{"argv": ["/bin/app"], "restart": "sometimes"}' 'true'
log=$T/bad.log
app_boot "$log" "$ovl"
wait_for_line "$log" '^torpor-init: ready' 60 || fail "the guest did not boot with a bad app.json"
assert_line "$log" '^torpor-init: error: /etc/torpor/app.json: restart: must be "never", "on-failure" or "always"; no app \(a shell on the console instead\)$' \
	"no clear error line for the bad app.json"
sleep 1
vmm_input "echo SHELL-\$((40 + 2)); poweroff"
vmm_wait 60
[ "$VMM_RC" = 0 ] || fail "bad app.json: torpor-vmm exited with $VMM_RC"
assert_line "$log" '^SHELL-42' "the console shell did not run"
if tr -d '\r' <"$log" | grep -q 'torpor-init: app started'; then
	fail "an app was started from a bad app.json"
fi

# 2. Valid, but the program does not exist: exit 127, not restarted, guest up.
ovl=$T/missing.ovl
install_cmd="mkdir -p /etc/torpor && $(guest_file_cmd /etc/torpor/app.json '{"argv": ["no-such-program"]}') && echo INSTALLED"
blk_vm "$T/install2.log" 90 "$install_cmd" --disk "path=$ROOTFS_EXT4,overlay=$ovl"
log=$T/missing.log
app_boot "$log" "$ovl"
wait_for_line "$log" '^torpor-init: app exited status=127; not restarting \(restart never\)$' 60 ||
	fail "the missing program did not end with status 127 and no restart"
assert_line "$log" '^torpor-init: error: app: exec no-such-program: No such file or directory$' \
	"no clear error line for the missing program"
sleep 1
_vmm_alive || fail "the guest did not stay up after its app ended"
# The console has no shell in app mode: stop the VM from the host with SIGTERM.
kill -TERM "$VMM_PID"
vmm_wait 30
[ "$VMM_RC" = 0 ] || fail "missing program: torpor-vmm exited with $VMM_RC after SIGTERM"
echo "bad app.json: error line and a shell; missing program: status 127, guest stayed up"
