# tests/integration/vsock_lib.sh: helpers for the virtio-vsock tests (sourced
# after lib.sh and blk_lib.sh by test_vsock*.sh). The guest boots from the
# ext4 root (which carries /bin/vsock_tool) and the host side runs
# build/aarch64/torpor-test-vsock; both print the lines described in
# tests/common/vsock_xfer.h.
#
#   VSOCK_HOST                the host-side client
#   VSOCK_UDS                 the VMM's vsock socket ($T/vm.vsock); the guest is CID 3
#   vsock_vm_start LOG CMD [VMM-ARGS...]
#                             boot the guest with the vsock device and run CMD
#                             (no double quotes) in the background
#   vsock_host OUT ARGS...    run torpor-test-vsock vsock:$VSOCK_UDS ARGS to OUT
#   vsock_host_bg OUT ARGS... the same in the background (pid in VSOCK_BG),
#                             once its listening sockets are up
#   vsock_wait_bg             wait for it; its exit status in VSOCK_BG_RC
#   vsock_wait_ready LOG N TIMEOUT
#                             wait for the Nth VSOCK-READY line in LOG
#   vsock_done LOG STREAMS    fail unless LOG's VSOCK-DONE line says STREAMS streams, all ok
#   vsock_pairs CONNECT-LOG ACCEPT-LOG N
#                             fail unless N streams pair up: each connect line
#                             in CONNECT-LOG has the accept line with the same
#                             port and seed in ACCEPT-LOG, with the same byte
#                             counts and FNV-1a checksums each way, both ok
#                             (refused streams, which have no peer, are left out),
#                             and the port of the VMM's "OK <port>" (local=)
#                             is the one the guest sees (peer=)
#   vsock_field LOG PATTERN KEY
#                             KEY's value in the last line matching PATTERN

VSOCK_HOST=${TORPOR_TEST_VSOCK:-$TORPOR_ROOT/build/aarch64/torpor-test-vsock}
VSOCK_UDS=$T/vm.vsock
VSOCK_BG=
VSOCK_BG_RC=
require_file "$VSOCK_HOST"

_vsock_bg_kill() {
	[ -n "$VSOCK_BG" ] && kill -9 "$VSOCK_BG" 2>/dev/null
	_lib_cleanup
}
trap _vsock_bg_kill EXIT

vsock_vm_start() {
	_log=$1 _cmd=$2
	shift 2
	vmm_start "$_log" --kernel "$KERNEL" --memory 256M \
		--disk "path=$ROOTFS_EXT4,overlay=$T/root.ovl" --vsock "cid=3,uds=$VSOCK_UDS" \
		"$@" --cmdline "$(blk_cmdline "$_cmd")"
}

vsock_host() {
	_out=$1
	shift
	echo "+ torpor-test-vsock vsock:$VSOCK_UDS $*" >>"$T/commands"
	"$VSOCK_HOST" "vsock:$VSOCK_UDS" "$@" >"$_out" 2>&1
}

vsock_host_bg() {
	_out=$1
	shift
	echo "+ torpor-test-vsock vsock:$VSOCK_UDS $* &" >>"$T/commands"
	"$VSOCK_HOST" "vsock:$VSOCK_UDS" "$@" >"$_out" 2>&1 &
	VSOCK_BG=$!
	VSOCK_BG_RC=
	wait_for_line "$_out" '^VSOCK-READY' 10 || fail "the host-side listener did not come up: $(tr '\n' ' ' <"$_out")"
}

vsock_wait_bg() {
	wait "$VSOCK_BG"
	VSOCK_BG_RC=$?
	VSOCK_BG=
}

vsock_wait_ready() {
	_end=$(($(ms_now) + $3 * 1000))
	while [ "$(tr -d '\r' <"$1" | grep -c '^VSOCK-READY')" -lt "$2" ]; do
		[ "$(ms_now)" -lt "$_end" ] || return 1
		if [ "$1" = "$VMM_LOG" ] && ! _vmm_alive; then
			return 1
		fi
		sleep 0.1
	done
}

vsock_field() {
	tr -d '\r' <"$1" | grep -E -- "$2" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$3=//p"
}

vsock_done() {
	_line=$(tr -d '\r' <"$1" | grep '^VSOCK-DONE' | tail -n 1)
	[ -n "$_line" ] || fail "no VSOCK-DONE line in $(basename "$1")"
	case "$_line" in
	"VSOCK-DONE streams=$2 ok=$2 fail=0 "*) ;;
	*)
		tr -d '\r' <"$1" | grep -E 'FAIL' | head -n 5
		fail "$(basename "$1"): $_line (expected $2 streams, all ok)"
		;;
	esac
}

vsock_pairs() {
	tr -d '\r' <"$2" | grep '^VSOCK-STREAM accept ' >"$T/pairs.accept"
	_res=$(tr -d '\r' <"$1" | grep '^VSOCK-STREAM connect ' | grep -v ' refused=' | awk -v accfile="$T/pairs.accept" '
		function parse(line, f,   n, i, kv, a) {
			n = split(line, a, " ")
			for (i = 3; i <= n; i++)
				if (split(a[i], kv, "=") == 2)
					f[kv[1]] = kv[2]
			f["status"] = a[n]
		}
		BEGIN {
			while ((getline line < accfile) > 0) {
				delete f
				parse(line, f)
				k = f["port"] ":" f["seed"]
				acc[k] = line
				asent[k] = f["sent"]; asfnv[k] = f["sent_fnv"]
				arecv[k] = f["recv"]; arfnv[k] = f["recv_fnv"]; aok[k] = f["status"]
				apeer[k] = f["peer"]
			}
		}
		{
			delete f
			parse($0, f)
			k = f["port"] ":" f["seed"]
			if (!(k in acc)) { print "no accept line for " $0; bad++; next }
			if (f["status"] != "ok" || aok[k] != "ok") {
				print "not ok: " $0 " / " acc[k]; bad++; next
			}
			if (f["sent"] != arecv[k] || f["sent_fnv"] != arfnv[k] ||
			    f["recv"] != asent[k] || f["recv_fnv"] != asfnv[k]) {
				print "checksums differ: " $0 " / " acc[k]; bad++; next
			}
			if (f["local"] != "" && apeer[k] != "" && f["local"] != apeer[k]) {
				print "OK <port> is not the port the guest sees: " $0 " / " acc[k]; bad++; next
			}
			pairs++
		}
		END { printf "pairs=%d bad=%d\n", pairs, bad }')
	echo "$_res" | grep -v '^pairs=' | head -n 5
	case "$_res" in
	*"pairs=$3 bad=0") ;;
	*) fail "$(basename "$1") / $(basename "$2"): $(echo "$_res" | tail -n 1), expected pairs=$3 bad=0" ;;
	esac
}
