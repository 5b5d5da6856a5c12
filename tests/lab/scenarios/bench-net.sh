# "vmm bench net" inside the lab: the benchmark makes tap vmmbench0
# (10.0.3.1/24) and gives it to the vmm and to QEMU -accel kvm as a
# virtio-net NIC, alternately, $VMM_LAB_BENCH_RUNS times each (default 1);
# the guest's iotest sends TCP to the lab host, then receives from it,
# $VMM_LAB_BENCH_SECONDS (default 5) each way. The JSON comes back as
# "LAB: bench=..."; tests/lab/bench net prints it.

lab_needs_qemu=1
lab_timeout=1200
lab_vars=("BENCH_RUNS=${VMM_LAB_BENCH_RUNS:-1}" "BENCH_SECONDS=${VMM_LAB_BENCH_SECONDS:-5}")
lab_script='
lab_timed bench "$VMM" bench net --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
	--cmdline "$GUEST_CMDLINE" --cpus 1 --memory 256M --qemu "$QEMU" \
	--runs "$BENCH_RUNS" --seconds "$BENCH_SECONDS" --timeout 600 >/tmp/bench.json
lab "bench=$(cat /tmp/bench.json)"
[ -e /sys/class/net/vmmbench0 ] || lab tap_gone=1
'

scenario_check() {
	expect lab bench_exit -eq 0
	expect lab bench =~ '^\{"bench":"net",.*"vmm":\{"guest-to-host":\{"mib_s":[0-9.]+\},"host-to-guest":\{"mib_s":[0-9.]+\}\}.*"ratio_min":[0-9.]+\}$'
	expect lab tap_gone -eq 1
}
