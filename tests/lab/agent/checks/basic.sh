# What any boot must get right: vCPUs, memory, ACPI tables, firmware kind,
# and no kernel warnings.

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

	# The kernel's own warnings (a WARN() with its trace), and among them
	# the FPU code's check of CPUID leaf 0xD against the XSAVE features,
	# "XSAVE consistency problem". The lab's emulator causes that one when
	# the lab host has XSAVE: QEMU 7.2's TCG does not give SVM's XSETBV
	# intercept, so the lab host's KVM never sees the guest's XCR0 and
	# reports the XSAVE size (CPUID 0xD.0 EBX) for x87 alone; so the lab
	# host runs with -cpu max,-xsave.
	dmesg | grep -E 'WARNING: CPU: [0-9]+ PID: [0-9]+ at ' >/tmp/kernel_warnings
	report kernel_warnings "$(wc -l </tmp/kernel_warnings)"
	while read -r line; do
		note "kernel warning: $line"
	done </tmp/kernel_warnings
	dmesg | grep 'XSAVE consistency problem' >/tmp/xsave_problems
	report xsave_problems "$(wc -l </tmp/xsave_problems)"
	while read -r line; do
		note "xsave: $line"
	done </tmp/xsave_problems

	if [ -d /sys/firmware/efi ]; then
		report efi 1
	else
		report efi 0
	fi
}
