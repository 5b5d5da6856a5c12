# Debian's stock OVMF_CODE_4M.fd boots in the vmm (Q35 platform) and hands
# off to the stock kernel given with --kernel (fw_cfg); the guest runs under
# EFI, sees the Q35 shape with ECAM in use, and reports no ACPI errors. Its
# poweroff ends the vmm with 0. VARS is a copy the scenario makes, so the
# firmware's writes to it (boot entries) must land in that file.

lab_needs_ovmf=1
lab_timeout=900
guest_checks=basic,q35
lab_script='
cp /usr/share/OVMF/OVMF_VARS_4M.fd /tmp/vars.fd
vmm_run run --cpus 2 --memory 512M --firmware /usr/share/OVMF/OVMF_CODE_4M.fd \
	--vars /tmp/vars.fd
if cmp -s /usr/share/OVMF/OVMF_VARS_4M.fd /tmp/vars.fd; then
	lab vars_written=0
else
	lab vars_written=1
fi
'

scenario_check() {
	expect agent done = 1
	expect agent efi -eq 1
	expect agent cpus_online -eq 2
	expect agent acpi_errors -eq 0
	expect agent pci_00_00_0 = 8086:29c0
	expect agent pci_00_1f_0 = 8086:2918
	expect agent root_ports -eq 4
	expect agent root_ports_ext_config -eq 4
	expect agent mmconfig_reserved -eq 1
	expect lab vmm_exit -eq 0
	expect lab vars_written -eq 1
}
