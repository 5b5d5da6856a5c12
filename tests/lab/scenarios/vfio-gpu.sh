# The lab's stand-in for a GPU (issue 5, acceptance 3): the lab host has a
# virtio-vga (class 0x0300, with SeaBIOS's vgabios-virtio.bin as its ROM)
# beside its own boot VGA, and an ivshmem-plain whose memory BAR is 128
# GiB, the size of an H100's largest BAR, backed by a sparse file here.
# Both are bound with `vmm host bind`, then:
#  1. A --pci-mmio64 too small for that BAR is refused, by name, with
#     nothing opened and no guest started.
#  2. Both are passed through to a guest under OVMF. The guest must see the
#     virtio-vga's BARs as the lab host sees them (size, I/O or memory,
#     64-bit, prefetchable) and read the same ROM through its ROM BAR as
#     the lab host reads through sysfs; the ivshmem's BAR must land above
#     4 GiB, naturally aligned (at a multiple of its size), the guest must
#     read there the words written into the backing file before the lab
#     started, and the words the guest writes there must be in the file
#     after the run.
#  3. The virtio-vga alone with rom=FILE (its ROM with four bytes changed):
#     the guest must read the file's image through the ROM BAR.

lab_needs_ovmf=1
lab_timeout=900
guest_checks=gpu
ivshmem_gib=128
ivshmem_bytes=$((ivshmem_gib << 30))
lab_host_files() {
	# The lab host reads its own view with the guest's helpers.
	cp "$lab_dir/agent/checks/gpu.sh" "$1/lab/gpu.sh" || return 1
	ivshmem_file=$lab_work/ivshmem.bin
	rm -f "$ivshmem_file"
	truncate -s "${ivshmem_gib}G" "$ivshmem_file" &&
		printf '\x01\x00\xad\xde' | dd of="$ivshmem_file" conv=notrunc status=none &&
		printf '\xff\xff\xad\xde' | dd of="$ivshmem_file" bs=1 seek=$((ivshmem_bytes - 8)) \
			conv=notrunc status=none ||
		{ lab_fail "cannot write $ivshmem_file"; return 1; }
	# The host's console stays on its own VGA (boot VGA), as with an iGPU.
	lab_qemu_args+=(-vga std -device virtio-vga,addr=03.0
		-object "memory-backend-file,id=labshm,mem-path=$ivshmem_file,size=${ivshmem_gib}G,share=on"
		-device ivshmem-plain,memdev=labshm)
}
lab_script='
gpu=
shm=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat $d/vendor):$(cat $d/class)" = 0x1af4:0x030000 ] && gpu=${d##*/}
	[ "$(cat $d/vendor):$(cat $d/device)" = 0x1af4:0x1110 ] && shm=${d##*/}
done
lab "gpu_host_bdf=$gpu"
lab "ivshmem_host_bdf=$shm"
. /lab/gpu.sh
"$VMM" host bind "$gpu" "$shm" >/tmp/bind.log 2>&1 && lab bound=1
cat /tmp/bind.log
lab "gpu_host_layout=$(pci_layout /sys/bus/pci/devices/$gpu)"
echo 1 >/sys/bus/pci/devices/$gpu/rom
rom=$(rom_image_sha /sys/bus/pci/devices/$gpu/rom)
lab "gpu_host_rom_image=${rom#*:}"
echo 0 >/sys/bus/pci/devices/$gpu/rom
cp /usr/share/OVMF/OVMF_VARS_4M.fd /tmp/vars.fd
# A 64-bit window too small for the 128 GiB BAR and the virtio-vga port
# beside it: refused by name before anything is opened.
"$VMM" run --cpus 1 --memory 512M --firmware /usr/share/OVMF/OVMF_CODE_4M.fd --vars /tmp/vars.fd \
	--kernel "$GUEST_KERNEL" --pci-mmio64 64G --vfio "$gpu" --vfio "$shm" </dev/null >/tmp/small.out 2>/tmp/small.err
lab "small_window_exit=$?"
lab "small_window_lines=$(wc -l </tmp/small.err)"
grep -q "(the largest: $shm BAR2): give --pci-mmio64 256G or more" /tmp/small.err && lab small_window_named=1
[ -s /tmp/small.out ] && lab small_window_guest_output=1
cat /tmp/small.err
holders=0
for p in /proc/[0-9]*; do
	ls -l "$p/fd" 2>/dev/null | grep -q "/dev/vfio/[0-9]" && holders=$((holders + 1))
done
lab "small_window_vfio_holders=$holders"
vmm_run run -v --cpus 1 --memory 512M --firmware /usr/share/OVMF/OVMF_CODE_4M.fd \
	--vars /tmp/vars.fd --vfio "$gpu" --vfio "$shm" 2>/tmp/vmm.err
cat /tmp/vmm.err
# rom=FILE: the card ROM with 4 bytes changed in its first image; the
# guest must read the file through the ROM BAR, not the card. Its console
# goes to a file, so that its report does not mix with the first boot.
echo 1 >/sys/bus/pci/devices/$gpu/rom
cat /sys/bus/pci/devices/$gpu/rom >/tmp/alt.rom
echo 0 >/sys/bus/pci/devices/$gpu/rom
printf VMMR | dd of=/tmp/alt.rom bs=1 seek=1024 conv=notrunc 2>/dev/null
rom=$(rom_image_sha /tmp/alt.rom)
lab "romfile_want=${rom#*:}"
cp /usr/share/OVMF/OVMF_VARS_4M.fd /tmp/vars2.fd
lab_timed romfile "$VMM" run --cpus 1 --memory 512M --firmware /usr/share/OVMF/OVMF_CODE_4M.fd \
	--vars /tmp/vars2.fd --vfio "$gpu,rom=/tmp/alt.rom" --serial file=/tmp/romfile.log \
	--kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" --cmdline "$GUEST_CMDLINE" 2>/tmp/romfile.err
cat /tmp/romfile.err
lab "romfile_guest_image=$(sed -n "s/^VMM-AGENT: gpu_rom_image=//p" /tmp/romfile.log | tr -d "\r" | tail -n 1)"
'

scenario_check() {
	local end_word
	expect lab bound -eq 1
	expect lab small_window_exit -eq 1
	expect lab small_window_lines -eq 1
	expect lab small_window_named -eq 1
	expect lab small_window_vfio_holders -eq 0
	[ -z "${lab[small_window_guest_output]:-}" ] || fail "small window: a guest ran"
	expect lab vmm_exit -eq 0
	expect agent gpu_layout = "${lab[gpu_host_layout]:-no host layout}"
	expect agent gpu_rom_sig = 55aa
	expect agent gpu_rom_image = "${lab[gpu_host_rom_image]:-no host ROM}"
	expect lab romfile_exit -eq 0
	[ "${lab[romfile_want]:-}" != "${lab[gpu_host_rom_image]:-}" ] ||
		fail "rom=FILE: the file is the card ROM, so the check would prove nothing"
	expect lab romfile_guest_image = "${lab[romfile_want]:-no file image}"
	expect agent ivshmem_bar2_size "=" "$(printf 0x%x "$ivshmem_bytes")"
	expect agent ivshmem_bar2_gib -ge 4
	# Natural alignment: the address is a multiple of the size.
	[[ ${agent[ivshmem_bar2]:-} =~ ^0x[0-9a-f]+$ ]] &&
		lab[bar2_offset_in_size]=$((agent[ivshmem_bar2] & (ivshmem_bytes - 1)))
	expect lab bar2_offset_in_size -eq 0
	expect agent ivshmem_host_word0 = 0xDEAD0001
	expect agent ivshmem_host_word_end = 0xDEADFFFF
	expect agent ivshmem_guest_write -eq 1
	# What the guest wrote, in the device's memory itself.
	lab[file_word0]=$(od -An -tx4 -N4 "$lab_work/ivshmem.bin" | tr -d ' ')
	lab[file_word_end]=$(od -An -tx4 -j $((ivshmem_bytes - 8)) -N4 \
		"$lab_work/ivshmem.bin" | tr -d ' ')
	expect lab file_word0 = 9e570001
	expect lab file_word_end = 9e57ffff
}
