# vfio-hotplug through iommufd, with the device handed over as an fd: on the
# lab host kernel build-kernel makes (Debian's have no iommufd), each
# vm.add-device is `vmm ctl add-device /dev/vfio/devices/vfioN`, which opens
# the device's cdev itself and passes the fd with SCM_RIGHTS, no path in the
# body (Cloud Hypervisor's way for a supervisor that opens what the vmm may
# not). The vmm must take iommufd for it (--vfio-iommu auto), find the PCI
# function behind the fd, and go through the same cycles as vfio-hotplug:
# MSI and DMA in the guest each time, nothing left after each removal, a
# surprise removal, and the host's unbind. That kernel has no nvme driver,
# so the refusal of a group that is not viable stays vfio-hotplug's.

# shellcheck source=vfio-hotplug.sh
. "$lab_dir/scenarios/vfio-hotplug.sh"
lab_host_kernel=iommufd
lab_modules=()
lab_qemu_args=(-device edu,addr=06.0)
lab_vars+=("ADD_BY=cdev")
lab_host_files() {
	lab_install_program "$(command -v curl)" "$1" /usr/bin/curl ||
		{ lab_fail "no curl to copy into the lab host (tools/setup.sh installs it)"; return 1; }
}

scenario_check() {
	expect lab iommu_used = iommufd
	expect lab fd_adds -ge "$((${VMM_LAB_HOTPLUG_CYCLES:-10} + 2))"
	hotplug_checks
}
