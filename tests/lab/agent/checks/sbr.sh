# The guest's own Secondary Bus Reset of the root port above its NVMe
# controller (issue 21, acceptance 5), after check_nvme: the nvme driver
# lets the controller go, setpci asserts and deasserts Secondary Bus Reset
# in the port's bridge control, as a user would, and the controller reads
# as reset (BAR 0 unassigned, decoding off). It is then taken out of the
# guest's PCI tree and a rescan finds it again: the guest assigns its BARs
# anew and the nvme driver binds it once more. The vmm resets the device
# on the host meanwhile (the lab checks its log).
#
# Reports sbr_port (the root port's BDF), sbr_bctl_during (the bridge
# control read back with the reset asserted), sbr_bar0_after and
# sbr_cmd_after (BAR 0's address bits and the command register right
# after the reset: 0 and 0), then sbr_nvme_driver and sbr_nvme_sha (the
# lab's pattern read back through the driver again); sbr_error when
# something did not come.

check_sbr() {
	dev=$(readlink -f /sys/class/nvme/nvme0/device 2>/dev/null)
	if [ -z "$dev" ]; then
		report sbr_error "no nvme0 to reset"
		return
	fi
	bdf=${dev##*/}
	port=$(basename "$(dirname "$dev")")
	report sbr_port "$port"
	echo "$bdf" >"$dev/driver/unbind"
	setpci -s "$port" BRIDGE_CONTROL=0x40:0x40
	report sbr_bctl_during "$(setpci -s "$port" BRIDGE_CONTROL)"
	# Linux holds it 2 ms (pci_reset_secondary_bus); a little longer here.
	sleep 0.1
	setpci -s "$port" BRIDGE_CONTROL=0x00:0x40
	sleep 1
	bar0=$(setpci -s "$bdf" BASE_ADDRESS_0)
	report sbr_bar0_after "$(printf '%x' $((0x${bar0:-ffffffff} & ~0xf)))"
	report sbr_cmd_after "$(setpci -s "$bdf" COMMAND)"
	echo 1 >"/sys/bus/pci/devices/$bdf/remove"
	echo 1 >/sys/bus/pci/rescan
	if ! wait_for "/sys/bus/pci/devices/$bdf" 10; then
		report sbr_error "$bdf did not come back on rescan"
		return
	fi
	if ! wait_for /dev/nvme0n1 30; then
		report sbr_error "no /dev/nvme0n1 after the bus reset"
		dmesg | tail -n 20 | while read -r line; do note "$line"; done
		return
	fi
	report sbr_nvme_driver "$(basename "$(readlink "/sys/bus/pci/devices/$bdf/driver")")"
	report sbr_nvme_sha "$(head -c 1048576 /dev/nvme0n1 | sha256sum | cut -d' ' -f1)"
}
