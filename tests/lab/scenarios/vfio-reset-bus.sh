# A reset method that is not the kernel's first choice, and SIGINT (issue
# 5, reset): QEMU's nvme device behind a pcie-root-port in the lab host, so
# that the kernel offers a secondary bus reset beside FLR ("flr bus"). The
# vmm runs with reset=bus: it must make "bus" the only method in
# reset_method for the moment of each reset, log the reset as a bus reset
# with its time, at start and at exit, and put the kernel's list back after
# each. The guest's nvme driver reads back a pattern the lab wrote, so the
# device works after a bus reset. The guest then waits (agent.end=wait) and
# the run is ended with SIGINT, as ^C would: the vmm must exit 0, reset the
# device on the way out and leave no process holding its group.
#
# Before that, the guest resets the slot itself (issue 21, acceptance 5,
# check_sbr): with its nvme driver unbound, setpci sets and clears
# Secondary Bus Reset in the root port's bridge control. The controller
# must read as reset in the guest (BAR 0 unassigned, command 0), the vmm
# must log a host reset of it with the method (bus: the device is alone
# on its bus) and its time, and after a rescan the guest's nvme driver
# must read the lab's pattern again.

nvme_img=$lab_work/nvme.img
nvme_sha=$(yes "vmm lab bus reset" | head -c 1048576 | sha256sum | cut -d' ' -f1)
lab_needs_ovmf=1
# The root port says 5 GT/s (x-speed=5): at its default 16 GT/s, Linux
# waits after the bus reset for the port to report Data Link Layer Link
# Active, which the lab emulator's port never does ("Data Link Layer Link
# Active not set in 1000 msec"), and the reset fails with ENOTTY; at 5 GT/s
# or less Linux waits a fixed time and then for the device, as it does
# for any port without link reporting.
lab_qemu_args=(-device pcie-root-port,id=labrp,chassis=1,slot=1,x-speed=5
	-drive "file=$nvme_img,format=raw,if=none,id=labnvme"
	-device nvme,serial=vmmlab,drive=labnvme,bus=labrp)
lab_timeout=900
guest_checks=nvme,sbr
guest_cmdline=agent.end=wait
lab_host_files() {
	{ yes "vmm lab bus reset" | head -c 1048576; head -c 15728640 /dev/zero; } >"$nvme_img" ||
		{ lab_fail "cannot write $nvme_img"; return 1; }
}
lab_script='
bdf=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat $d/class)" = 0x010802 ] && bdf=${d##*/}
done
lab "nvme_host_bdf=$bdf"
"$VMM" host bind "$bdf" >/tmp/bind.log 2>&1 && lab nvme_bound=1
cat /tmp/bind.log
group=$(basename "$(readlink /sys/bus/pci/devices/$bdf/iommu_group)")
lab "methods_before=$(cat /sys/bus/pci/devices/$bdf/reset_method)"
cp /usr/share/OVMF/OVMF_VARS_4M.fd /tmp/vars.fd
"$VMM" run -v --memory 512M --firmware /usr/share/OVMF/OVMF_CODE_4M.fd \
	--vars /tmp/vars.fd --vfio "$bdf,reset=bus" --kernel "$GUEST_KERNEL" \
	--initrd "$GUEST_INITRD" --cmdline "$GUEST_CMDLINE" --serial file=/tmp/serial.log \
	</dev/null 2>/tmp/vmm.err &
pid=$!
if wait_count /tmp/serial.log "VMM-AGENT: done" 1 "$pid" 600; then
	lab "methods_while_running=$(cat /sys/bus/pci/devices/$bdf/reset_method)"
	kill -INT "$pid"
fi
wait_exit "$pid" vmm 60
cat /tmp/serial.log
cat /tmp/vmm.err
lab "methods_after=$(cat /sys/bus/pci/devices/$bdf/reset_method)"
lab "bus_at_start=$(grep -c "vfio $bdf: reset at start (bus) in [0-9.]* ms" /tmp/vmm.err)"
lab "bus_at_exit=$(grep -c "vfio $bdf: reset at exit (bus) in [0-9.]* ms" /tmp/vmm.err)"
lab "bus_ms=$(sed -n "s/.*reset at \(start\|exit\) (bus) in \([0-9.]*\) ms/\2/p" /tmp/vmm.err | tr "\n" " ")"
lab "flr_used=$(grep -c "reset at [a-z]* (flr)" /tmp/vmm.err)"
guest_sbr="vfio $bdf: reset on the guest'"'"'s bus reset (bus) in [0-9.]* ms"
lab "guest_sbr_resets=$(grep -c "$guest_sbr" /tmp/vmm.err)"
lab "guest_sbr_ms=$(grep -o "$guest_sbr" /tmp/vmm.err | sed -n "s/.* in \([0-9.]*\) ms/\1/p" | tr "\n" " ")"
lab "sigint_line=$(grep -c "terminating on signal 2 " /tmp/vmm.err)"
holders=0
for p in /proc/[0-9]*; do
	ls -l "$p/fd" 2>/dev/null | grep -q "/dev/vfio/$group\$" && holders=$((holders + 1))
done
lab "group_holders_after=$holders"
lab "driver_after=$(basename "$(readlink /sys/bus/pci/devices/$bdf/driver)")"
'

scenario_check() {
	expect lab nvme_bound -eq 1
	expect lab methods_before = "flr bus"
	expect agent nvme_driver = nvme
	expect agent nvme_sha = "$nvme_sha"
	expect agent nvme_irqs -gt 0
	expect lab methods_while_running = "flr bus"
	expect lab vmm_exit -eq 0
	expect lab sigint_line -eq 1
	expect lab bus_at_start -eq 1
	expect lab bus_at_exit -eq 1
	expect lab flr_used -eq 0
	expect agent sbr_bctl_during =~ '[4-7c-f][0-9a-f]$'
	expect agent sbr_bar0_after = 0
	expect agent sbr_cmd_after = 0000
	expect agent sbr_nvme_driver = nvme
	expect agent sbr_nvme_sha = "$nvme_sha"
	expect lab guest_sbr_resets -eq 1
	expect lab guest_sbr_ms =~ '^[0-9]'
	expect lab methods_after = "flr bus"
	expect lab group_holders_after -eq 0
	expect lab driver_after = vfio-pci
}
