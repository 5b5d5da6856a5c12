# A multifunction slot passed through (issue 5, acceptance 4): the lab host
# has two edu functions in one slot, 00:05.0 (with the multifunction bit)
# and 00:05.1, which share an IOMMU group. Both are bound with one
# `vmm host bind` and given with two --vfio; the guest must see them as
# one device with two functions behind one root port (01:00.0 and
# 01:00.1, function 0's header type with the multifunction bit), and its
# vmm_edu module must pass on each: MSI and DMA through the same container.

lab_needs_ovmf=1
lab_needs_edu=1
lab_qemu_args=(-device edu,addr=05.0,multifunction=on -device edu,addr=05.1)
lab_timeout=900
guest_checks=edu
lab_script='
"$VMM" host bind 0000:00:05.0 0000:00:05.1 >/tmp/bind.log 2>&1 && lab edu_bound=1
cat /tmp/bind.log
lab "host_group_0=$(basename "$(readlink /sys/bus/pci/devices/0000:00:05.0/iommu_group)")"
lab "host_group_1=$(basename "$(readlink /sys/bus/pci/devices/0000:00:05.1/iommu_group)")"
cp /usr/share/OVMF/OVMF_VARS_4M.fd /tmp/vars.fd
vmm_run run -v --cpus 1 --memory 512M --firmware /usr/share/OVMF/OVMF_CODE_4M.fd \
	--vars /tmp/vars.fd --vfio 0000:00:05.0 --vfio 0000:00:05.1 2>/tmp/vmm.err
cat /tmp/vmm.err
grep -q "vfio 0000:00:05.0: behind root port 00:01.0" /tmp/vmm.err &&
	grep -q "vfio 0000:00:05.1: behind root port 00:01.0" /tmp/vmm.err && lab one_port=1
'

scenario_check() {
	expect lab edu_bound -eq 1
	expect lab vmm_exit -eq 0
	expect lab one_port -eq 1
	expect agent edu_count -eq 2
	expect agent edu_bdfs = "0000:01:00.0 0000:01:00.1"
	expect agent edu_hdr_fn0 -eq 128
	expect agent edu_ok_fn0 -eq 1
	expect agent edu_ok_fn1 -eq 1
}
