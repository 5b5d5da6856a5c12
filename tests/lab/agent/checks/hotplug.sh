# PCIe hot-plug of a passed-through edu device (issue 17, acceptance 3 and
# 4), the guest's half: the lab adds the device through the vmm's API
# (vm.add-device) and removes it (vm.remove-device, or the host unbinding
# it), agent.hotplug_cycles times. Each time the guest's pciehp must see
# it come, the vmm_edu module (loaded before, so the PCI core binds it as
# the device appears) runs its checks on it: MSI raised through the
# device, DMA guest RAM -> device -> guest RAM; and then pciehp must let it
# go after the attention button.
#
# Reports hotplug_slots (the slots pciehp registered, /sys/bus/pci/slots),
# hotplug_ready once the module is in, then per cycle N: hpN_bdf,
# hpN_edu_ok, hpN_dma_ok, hpN_irqs (MSI the device raised and the guest
# counted), hpN_done=1, and hpN_gone=1 once the device left; hotplug_error
# when something did not come.

# wait_for SECONDS CMD...: until CMD succeeds, checking every 0.2 s.
hp_wait_for() {
	t=$(($1 * 5))
	shift
	while ! "$@"; do
		[ "$t" -gt 0 ] || return 1
		sleep 0.2
		t=$((t - 1))
	done
}

hp_no_edu() {
	! edu_device >/dev/null
}

hp_result_ready() {
	dev=$(edu_device) && [ -r "$dev/vmm_edu_result" ] && grep -q '^edu_ok=' "$dev/vmm_edu_result"
}

hp_one() {
	i=$1
	if ! hp_wait_for 300 edu_device >/dev/null; then
		report hotplug_error "cycle $i: no edu device came"
		return 1
	fi
	dev=$(edu_device)
	report "hp${i}_bdf" "${dev##*/}"
	if ! hp_wait_for 60 hp_result_ready; then
		report hotplug_error "cycle $i: vmm_edu did not finish its probe"
		dmesg | tail -n 20 | sed 's/^/VMM-AGENT: note: /'
	fi
	report "hp${i}_edu_ok" "$(sed -n 's/^edu_ok=//p' "$dev/vmm_edu_result" 2>/dev/null)"
	report "hp${i}_dma_ok" "$(sed -n 's/^edu_dma_ok=//p' "$dev/vmm_edu_result" 2>/dev/null)"
	report "hp${i}_irqs" "$(sed -n 's/^edu_irqs=//p' "$dev/vmm_edu_result" 2>/dev/null)"
	report "hp${i}_done" 1
	if ! hp_wait_for 300 hp_no_edu; then
		report hotplug_error "cycle $i: the edu device did not leave"
		return 1
	fi
	report "hp${i}_gone" 1
}

check_hotplug() {
	n=$(cmdline_param agent.hotplug_cycles 1)
	report hotplug_slots "$(ls /sys/bus/pci/slots 2>/dev/null | tr '\n' ' ')"
	if ! insmod "$edu_module" hotplug=1 2>/tmp/edu_insmod.err; then
		report hotplug_error "insmod vmm_edu: $(cat /tmp/edu_insmod.err)"
		return
	fi
	report hotplug_ready 1
	i=1
	while [ "$i" -le "$n" ] && hp_one "$i"; do
		i=$((i + 1))
	done
	report hotplug_cycles_done $((i - 1))
	dmesg | grep -i -e pciehp -e "hotplug" | tail -n 12 | sed 's/^/VMM-AGENT: note: /'
}
