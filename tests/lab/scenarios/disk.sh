# virtio-blk over modern virtio-pci, end to end: run 1 makes an ext4 file
# system on a raw image, writes 64 MiB of known data, syncs and powers off;
# run 2 writes another 64 MiB with fsync and is killed with SIGKILL the
# moment fsync returns; run 3 reads both back. Their SHA-256 must be what
# the data is (computed here, outside the lab). A second VMM on the same
# image is refused while the first holds it, and a readonly disk is
# refused writes by the device.
#
# Then SIGTERM's graceful shutdown: run 4 appends to a file on the ext4
# without end and gets SIGTERM; its agent sees the power button, unmounts
# and powers off, and the vmm's last line says so and how long it took.
# Run 5 mounts the file system: no journal replay (run 3's mount, after
# the SIGKILL, shows the replay is seen), every line intact. Run 6 is a
# guest that ignores the button: the vmm stops it after
# --shutdown-timeout 3 and says so.

disk_sha=$(yes "vmm lab disk" | head -c 67108864 | sha256sum | cut -d' ' -f1)
lab_timeout=1500
guest_checks=disk
lab_script='
truncate_img() { dd if=/dev/zero of="$1" bs=1M count=0 seek="$2" 2>/dev/null; }
truncate_img /tmp/disk.img 256
# guest MODE [ARGS...]: END and AGENT add agent.end= and other parameters to
# the kernel command line. Only in the background (it execs, so that $! is
# the VMM itself, which kill -9 must hit, not a subshell).
guest() {
	mode=$1
	shift
	exec "$VMM" run --cpus 2 --memory 512M --disk path=/tmp/disk.img "$@" \
		--kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
		--cmdline "$GUEST_CMDLINE agent.disk=$mode${END:+ agent.end=$END}${AGENT:+ $AGENT}"
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

# agent_keys LOG KEY...: the agent'"'"'s KEY=VALUE lines of a run whose console
# went to LOG, as LAB lines (each run'"'"'s own, apart from the console'"'"'s).
agent_keys() {
	log=$1
	shift
	for k in "$@"; do
		sed -n "s/^VMM-AGENT: $k=/LAB: $k=/p" "$log" | tail -n 1
	done
}
END=wait guest stream </dev/null >/tmp/run4.log 2>/tmp/run4.err &
pid=$!
wait_line /tmp/run4.log "VMM-AGENT: stream_started=1" $pid 240 && sleep 2
kill -TERM $pid
wait_exit $pid run4 90
agent_keys /tmp/run4.log stream_started power_buttons power_button shutdown_clean
cat /tmp/run4.err
lab "run4_button_line=$(grep -c "^vmm: guest powered off [0-9.]* s after the power button (SIGTERM)$" /tmp/run4.err)"
lab "run4_last_line_is_it=$(tail -n 1 /tmp/run4.err | grep -c "after the power button")"
guest verify </dev/null >/tmp/run5.log 2>&1 &
wait_exit $! run5 240
agent_keys /tmp/run5.log journal_recovery stream_bytes stream_bad_lines
AGENT=agent.power_button=ignore END=wait guest verify --shutdown-timeout 3 \
	</dev/null >/tmp/run6.log 2>/tmp/run6.err &
pid=$!
wait_line /tmp/run6.log "VMM-AGENT: done" $pid 240
t0=$(uptime_s)
kill -TERM $pid
wait_exit $pid run6 60
lab "run6_seconds=$(awk -v a="$t0" -v b="$(uptime_s)" "BEGIN { printf \"%d\", b - a }")"
cat /tmp/run6.err
lab "run6_hard_line=$(grep -c "did not power off within 3 s of the power button (SIGTERM): stopped it hard" /tmp/run6.err)"
lab "run6_agent_saw_button=$(grep -c "VMM-AGENT: power_button=" /tmp/run6.log)"
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
	expect agent journal_recovery -ge 1
	expect lab stream_started -eq 1
	expect lab power_buttons -ge 1
	expect lab power_button -eq 1
	expect lab shutdown_clean -eq 1
	expect lab run4_exit -eq 0
	expect lab run4_button_line -eq 1
	expect lab run4_last_line_is_it -eq 1
	expect lab run5_exit -eq 0
	expect lab journal_recovery -eq 0
	expect lab stream_bytes -gt 0
	expect lab stream_bad_lines -eq 0
	expect lab run6_exit -eq 0
	expect lab run6_hard_line -eq 1
	expect lab run6_seconds -le 10
	expect lab run6_agent_saw_button -eq 0
}
