# What --vfio refuses (issue 5, acceptance 6), against a real kernel: the
# lab host has a two-function slot, edu at 00:05.0 and an NVMe controller
# at 00:05.1 (one IOMMU group), the NVMe on the host's own nvme driver,
# and a second edu at 00:06.0 in a group of its own.
#  - 05.1, still on nvme: refused, naming nvme and the bind that fixes it;
#  - 05.0, put on vfio-pci by hand (the way a guide does it): its group is
#    not viable, because 05.1 stays on nvme; refused, naming 05.1;
#  - a function that does not exist: refused;
#  - 06.0, bound, given by a user whose locked-memory limit is below guest
#    RAM (no CAP_IPC_LOCK): refused, naming the limit and how to raise it;
#  - 06.0 with --vfio-iommu iommufd, on a kernel without iommufd (Debian
#    builds none with it): refused, naming /dev/iommu and type1;
#  - a group already open: vfio-edu.
# Each exits 1 with one line on stderr and no guest. After them nothing is
# left open (no process holds a /dev/vfio node), 05.1 is still on nvme with
# its disk, and 05.0 and 06.0 are still on vfio-pci.

nvme_img=$lab_work/nvme.img
lab_needs_ovmf=1
lab_modules+=("${lab_host_driver_modules[@]}")
lab_qemu_args=(-device edu,addr=05.0,multifunction=on
	-drive "file=$nvme_img,format=raw,if=none,id=labnvme"
	-device nvme,addr=05.1,serial=vmmlab,drive=labnvme
	-device edu,addr=06.0)
lab_timeout=600
lab_host_files() {
	head -c 1048576 /dev/zero >"$nvme_img" || { lab_fail "cannot write $nvme_img"; return 1; }
}
lab_script='
refused() { # NAME PATTERN ARGS...: runs the vmm, reports NAME_exit, NAME_lines, NAME_named
	name=$1 pattern=$2
	shift 2
	"$@" </dev/null >/tmp/$name.out 2>/tmp/$name.err
	lab "${name}_exit=$?"
	lab "${name}_lines=$(wc -l </tmp/$name.err)"
	grep -q "$pattern" /tmp/$name.err && lab "${name}_named=1"
	[ -s /tmp/$name.out ] && lab "${name}_guest_output=1"
	cat /tmp/$name.err
}
drv() {
	basename "$(readlink /sys/bus/pci/devices/$1/driver 2>/dev/null)" 2>/dev/null
}
run_args="run --memory 512M --firmware /usr/share/OVMF/OVMF_CODE_4M.fd --kernel $GUEST_KERNEL"
lab "nvme_driver_before=$(drv 0000:00:05.1)"
# 05.0 onto vfio-pci by hand; vmm host bind would refuse to leave 05.1 behind.
echo vfio-pci >/sys/bus/pci/devices/0000:00:05.0/driver_override
echo 0000:00:05.0 >/sys/bus/pci/drivers_probe
"$VMM" host bind 0000:00:06.0 >/tmp/bind.log 2>&1 && lab edu2_bound=1
cat /tmp/bind.log
cp /usr/share/OVMF/OVMF_VARS_4M.fd /tmp/vars.fd
refused host_driver "0000:00:05.1 (.*) is bound to nvme; bind it to vfio-pci: vmm host bind 0000:00:05.1" \
	"$VMM" $run_args --vars /tmp/vars.fd --vfio 0000:00:05.1
refused not_viable "0000:00:05.0: IOMMU group [0-9]* is not viable: 0000:00:05.1 (.*) is bound to nvme" \
	"$VMM" $run_args --vars /tmp/vars.fd --vfio 0000:00:05.0
refused no_device "0000:00:1e.7: no such PCI device" \
	"$VMM" $run_args --vars /tmp/vars.fd --vfio 0000:00:1e.7
refused no_iommufd "/dev/iommu: missing: this kernel has no iommufd .* --vfio-iommu type1" \
	"$VMM" $run_args --vars /tmp/vars.fd --vfio-iommu iommufd --vfio 0000:00:06.0
# A user without CAP_IPC_LOCK, with the usual 8 MiB limit.
mkdir -p /etc
echo "root:x:0:0:root:/:/bin/sh" >>/etc/passwd
echo "lab:x:1000:1000:lab:/tmp:/bin/sh" >>/etc/passwd
echo "root:x:0:" >>/etc/group
echo "lab:x:1000:" >>/etc/group
cp /usr/share/OVMF/OVMF_VARS_4M.fd /tmp/vars-lab.fd
chown 1000:1000 /tmp/vars-lab.fd
refused memlock "the locked-memory limit must be at least .*, but it is 8 MiB" \
	su -s /bin/sh lab -c "ulimit -l 8192; exec $VMM $run_args --vars /tmp/vars-lab.fd --vfio 0000:00:06.0"
holders=0
for p in /proc/[0-9]*; do
	ls -l "$p/fd" 2>/dev/null | grep -q "/dev/vfio/[0-9]" && holders=$((holders + 1))
done
lab "vfio_holders_after=$holders"
lab "drivers_after=$(drv 0000:00:05.0) $(drv 0000:00:05.1) $(drv 0000:00:06.0)"
[ -b /dev/nvme0n1 ] && lab nvme_disk_after=1
'

scenario_check() {
	local c
	expect lab nvme_driver_before = nvme
	expect lab edu2_bound -eq 1
	for c in host_driver not_viable no_device no_iommufd memlock; do
		expect lab "${c}_exit" -eq 1
		expect lab "${c}_lines" -eq 1
		expect lab "${c}_named" -eq 1
		[ -z "${lab[${c}_guest_output]:-}" ] || fail "$c: a guest ran"
	done
	expect lab vfio_holders_after -eq 0
	expect lab drivers_after = "vfio-pci nvme vfio-pci"
	expect lab nvme_disk_after -eq 1
}
