# The Q35 shape, as the guest's PCI core found it (/sys/bus/pci): the MCH at
# 00:00.0, the ICH9 LPC bridge at 00:1f.0, the PCIe root ports, and ECAM in
# use: Linux reads extended config space (offsets 0x100+) only through
# MMCONFIG, so a root port whose config file is 4096 bytes long was reached
# through ECAM.

pci_id() {
	d=/sys/bus/pci/devices/$1
	[ -d "$d" ] || { echo none; return; }
	echo "$(sed 's/^0x//' "$d/vendor"):$(sed 's/^0x//' "$d/device")"
}

check_q35() {
	report pci_00_00_0 "$(pci_id 0000:00:00.0)"
	report pci_00_1f_0 "$(pci_id 0000:00:1f.0)"
	ports=0
	ext=0
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/class")" = 0x060400 ] || continue
		ports=$((ports + 1))
		[ "$(wc -c <"$d/config")" -eq 4096 ] && ext=$((ext + 1))
		note "root port ${d##*/}: $(pci_id "${d##*/}"), driver $(basename "$(readlink "$d/driver" 2>/dev/null)" 2>/dev/null)"
	done
	report root_ports "$ports"
	report root_ports_ext_config "$ext"
	# What the kernel said about MMCONFIG, for the log.
	dmesg | grep -E 'MMCONFIG|ECAM|PCI: Using' | while read -r line; do
		note "pci: $line"
	done
	if dmesg | grep -q 'MMCONFIG.*reserved'; then
		report mmconfig_reserved 1
	else
		report mmconfig_reserved 0
	fi
}
