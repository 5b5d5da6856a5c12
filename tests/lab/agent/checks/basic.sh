# What any boot must get right: vCPUs, memory, ACPI tables, firmware kind.

# Counts the CPUs in a sysfs cpulist such as "0-3,6".
cpulist_count() {
	n=0
	for r in $(echo "$1" | tr , ' '); do
		case $r in
		*-*) n=$((n + ${r#*-} - ${r%-*} + 1)) ;;
		*) n=$((n + 1)) ;;
		esac
	done
	echo "$n"
}

check_basic() {
	report kernel "$(uname -r)"
	report cpus_online "$(cpulist_count "$(cat /sys/devices/system/cpu/online)")"
	report memtotal_kb "$(sed -n 's/^MemTotal: *\([0-9]*\) kB$/\1/p' /proc/meminfo)"

	# The kernel's own complaints about the ACPI tables and AML it was given.
	pattern='ACPI (BIOS )?(Error|Exception|Warning)|ACPI.*Firmware Bug|Firmware Bug.*ACPI|ACPI.*BIOS bug'
	dmesg | grep -E "$pattern" >/tmp/acpi_errors
	report acpi_errors "$(wc -l </tmp/acpi_errors)"
	while read -r line; do
		note "acpi: $line"
	done </tmp/acpi_errors

	if [ -d /sys/firmware/efi ]; then
		report efi 1
	else
		report efi 0
	fi
}
