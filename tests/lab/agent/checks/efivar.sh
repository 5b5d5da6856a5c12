# UEFI variables through efivarfs: agent.efivar=write:VALUE sets the
# variable VmmLabTest (non-volatile, boot and runtime access) to VALUE and
# reports efivar_written=1 once the write has returned; agent.efivar=read
# reports its value as efivar_read (none when it does not exist).

# This project's own vendor GUID for test variables.
EFIVAR_NAME=VmmLabTest-5c0e7a4e-9b3d-4f1a-8c2e-766d6d6c6162

check_efivar() {
	dir=/sys/firmware/efi/efivars
	if [ ! -d /sys/firmware/efi ]; then
		report efivar_error "no EFI"
		return
	fi
	grep -q efivarfs /proc/filesystems || insmod /agent/modules/efivarfs.ko
	grep -q " $dir " /proc/mounts || mount -t efivarfs efivarfs "$dir" || {
		report efivar_error "cannot mount efivarfs"
		return
	}
	mode=$(cmdline_param agent.efivar read)
	case $mode in
	write:*)
		# Attributes first (u32, little-endian): NV | BS | RT = 7.
		if printf '\007\000\000\000%s' "${mode#write:}" >"$dir/$EFIVAR_NAME"; then
			report efivar_written 1
		else
			report efivar_written 0
		fi
		;;
	read)
		if [ -e "$dir/$EFIVAR_NAME" ]; then
			report efivar_read "$(tail -c +5 "$dir/$EFIVAR_NAME")"
		else
			report efivar_read none
		fi
		;;
	*) report efivar_error "agent.efivar=$mode" ;;
	esac
}
