# "vmm bench boot --firmware" inside the lab: the stock guest kernel booted
# through Debian's stock OVMF (q35, pflash CODE + a fresh VARS copy each
# boot) under the vmm and under QEMU -accel kvm, alternately,
# $VMM_LAB_BENCH_RUNS times each (default 3). The JSON comes back as
# "LAB: bench=..."; tests/lab/bench boot --firmware prints just that.

lab_needs_qemu=1
# One vCPU: QEMU's 2-vCPU guest on the one lab CPU has wedged the lab host,
# and two lab CPUs soft-locked it (README.md, Known limits).
lab_needs_ovmf=1
lab_timeout=1800
lab_vars=("BENCH_RUNS=${VMM_LAB_BENCH_RUNS:-3}")
lab_script='
lab_timed bench "$VMM" bench boot --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
	--cmdline "$GUEST_CMDLINE" --cpus 1 --memory 512M --qemu "$QEMU" \
	--firmware /usr/share/OVMF/OVMF_CODE_4M.fd \
	--runs "$BENCH_RUNS" --timeout 600 >/tmp/bench.json
lab "bench=$(cat /tmp/bench.json)"
'

scenario_check() {
	expect lab bench_exit -eq 0
	expect lab bench =~ '^\{"bench":"boot","firmware":true,.*"ratio_kernel":[0-9.]+,"ratio_userspace":[0-9.]+\}$'
}
