# "vmm bench vfio" inside the lab (issue 5, acceptance 7): the lab host's
# edu and nvme devices are bound to vfio-pci, and the benchmark boots the
# vmm and QEMU -accel kvm (vfio-pci behind a pcie-root-port) alternately
# through stock OVMF, $VMM_LAB_BENCH_RUNS times each (default 1):
#   - edu, guest RAM of each $VMM_LAB_BENCH_SIZES (default 512M) in 4 KiB
#     and 2 MiB pages: the DMA map of guest RAM, timed by strace in both,
#     beside touching as much memory once; the guest's vmm_edu times BAR
#     reads through the direct mapping and MSI from raise to handler;
#   - nvme, 256 MiB: its reset, each method the kernel offers for it
#     alone in reset_method in turn (FLR in the lab), and the list put
#     back after.
# The JSON comes back as "LAB: bench_edu=..." and "LAB: bench_nvme=...";
# tests/lab/bench vfio prints them. The lab host gets memory for the
# largest size twice over (huge pages, and the rest) and at least 3 GiB.
# The checks pass on well-formed JSON, never on a speed.
#
# bench_vfio_parts (default "edu nvme") names the halves this lab boot
# runs and checks: bench-vfio-edu.sh and bench-vfio-nvme.sh each set one,
# so that meson runs the two halves (6 and 4 OVMF boots, the longest
# scenario whole) in two lab hosts at once.

bench_vfio_parts=${bench_vfio_parts:-edu nvme}
bench_sizes=${VMM_LAB_BENCH_SIZES:-512M}
bench_largest=0
for s in ${bench_sizes//,/ }; do
	case $s in
	*[Gg]) m=$((${s%?} * 1024)) ;;
	*[Mm]) m=${s%?} ;;
	*) m=$s ;;
	esac
	[ "$m" -gt "$bench_largest" ] && bench_largest=$m
done
nvme_img=$lab_work/nvme.img
lab_needs_qemu=1
lab_needs_ovmf=1
lab_needs_edu=1
lab_qemu_args=(-device edu -drive "file=$nvme_img,format=raw,if=none,id=labnvme"
	-device nvme,serial=vmmbench,drive=labnvme)
lab_memory=$((bench_largest * 2 + 1024 > 3072 ? bench_largest * 2 + 1024 : 3072))
# 2400 s for one run (a 512 MiB run takes about 800 s, 1G,2G about 1300 s);
# each further run (--runs) gets as much again: three at 512 MiB ran past a
# flat 2400 s.
bench_runs=${VMM_LAB_BENCH_RUNS:-1}
lab_timeout=2400
[[ $bench_runs =~ ^[1-9][0-9]?$ ]] && lab_timeout=$((2400 * bench_runs))
lab_vars=("BENCH_RUNS=$bench_runs" "BENCH_SIZES=$bench_sizes"
	"BENCH_HUGEPAGES=$((bench_largest / 2))" "BENCH_PARTS=$bench_vfio_parts")
lab_host_files() {
	head -c 16777216 /dev/zero >"$nvme_img" || { lab_fail "cannot write $nvme_img"; return 1; }
	lab_install_program "$(command -v strace)" "$1" /usr/bin/strace ||
		{ lab_fail "no strace to copy into the lab host (tools/setup.sh installs it)"; return 1; }
}
lab_script='
edu=
nvme=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat $d/vendor)" = 0x1234 ] && [ "$(cat $d/device)" = 0x11e8 ] && edu=${d##*/}
	[ "$(cat $d/class)" = 0x010802 ] && nvme=${d##*/}
done
"$VMM" host bind "$edu" >/tmp/bind.log 2>&1 && "$VMM" host bind "$nvme" >>/tmp/bind.log 2>&1 &&
	lab bench_bound=1
cat /tmp/bind.log
echo "$BENCH_HUGEPAGES" >/proc/sys/vm/nr_hugepages
lab "hugepages=$(cat /proc/sys/vm/nr_hugepages)"
methods_before=$(cat /sys/bus/pci/devices/$nvme/reset_method)
bench() {
	"$VMM" bench vfio --firmware /usr/share/OVMF/OVMF_CODE_4M.fd \
		--vars /usr/share/OVMF/OVMF_VARS_4M.fd --kernel "$GUEST_KERNEL" \
		--initrd "$GUEST_INITRD" --cmdline "$GUEST_CMDLINE" --qemu "$QEMU" --cpus 1 \
		--runs "$BENCH_RUNS" --timeout 600 "$@"
}
case " $BENCH_PARTS " in *" edu "*)
	lab_timed bench_edu bench --vfio "$edu" --sizes "$BENCH_SIZES" --pages 4k,2m >/tmp/edu.json
	lab "bench_edu=$(cat /tmp/edu.json)"
esac
case " $BENCH_PARTS " in *" nvme "*)
	lab_timed bench_nvme bench --vfio "$nvme" --sizes 256M --pages 4k >/tmp/nvme.json
	lab "bench_nvme=$(cat /tmp/nvme.json)"
	[ "$(cat /sys/bus/pci/devices/$nvme/reset_method)" = "$methods_before" ] && lab methods_restored=1
esac
'

scenario_check() {
	local n='[0-9]+(\.[0-9]+)?' dma
	dma="\{\"map_ms\":$n,\"alloc_ms\":$n,\"ready_ms\":$n,\"map_calls\":[1-9][0-9]*\}"
	expect lab bench_bound -eq 1
	if [[ " $bench_vfio_parts " == *" edu "* ]]; then
		expect lab bench_edu_exit -eq 0
		expect lab bench_edu =~ "^\{\"bench\":\"vfio\",\"device\":\"[0-9a-f:.]+\",\"edu\":true,.*\"vmm\":\{\"bar_read_direct_ns\":$n,\"bar_read_trapped_ns\":$n,\"msi_ns\":$n,\"msi_min_ns\":$n,\"dma\":\{\"4k-[0-9]+m\":$dma,\"2m-[0-9]+m\":$dma.*\"qemu\":\{\"bar_read_direct_ns\":$n,\"bar_read_trapped_ns\":$n,\"msi_ns\":$n,.*\"touch_once_ms\":\{\"4k-[0-9]+m\":$n,.*\"ratio\":\{\"bar_read_direct\":$n,\"bar_read_trapped\":$n,\"msi\":$n,\"dma_ready_4k-[0-9]+m\":$n,\"dma_ready_2m-[0-9]+m\":$n.*\"ratio_min\":$n\}$"
	fi
	if [[ " $bench_vfio_parts " == *" nvme "* ]]; then
		expect lab bench_nvme_exit -eq 0
		expect lab bench_nvme =~ "^\{\"bench\":\"vfio\",\"device\":\"[0-9a-f:.]+\",\"edu\":false,.*\"reset_ms\":\{\"flr\":\{\"ms\":$n,\"resets\":[1-9][0-9]*\}.*\"ratio\":\{\"dma_ready_4k-256m\":$n,\"reset_flr\":$n\},\"ratio_min\":$n\}$"
		expect lab methods_restored -eq 1
	fi
}
