# VFIO passthrough of edu with INTx (issue 5): vfio-edu's run, with the
# guest booted with pci=nomsi, so its vmm_edu module falls back to the
# legacy interrupt (edu_irq_mode=intx, and edu_ok=0, which the module keeps
# for MSI). edu's INTx reaches the guest's IOAPIC line through a KVM irqfd
# with a resample eventfd, and the guest's EOI unmasks the device through
# it: the guest must count every interrupt it asked for, the 8 it raised
# and the 4 of its DMA, and /proc/interrupts must show them.

# shellcheck source=vfio-edu.sh
. "$lab_dir/scenarios/vfio-edu.sh"
guest_cmdline="pci=nomsi"

scenario_check() {
	expect lab edu_bound -eq 1
	expect lab vmm_exit -eq 0
	expect agent edu_found -eq 1
	expect agent edu_id = 0x010000ed
	expect agent edu_irq_mode = intx
	expect agent edu_raise_irqs -eq 8
	expect agent edu_dma_ok -eq 1
	expect agent edu_dma_irqs -eq 4
	expect agent edu_proc_irqs -ge 12
	expect lab edu_still_vfio -eq 1
}
