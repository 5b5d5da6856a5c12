# Loads the guest modules the lab carries (/agent/modules/order lists them
# in dependency order), once; reports the ones that failed.
load_guest_modules() {
	[ -e /tmp/modules_loaded ] && return
	failed=
	while read -r m; do
		# efivarfs refuses to load without EFI: not a failure then.
		[ "$m" != efivarfs ] || [ -d /sys/firmware/efi ] || continue
		grep -q "^$m " /proc/modules || insmod "/agent/modules/$m.ko" 2>/dev/null ||
			failed="$failed $m"
	done </agent/modules/order
	report guest_modules_failed "${failed# }"
	touch /tmp/modules_loaded
}

# Waits up to $2 seconds for path $1 to appear.
wait_for() {
	i=0
	while [ ! -e "$1" ] && [ "$i" -lt $(($2 * 10)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -e "$1" ]
}
