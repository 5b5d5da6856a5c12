# virtio-blk: agent.disk=MODE on /dev/vda, with 64 MiB of known data
# (the line "vmm lab disk" repeated), whose SHA-256 the lab knows too:
#   write   mkfs.ext4, mount, write /mnt/data, sync, unmount: disk_written=1
#   fsync   mount, write /mnt/fsynced with fsync, then fsync_done=1 (the lab
#           kills the VMM at once: agent.end=wait)
#   stream  mount, and append lines "vmm lab stream" to /mnt/stream without
#           end, in the background: stream_started=1 once some are written
#           (the lab sends SIGTERM: the power button's shutdown unmounts it)
#   verify  mount and report data_sha and fsynced_sha (none when absent),
#           journal_recovery (how many times this mount replayed the
#           journal: 0 after a clean unmount) and, when /mnt/stream
#           exists, stream_bytes and stream_bad_lines (its lines that are
#           not "vmm lab stream", the last, maybe cut short, aside)
# Also: disk_driver (the driver bound to vda), disk_readonly.

disk_data() {
	yes "vmm lab disk" | head -c 67108864
}

check_disk() {
	load_guest_modules
	if ! wait_for /dev/vda 20; then
		report disk_error "no /dev/vda"
		return
	fi
	report disk_driver "$(basename "$(readlink /sys/block/vda/device/driver)")"
	report disk_readonly "$(cat /sys/block/vda/ro)"
	report disk_sectors "$(cat /sys/block/vda/size)"
	mkdir -p /mnt
	case $(cmdline_param agent.disk verify) in
	write)
		/usr/sbin/mkfs.ext4 -q -F /dev/vda >/tmp/mkfs.log 2>&1 ||
			{ report disk_error "mkfs.ext4: $(tail -n 1 /tmp/mkfs.log)"; return; }
		mount -t ext4 /dev/vda /mnt || { report disk_error "mount"; return; }
		disk_data >/mnt/data
		sync
		umount /mnt && report disk_written 1
		;;
	fsync)
		mount -t ext4 /dev/vda /mnt || { report disk_error "mount"; return; }
		disk_data | dd of=/mnt/fsynced bs=1M conv=fsync 2>/dev/null &&
			report fsync_done 1
		;;
	stream)
		mount -t ext4 /dev/vda /mnt || { report disk_error "mount"; return; }
		(while :; do yes "vmm lab stream" | head -n 65536 >>/mnt/stream; done) &
		wait_for /mnt/stream 10 && sleep 1 && report stream_started 1
		;;
	verify)
		mount -t ext4 -o ro /dev/vda /mnt || { report disk_error "mount"; return; }
		report journal_recovery "$(dmesg | grep -c "EXT4-fs (vda): recovery complete")"
		if [ -e /mnt/stream ]; then
			report stream_bytes "$(wc -c </mnt/stream)"
			report stream_bad_lines "$(sed '$d' /mnt/stream | grep -vc "^vmm lab stream$")"
		fi
		for f in data fsynced; do
			if [ -e /mnt/$f ]; then
				report ${f}_sha "$(sha256sum /mnt/$f | cut -d' ' -f1)"
			else
				report ${f}_sha none
			fi
		done
		umount /mnt
		;;
	esac
}
