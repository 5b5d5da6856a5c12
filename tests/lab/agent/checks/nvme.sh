# A passed-through NVMe controller: the guest's stock nvme driver binds it,
# the first 1 MiB of its namespace (the line "vmm lab nvme" repeated, which
# the lab put in the backing image) reads back as nvme_sha; its MSI-X
# vectors (nvme_msix_vectors, from the PCI core's msi_irqs) and the
# interrupts its queues took in /proc/interrupts (nvme_irqs).

check_nvme() {
	load_guest_modules
	if ! wait_for /dev/nvme0n1 30; then
		report nvme_error "no /dev/nvme0n1"
		return
	fi
	report nvme_driver "$(basename "$(readlink /sys/class/nvme/nvme0/device/driver)")"
	report nvme_sha "$(head -c 1048576 /dev/nvme0n1 | sha256sum | cut -d' ' -f1)"
	# The kind of each of its vectors, as the PCI core set them up.
	dev=$(readlink -f /sys/class/nvme/nvme0/device)
	report nvme_msix_vectors "$(cat "$dev"/msi_irqs/* 2>/dev/null | grep -c '^msix$')"
	grep nvme0q /proc/interrupts | while read -r line; do note "$line"; done
	awk '/nvme0q/ {
		for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i
	} END { print "VMM-AGENT: nvme_irqs=" s + 0 }' /proc/interrupts
}
