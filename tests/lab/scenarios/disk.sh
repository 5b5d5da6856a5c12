# virtio-blk over modern virtio-pci, end to end: run 1 makes an ext4 file
# system on a raw image, writes 64 MiB of known data, syncs and powers off;
# run 2 writes another 64 MiB with fsync and is killed with SIGKILL the
# moment fsync returns; run 3 reads both back. Their SHA-256 must be what
# the data is (computed here, outside the lab). A second VMM on the same
# image is refused while the first holds it, and a readonly disk is
# refused writes by the device.

disk_sha=$(yes "vmm lab disk" | head -c 67108864 | sha256sum | cut -d' ' -f1)
lab_timeout=1500
guest_checks=disk
lab_script='
truncate_img() { dd if=/dev/zero of="$1" bs=1M count=0 seek="$2" 2>/dev/null; }
truncate_img /tmp/disk.img 256
# guest MODE [ARGS...]: only in the background (it execs, so that $! is the
# VMM itself, which kill -9 must hit, not a subshell).
guest() {
	mode=$1
	shift
	exec "$VMM" run --cpus 2 --memory 512M --disk path=/tmp/disk.img "$@" \
		--kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
		--cmdline "$GUEST_CMDLINE agent.disk=$mode${END:+ agent.end=$END}"
}
lab_timed run1 guest write
END=wait guest fsync </dev/null >/tmp/run2.log 2>&1 &
pid=$!
wait_line /tmp/run2.log "VMM-AGENT: fsync_done=" $pid
# While run 2 holds the image, a second VMM must be refused. (With RAM
# enough for the kernel: vmm run refuses too little before it opens a disk.)
"$VMM" run --memory 256M --disk path=/tmp/disk.img --kernel "$GUEST_KERNEL" \
	</dev/null >/tmp/second.log 2>&1
lab "second_exit=$?"
cat /tmp/second.log
grep -q "in use by another" /tmp/second.log && lab second_refused=1
kill -9 $pid
wait $pid
lab "run2_exit=$?"
sed -n "s/^VMM-AGENT: fsync_done=/LAB: fsync_done=/p" /tmp/run2.log
lab_timed run3 guest verify
'

scenario_check() {
	expect agent disk_driver = virtio_blk
	expect agent disk_sectors -eq $((256 * 2048))
	expect lab run1_exit -eq 0
	expect lab fsync_done -eq 1
	expect lab second_refused -eq 1
	expect lab run2_exit -eq 137
	expect lab run3_exit -eq 0
	expect agent data_sha = "$disk_sha"
	expect agent fsynced_sha = "$disk_sha"
}
