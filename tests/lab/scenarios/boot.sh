# The first acceptance: Debian's stock kernel boots to userspace under the VMM
# with 2 vCPUs and 512 MiB, sees all of them, finds ACPI tables the kernel
# does not complain about, and its poweroff (ACPI S5) ends the VMM with 0.

lab_script='vmm_run run --cpus 2 --memory 512M'
guest_checks=basic

scenario_check() {
	expect agent done = 1
	expect agent cpus_online -eq 2
	expect agent memtotal_kb -ge $((440 * 1024))
	expect agent acpi_errors -eq 0
	expect lab vmm_exit -eq 0
}
