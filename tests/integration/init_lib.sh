# tests/integration/init_lib.sh: helpers for the guest-init tests (sourced
# after lib.sh and blk_lib.sh by test_init_*.sh).
#
#   guest_file_cmd PATH TEXT  a guest shell command without double quotes
#                             (fit for torpor.run="...") that writes TEXT and
#                             a newline to PATH
#   app_install OVL JSON SCRIPT
#                             boot once from the ext4 root over the overlay
#                             OVL and write JSON to /etc/torpor/app.json and
#                             SCRIPT to /etc/torpor/app.sh; a later boot from
#                             OVL without torpor.run runs that app
#   app_boot LOG OVL [CMDLINE-EXTRA]
#                             start a VM from OVL without torpor.run (the
#                             app's boot), root=/dev/vda without rw (so
#                             guest-init remounts it read-write)

APP_CMDLINE="console=ttyS0 quiet panic=-1 root=/dev/vda"

guest_file_cmd() {
	# printf format: \ and % doubled, ' and " as octal escapes, lines joined by \n.
	_esc=$(printf '%s\n' "$2" | sed -e 's/\\/\\\\/g' -e 's/%/%%/g' -e "s/'/\\\\047/g" \
		-e 's/"/\\042/g' | awk '{ printf "%s%s", (NR > 1 ? "\\n" : ""), $0 } END { printf "\\n" }')
	printf "printf '%s' >%s" "$_esc" "$1"
}

app_install() {
	_cmd="mkdir -p /etc/torpor && $(guest_file_cmd /etc/torpor/app.json "$2") && $(guest_file_cmd /etc/torpor/app.sh "$3") && echo INSTALLED"
	blk_vm "$T/install.log" 90 "$_cmd" --disk "path=$ROOTFS_EXT4,overlay=$1"
	assert_line "$T/install.log" '^INSTALLED$' "the app was not installed"
}

app_boot() {
	vmm_start "$1" --kernel "$KERNEL" --memory 256M --disk "path=$ROOTFS_EXT4,overlay=$2" \
		--cmdline "$APP_CMDLINE${3:+ $3}"
}
