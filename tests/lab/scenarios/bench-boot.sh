# "vmm bench boot" inside the lab: the stock guest booted under the vmm and
# under QEMU -accel kvm, alternately, $VMM_LAB_BENCH_RUNS times each
# (default 3). The JSON it prints comes back as "LAB: bench=...";
# tests/lab/bench prints just that.

lab_needs_qemu=1
# One vCPU: QEMU's 2-vCPU guest on the one lab CPU has wedged the lab host,
# and two lab CPUs soft-locked it (README.md, Known limits).
lab_timeout=1200
lab_vars=("BENCH_RUNS=${VMM_LAB_BENCH_RUNS:-3}")
lab_script='
lab_timed bench "$VMM" bench boot --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
	--cmdline "$GUEST_CMDLINE" --cpus 1 --memory 512M --qemu "$QEMU" \
	--runs "$BENCH_RUNS" --timeout 300 >/tmp/bench.json
lab "bench=$(cat /tmp/bench.json)"
'

scenario_check() {
	expect lab bench_exit -eq 0
	expect lab bench =~ '^\{"bench":"boot",.*"ratio_kernel":[0-9.]+,"ratio_userspace":[0-9.]+\}$'
}
