#!/bin/sh
# tests/integration/test_agent_files.sh: `torpor cp` both ways with a file of
# TORPOR_TEST_AGENT_FILE_MIB MiB (default 50): the checksums agree on the
# host, in the guest and back on the host, and the mode is kept each way;
# a directory target takes the file's name; stdin/stdout as "-"; errors
# leave nothing behind; `torpor stat`, `ls` and `rm`.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"
. "$(dirname "$0")/agent_lib.sh"

mib=${TORPOR_TEST_AGENT_FILE_MIB:-50}
start=$(ms_now)
agent_vm_start "$T/vm.log"
S=$AGENT_UDS

head -c $((mib * 1048576)) /dev/urandom >"$T/big"
chmod 0751 "$T/big"
sum=$(sha "$T/big")

t0=$(ms_now)
tp cp "$T/big" "guest:$S:/root/big" || fail "upload failed"
t1=$(ms_now)
got=$(guest_sh 'sha256sum /root/big; stat -c %a /root/big') || fail "cannot check the upload"
[ "$(echo "$got" | head -n 1 | cut -d' ' -f1)" = "$sum" ] || fail "the guest's sha256 differs: $got"
[ "$(echo "$got" | tail -n 1)" = 751 ] || fail "the guest file's mode is $(echo "$got" | tail -n 1), expected 751"
guest_sh 'chmod 0640 /root/big' || fail "chmod in the guest failed"

mkdir "$T/down"
t2=$(ms_now)
tp cp "guest:$S:/root/big" "$T/down" || fail "download failed"
t3=$(ms_now)
[ "$(sha "$T/down/big")" = "$sum" ] || fail "the downloaded file differs"
[ "$(stat -c %a "$T/down/big")" = 640 ] || fail "the downloaded mode is $(stat -c %a "$T/down/big"), expected 640"
ls "$T/down" | grep -q torpor- && fail "a temporary file was left in $T/down"
echo "$mib MiB: upload $((t1 - t0)) ms, download $((t3 - t2)) ms, sha256 $sum"

# --mode, a guest directory target, stdin and stdout.
echo hello >"$T/small"
chmod 0600 "$T/small"
tp cp --mode 0755 "$T/small" "guest:$S:/tmp/" || fail "upload into a directory failed"
[ "$(guest_sh 'stat -c %a /tmp/small; cat /tmp/small' | tr '\n' ' ')" = "755 hello " ] ||
	fail "/tmp/small: $(guest_sh 'stat -c %a /tmp/small; cat /tmp/small')"
echo from-stdin | tp cp - "guest:$S:/tmp/stdin.txt" || fail "upload from stdin failed"
[ "$(tp cp "guest:$S:/tmp/stdin.txt" -)" = from-stdin ] || fail "download to stdout failed"
[ "$(guest_sh 'stat -c %a /tmp/stdin.txt')" = 644 ] || fail "stdin upload mode: $(guest_sh 'stat -c %a /tmp/stdin.txt')"

# stat, ls, rm.
tp stat "$S" /tmp/small >"$T/stat" || fail "stat failed"
grep -q '^type file$' "$T/stat" && grep -q '^mode 0755$' "$T/stat" && grep -q '^size 6$' "$T/stat" ||
	fail "stat printed: $(tr '\n' ' ' <"$T/stat")"
tp ls "$S" /tmp >"$T/ls" || fail "ls failed"
grep -qE '^file +0755 +6 small$' "$T/ls" || fail "ls printed: $(cat "$T/ls")"
guest_sh 'mkdir -p /tmp/tree/a/b && touch /tmp/tree/a/b/c' || fail "mkdir failed"
tp_rc rm "$S" /tmp/tree 2>"$T/err"
[ "$TP_RC" = 1 ] || fail "rm of a non-empty directory without -r: exit status $TP_RC"
tp rm -r "$S" /tmp/tree || fail "rm -r failed"
tp rm "$S" /tmp/small || fail "rm failed"
[ "$(guest_sh 'ls /tmp/tree /tmp/small 2>&1 | grep -c "No such file"')" = 2 ] || fail "rm left files"

# Errors: a missing source, a missing guest directory; nothing is left behind.
expect_rc 1 "download of a missing file" cp "guest:$S:/no/such/file" "$T/missing" 2>"$T/err"
grep -q '^torpor: error: .*No such file' "$T/err" || fail "error line: $(cat "$T/err")"
[ -e "$T/missing" ] && fail "a failed download left $T/missing"
ls "$T" | grep -q 'missing.torpor-' && fail "a failed download left its temporary file"
expect_rc 1 "upload into a missing directory" cp "$T/small" "guest:$S:/no/such/dir/x" 2>"$T/err"
expect_rc 2 "cp without a guest side" cp "$T/small" "$T/other" 2>"$T/err"

agent_vm_stop
echo "the whole test: $(($(ms_now) - start)) ms"
