# "vmm bench blk" inside the lab: the same raw image as a virtio-blk disk
# under the vmm and under QEMU -accel kvm, alternately, $VMM_LAB_BENCH_RUNS
# times each (default 1); the guest's iotest measures sequential 1 MiB and
# random 4 KiB writes and reads, $VMM_LAB_BENCH_SECONDS (default 5) each.
# The JSON comes back as "LAB: bench=..."; tests/lab/bench blk prints it.

lab_needs_qemu=1
lab_timeout=1200
lab_vars=("BENCH_RUNS=${VMM_LAB_BENCH_RUNS:-1}" "BENCH_SECONDS=${VMM_LAB_BENCH_SECONDS:-5}")
lab_script='
# Written out, not sparse: reads then find data, not holes.
dd if=/dev/zero of=/tmp/bench.img bs=1M count=128 2>/dev/null
lab_timed bench "$VMM" bench blk --disk /tmp/bench.img --kernel "$GUEST_KERNEL" \
	--initrd "$GUEST_INITRD" --cmdline "$GUEST_CMDLINE" --cpus 1 --memory 256M \
	--qemu "$QEMU" --runs "$BENCH_RUNS" --seconds "$BENCH_SECONDS" --timeout 600 \
	>/tmp/bench.json
lab "bench=$(cat /tmp/bench.json)"
'

scenario_check() {
	expect lab bench_exit -eq 0
	expect lab bench =~ '^\{"bench":"blk",.*"vmm":\{"seq-write-1m":\{"mib_s":[0-9.]+,"iops":[0-9.]+\},"seq-read-1m":.*"rand-write-4k":.*"rand-read-4k":.*"ratio_min":[0-9.]+\}$'
}
