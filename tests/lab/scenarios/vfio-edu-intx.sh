# VFIO passthrough of edu with INTx (issue 5): vfio-edu's run, with the
# guest booted with pci=nomsi, so its vmm_edu module falls back to the
# legacy interrupt (edu_irq_mode=intx, and edu_ok=0, which the module keeps
# for MSI). edu's INTx reaches the guest's IOAPIC line through a KVM irqfd
# with a resample eventfd, and the guest's EOI unmasks the device through
# it: the guest must count every interrupt it asked for, the 8 it raised
# and the 4 of its DMA, and /proc/interrupts must show them.

#
# The device is passed with mmap=off, so every access to its BARs traps,
# and the vmm serves its API (issue 17, acceptance 5): vm.info gives BAR
# 0's guest address, its size (edu's 1 MiB) and its mapping ("trapped"),
# and vm.counters' bar0_trapped_exits rises while the guest's edu check
# reads the BAR (before the check, and after it: the agent waits 5 s after
# "done"); the same counters give the host's count of edu's INTx.

# shellcheck source=vfio-edu.sh
. "$lab_dir/scenarios/vfio-edu.sh"
# agent.edu_narrow=1: the lab host's kernel splits an 8-byte trapped access
# in two, which edu's 64-bit DMA registers refuse (vmm_edu.c, narrow).
guest_cmdline="pci=nomsi agent.end_delay=5 agent.edu_narrow=1"
lab_host_files() {
	lab_install_program "$(command -v curl)" "$1" /usr/bin/curl ||
		{ lab_fail "no curl to copy into the lab host (tools/setup.sh installs it)"; return 1; }
}
guest_checks=edu
EDU_AS_USER=
lab_script='
EDU_KILL_FIRST=
EDU_AS_USER=
EDU_VFIO_OPTS=,mmap=off
EDU_API=/tmp/api.sock
# counter FILE NAME: the integer NAME has in the JSON in FILE ("" if none).
counter() {
	sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1"
}
edu_api_checks() {
	curl -s --unix-socket $EDU_API http://localhost/api/v1/vm.counters >/tmp/c1
	curl -s --unix-socket $EDU_API http://localhost/api/v1/vm.info >/tmp/info
	lab "info_bar0=$(sed -n "s/.*\(\"type\":\"bar\",\"index\":0,[^}]*\).*/\1/p" /tmp/info)"
	lab "info_host_bdf=$(grep -c "\"bdf\":\"$bdf\"" /tmp/info)"
	wait_line /tmp/guest.log "VMM-AGENT: done" $pid 300
	curl -s --unix-socket $EDU_API http://localhost/api/v1/vm.counters >/tmp/c2
	cat /tmp/c1 /tmp/c2
	lab "bar0_exits_before=$(counter /tmp/c1 bar0_trapped_exits)"
	lab "bar0_exits_after=$(counter /tmp/c2 bar0_trapped_exits)"
	lab "bar0_exits_rose=$(( $(counter /tmp/c2 bar0_trapped_exits) > $(counter /tmp/c1 bar0_trapped_exits) ))"
	lab "intx_interrupts=$(counter /tmp/c2 intx_interrupts)"
}
'"$lab_script"

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
	expect lab info_bar0 =~ '"mapping":"trapped"'
	expect lab info_bar0 =~ '"size":1048576'
	expect lab info_bar0 =~ '"guest_address":[1-9]'
	expect lab info_host_bdf -eq 1
	expect lab bar0_exits_rose -eq 1
	expect lab intx_interrupts -ge 12
}
