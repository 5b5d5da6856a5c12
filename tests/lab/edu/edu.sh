# QEMU's edu device (1234:11e8), passed through to the guest: its BAR0 from
# userspace with busybox devmem, then the vmm_edu module
# (/agent/modules/vmm_edu.ko, from tests/lab/edu/vmm_edu.c), whose probe
# checks the ID and liveness registers, the factorial, MSI raised through
# register 0x60, and DMA guest RAM -> device buffer -> guest RAM with a
# completion interrupt per transfer.
#
# Reports edu_found, edu_bdf, edu_id_devmem, edu_live_devmem, edu_insmod,
# then every key=value the module wrote to BDF/vmm_edu_result (edu_id,
# edu_live, edu_fact_ok, edu_irq_mode, edu_raise_irqs, edu_dma_ok,
# edu_dma_sum, edu_dma_sum_back, edu_dma_irqs, edu_irqs, edu_ok, and
# edu_error when something failed), then edu_proc_irqs: the interrupts
# /proc/interrupts counts for "vmm_edu", which should equal edu_irqs.
# The module prints the same keys itself (after a printk timestamp); the
# values agree, and these lines come last.

edu_module=${EDU_MODULE:-/agent/modules/vmm_edu.ko}

# The first edu device's sysfs directory.
edu_device() {
	for d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$d/vendor")" = 0x1234 ] && [ "$(cat "$d/device")" = 0x11e8 ]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

# The sum, over the CPUs, of the counts on vmm_edu's line(s) of
# /proc/interrupts (a shared INTx line lists "other, vmm_edu").
edu_proc_irqs() {
	awk '/[ ,]vmm_edu(,|$)/ {
		for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i
		n++
	} END { print n ? s : "none" }' /proc/interrupts
}

# BAR0 through /dev/mem, before the module claims it (the kernel refuses
# /dev/mem on claimed regions: CONFIG_IO_STRICT_DEVMEM). Memory decoding is
# switched on for the read through sysfs if nothing did it yet.
edu_devmem() {
	dev=$1
	bar=$(head -n 1 "$dev/resource" | cut -d' ' -f1)
	report edu_bar0_devmem "$bar"
	case $bar in
	'' | 0x0000000000000000)
		report edu_id_devmem none
		note "edu: BAR0 has no address"
		return
		;;
	esac
	enabled=$(cat "$dev/enable")
	[ "$enabled" != 0 ] || echo 1 >"$dev/enable"
	id=$(devmem "$bar" 32 2>/tmp/edu_devmem.err)
	report edu_id_devmem "$(echo "${id:-none}" | tr A-FX a-fx)"
	[ -n "$id" ] || note "edu: devmem: $(cat /tmp/edu_devmem.err)"
	# Liveness: the register reads back the bitwise NOT of what was written.
	live=$((0x5a5aa5a5 ^ 0xffffffff))
	devmem $((bar + 4)) 32 0x5a5aa5a5 2>/dev/null
	got=$(devmem $((bar + 4)) 32 2>/dev/null)
	if [ -n "$got" ] && [ $((got)) -eq "$live" ]; then
		report edu_live_devmem 1
	else
		report edu_live_devmem 0
		note "edu: devmem liveness: wrote 0x5a5aa5a5, read ${got:-nothing}"
	fi
	[ "$enabled" != 0 ] || echo 0 >"$dev/enable"
}

check_edu() {
	if ! dev=$(edu_device); then
		report edu_found 0
		return
	fi
	report edu_found 1
	report edu_bdf "${dev##*/}"
	edu_devmem "$dev"
	if ! [ -e "$edu_module" ]; then
		report edu_insmod 0
		report edu_error "no $edu_module in the guest"
		return
	fi
	# agent.edu_narrow=1: 4-byte accesses to the DMA registers (vmm_edu.c,
	# narrow); agent.edu_dma_loop=1: DMA on and on after the checks (dma_loop).
	if grep -q '^vmm_edu ' /proc/modules ||
		insmod "$edu_module" narrow="$(cmdline_param agent.edu_narrow 0)" \
			dma_loop="$(cmdline_param agent.edu_dma_loop 0)" 2>/tmp/edu_insmod.err; then
		report edu_insmod 1
	else
		report edu_insmod 0
		note "edu: insmod: $(cat /tmp/edu_insmod.err)"
	fi
	# The module's results; without it bound (a failed probe), what its
	# probe printed.
	if [ -r "$dev/vmm_edu_result" ]; then
		report edu_results sysfs
		cat "$dev/vmm_edu_result" >/tmp/edu_result
	else
		report edu_results dmesg
		dmesg | sed -n 's/.*VMM-AGENT: \(edu_[a-z0-9_]*=.*\)$/\1/p' >/tmp/edu_result
	fi
	while IFS= read -r line; do
		report "${line%%=*}" "${line#*=}"
	done </tmp/edu_result
	report edu_proc_irqs "$(edu_proc_irqs)"
	edu_functions
}

# Every edu function the guest has (a multifunction slot passed through
# shows each), how the module's probe of each one ended (edu_ok_fnF), and
# each one's header type (edu_hdr_fnF: 128 has the multifunction bit).
edu_functions() {
	n=0
	bdfs=
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor")" = 0x1234 ] && [ "$(cat "$d/device")" = 0x11e8 ] || continue
		n=$((n + 1))
		b=${d##*/}
		bdfs="$bdfs${bdfs:+ }$b"
		ok=$(sed -n 's/^edu_ok=//p' "$d/vmm_edu_result" 2>/dev/null)
		report "edu_ok_fn${b##*.}" "${ok:-none}"
		hdr=$(dd if="$d/config" bs=1 skip=14 count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
		report "edu_hdr_fn${b##*.}" "${hdr:-none}"
	done
	report edu_count "$n"
	report edu_bdfs "$bdfs"
}

# The guest half of "vmm bench vfio": with an edu device, vmm_edu's checks
# and then its timings (bench=N: BAR reads, N interrupts from the raise
# write to the handler, agent.bench_msis, default 64), each reported as
# edu_bench_*; edu_bench_guest=edu when they ran. Without an edu device
# (a benchmark of DMA mapping and reset alone) edu_bench_guest=none.
check_bench_vfio() {
	if ! dev=$(edu_device); then
		report edu_bench_guest none
		return
	fi
	report edu_bench_guest edu
	if ! insmod "$edu_module" bench="$(cmdline_param agent.bench_msis 64)" \
		2>/tmp/edu_insmod.err; then
		report bench_error "insmod vmm_edu: $(cat /tmp/edu_insmod.err)"
		return
	fi
	grep -e '^edu_ok=' -e '^edu_error=' -e '^edu_bench_' "$dev/vmm_edu_result" >/tmp/edu_result
	while IFS= read -r line; do
		report "${line%%=*}" "${line#*=}"
	done </tmp/edu_result
}
