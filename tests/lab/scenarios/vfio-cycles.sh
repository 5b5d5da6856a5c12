# Lifecycle of a passed-through device (issue 5, acceptance 5): the NVMe
# controller of vfio-nvme, passed through with reset=flr to a guest that
# reboots itself after its checks (agent.end=reboot). A guest reboot is a
# power cycle: the vmm releases the machine, the device included (reset,
# guest RAM unmapped, device, group and container closed), and makes it
# anew (opened, reset, mapped). 20 cycles in one vmm process (or
# VMM_LAB_CYCLES), then SIGTERM.
#
# When each boot's checks are done (the guest then waits 5 s before it
# reboots, agent.end_delay) the lab counts the vmm's open fds and reads its
# VmLck (the guest RAM VFIO pinned): both must be the same at every boot,
# or something of an earlier cycle was left behind. (Counted earlier, at
# userspace-start, they raced the guest's nvme driver setting up its
# MSI-X vectors, each of which gets an irqfd.) Every boot
# must read the pattern back through the guest's nvme driver with MSI-X
# interrupts, and the vmm must log an FLR with its duration at every start
# and exit. After the run, no process holds the group, and the device is
# still on vfio-pci.

# shellcheck source=vfio-nvme.sh
. "$lab_dir/scenarios/vfio-nvme.sh"
guest_cmdline='agent.end=reboot agent.end_delay=5'
# A cycle (OVMF, the guest, its checks, two FLRs) takes about 100 s in the
# lab: 20 of them are 35 minutes, so CI runs fewer (VMM_LAB_CYCLES).
lab_timeout=$((300 + ${VMM_LAB_CYCLES:-20} * 130))
lab_vars=("NVME_SHA=$nvme_sha" "CYCLES=${VMM_LAB_CYCLES:-20}")
lab_script='
bdf=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat $d/class)" = 0x010802 ] && bdf=${d##*/}
done
"$VMM" host bind "$bdf" >/tmp/bind.log 2>&1 && lab nvme_bound=1
cat /tmp/bind.log
group=$(basename "$(readlink /sys/bus/pci/devices/$bdf/iommu_group)")
cp /usr/share/OVMF/OVMF_VARS_4M.fd /tmp/vars.fd
run_guest() {
	exec "$VMM" run -v --cpus 1 --memory 512M --firmware /usr/share/OVMF/OVMF_CODE_4M.fd \
		--vars /tmp/vars.fd --vfio "$bdf,reset=flr" --kernel "$GUEST_KERNEL" \
		--initrd "$GUEST_INITRD" --cmdline "$GUEST_CMDLINE" --serial file=/tmp/serial.log \
		</dev/null 2>/tmp/vmm.err
}
run_guest &
pid=$!
fds=
lck=
i=1
while [ "$i" -le "$CYCLES" ]; do
	# The guest is done with its checks (its driver has set up every queue
	# and vector) and waits 5 s before it reboots: a quiet moment.
	wait_count /tmp/serial.log "VMM-AGENT: done" "$i" "$pid" 300 || break
	fds="$fds $(ls /proc/$pid/fd | wc -l)"
	lck="$lck $(sed -n "s/^VmLck:[[:space:]]*\([0-9]*\) kB/\1/p" /proc/$pid/status)"
	i=$((i + 1))
done
kill -TERM "$pid"
wait_exit "$pid" vmm 60
lab "cycles=$((i - 1))"
lab "fds_seq=$(echo $fds)"
lab "fds_each_boot=$(echo $fds | tr " " "\n" | sort -u | tr "\n" " " | sed "s/ $//")"
lab "vmlck_kb_each_boot=$(echo $lck | tr " " "\n" | sort -u | tr "\n" " " | sed "s/ $//")"
lab "sha_ok_boots=$(grep -c "VMM-AGENT: nvme_sha=$NVME_SHA" /tmp/serial.log)"
lab "msix_irq_boots=$(grep -c "VMM-AGENT: nvme_irqs=[1-9]" /tmp/serial.log)"
lab "flr_at_start=$(grep -c "vfio $bdf: reset at start (flr) in [0-9.]* ms" /tmp/vmm.err)"
lab "flr_at_exit=$(grep -c "vfio $bdf: reset at exit (flr) in [0-9.]* ms" /tmp/vmm.err)"
lab "flr_ms=$(sed -n "s/.*reset at start (flr) in \([0-9.]*\) ms/\1/p" /tmp/vmm.err | tr "\n" " ")"
lab "signal_line=$(grep -c "terminating on signal 15\\|after the power button (SIGTERM)" /tmp/vmm.err)"
holders=0
for p in /proc/[0-9]*; do
	ls -l "$p/fd" 2>/dev/null | grep -q "/dev/vfio/$group\$" && holders=$((holders + 1))
done
lab "group_holders_after=$holders"
[ "$(basename "$(readlink /sys/bus/pci/devices/$bdf/driver)")" = vfio-pci ] && lab still_vfio=1
grep -v "^VMM-AGENT: note:" /tmp/serial.log | grep "VMM-AGENT: \(nvme_error\|agent_error\)"
tail -n 40 /tmp/vmm.err
'

scenario_check() {
	local n=${VMM_LAB_CYCLES:-20}
	expect lab nvme_bound -eq 1
	expect lab vmm_exit -eq 0
	expect lab cycles -eq "$n"
	expect lab sha_ok_boots -ge "$n"
	expect lab msix_irq_boots -ge "$n"
	expect lab flr_at_start -ge "$n"
	expect lab flr_at_exit -ge "$n"
	expect lab signal_line -eq 1
	expect lab group_holders_after -eq 0
	expect lab still_vfio -eq 1
	# one value each: the same at every boot
	expect lab fds_each_boot -gt 0
	expect lab vmlck_kb_each_boot -ge 524288
}
