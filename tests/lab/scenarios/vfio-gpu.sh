# The lab's stand-in for a GPU (issue 5, acceptance 3): the lab host has a
# virtio-vga (class 0x0300, with SeaBIOS's vgabios-virtio.bin as its ROM)
# beside its own boot VGA, and an ivshmem-plain whose memory BAR is 4 GiB,
# backed by a file here.
# Both are bound with `vmm host bind` and passed through to a guest under
# OVMF. The guest must see the virtio-vga's BARs as the lab host sees them
# (size, I/O or memory, 64-bit, prefetchable) and read the same ROM through
# its ROM BAR as the lab host reads through sysfs; the
# ivshmem's 4 GiB BAR must land above 4 GiB, the guest must read there the
# words written into the backing file before the lab started, and the
# words the guest writes there must be in the file after the run.

lab_needs_ovmf=1
lab_timeout=900
guest_checks=gpu
lab_host_files() {
	# The lab host reads its own view with the guest's helpers.
	cp "$lab_dir/agent/checks/gpu.sh" "$1/lab/gpu.sh" || return 1
	ivshmem_file=$lab_work/ivshmem.bin
	rm -f "$ivshmem_file"
	truncate -s 4G "$ivshmem_file" &&
		printf '\x01\x00\xad\xde' | dd of="$ivshmem_file" conv=notrunc status=none &&
		printf '\xff\xff\xad\xde' | dd of="$ivshmem_file" bs=1 seek=$((4 * 1024 * 1024 * 1024 - 8)) \
			conv=notrunc status=none ||
		{ lab_fail "cannot write $ivshmem_file"; return 1; }
	# The host's console stays on its own VGA (boot VGA), as with an iGPU.
	lab_qemu_args+=(-vga std -device virtio-vga,addr=03.0
		-object "memory-backend-file,id=labshm,mem-path=$ivshmem_file,size=4G,share=on"
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
vmm_run run -v --cpus 1 --memory 512M --firmware /usr/share/OVMF/OVMF_CODE_4M.fd \
	--vars /tmp/vars.fd --vfio "$gpu" --vfio "$shm" 2>/tmp/vmm.err
cat /tmp/vmm.err
'

scenario_check() {
	local end_word
	expect lab bound -eq 1
	expect lab vmm_exit -eq 0
	expect agent gpu_layout = "${lab[gpu_host_layout]:-no host layout}"
	expect agent gpu_rom_sig = 55aa
	expect agent gpu_rom_image = "${lab[gpu_host_rom_image]:-no host ROM}"
	expect agent ivshmem_bar2_size = 0x100000000
	expect agent ivshmem_bar2_gib -ge 4
	expect agent ivshmem_host_word0 = 0xDEAD0001
	expect agent ivshmem_host_word_end = 0xDEADFFFF
	expect agent ivshmem_guest_write -eq 1
	# What the guest wrote, in the device's memory itself.
	lab[file_word0]=$(od -An -tx4 -N4 "$lab_work/ivshmem.bin" | tr -d ' ')
	lab[file_word_end]=$(od -An -tx4 -j $((4 * 1024 * 1024 * 1024 - 8)) -N4 \
		"$lab_work/ivshmem.bin" | tr -d ' ')
	expect lab file_word0 = 9e570001
	expect lab file_word_end = 9e57ffff
}
