# The lab's stand-in for a GPU, passed through: a virtio-vga (class 0x0300,
# with a ROM) and an ivshmem-plain with a 128 GiB BAR.
#
# gpu_layout: each BAR and the ROM as "index:size:kind" (kind io, mem32,
# mem64, with p when prefetchable), which the lab compares with what the
# lab host sees of the same function; gpu_rom_image: "SHA-256:length" of
# the ROM's first image read through its BAR (gpu_rom_sig its first two
# bytes, 55aa for a PCI ROM).
# ivshmem_bar2 (and in GiB, ivshmem_bar2_gib) and ivshmem_bar2_size:
# where its memory BAR landed and its size; ivshmem_host_word*: what the lab put in the shared memory (at its
# start and 8 bytes before its end) as the guest reads it there;
# ivshmem_guest_write: the guest's own words written at the same places
# and read back, which the lab then finds in the memory's backing file.

# pci_layout DIR: DIR/resource as "index:size:kind ..." (sysfs's flags:
# 0x100 I/O, 0x200 memory, 0x2000 prefetchable, 0x100000 64-bit).
pci_layout() {
	i=0
	out=
	while read -r start end flags; do
		[ "$i" -le 6 ] || break
		if [ $((start)) -ne 0 ] || [ $((end)) -ne 0 ]; then
			size=$((end - start + 1))
			if [ $((flags & 0x100)) -ne 0 ]; then
				kind=io
			elif [ $((flags & 0x100000)) -ne 0 ]; then
				kind=mem64
			else
				kind=mem32
			fi
			[ $((flags & 0x2000)) -eq 0 ] || kind=${kind}p
			out="$out${out:+ }$i:$(printf %x "$size"):$kind"
		fi
		i=$((i + 1))
	done <"$1/resource"
	echo "$out"
}

# cfg_read DIR OFF BYTES: a little-endian config-space value, in decimal.
cfg_read() {
	dd if="$1/config" bs=1 skip="$2" count="$3" 2>/dev/null | od -An -tu"$3" | tr -d ' '
}

# cfg_write32 DIR OFF VALUE: writes a config-space dword through sysfs.
cfg_write32() {
	v=$3
	printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $((v & 255)) $((v >> 8 & 255)) \
		$((v >> 16 & 255)) $((v >> 24 & 255)))" |
		dd of="$1/config" bs=4 seek=$(($2 / 4)) count=1 conv=notrunc 2>/dev/null
}

# rom_image_sha FILE: a PCI ROM's signature, the SHA-256 of its first image
# (the length its header gives: byte 2, in 512-byte units) and that length,
# as "sig:sha:length".
rom_image_sha() {
	hdr=$(od -An -tx1 -N3 "$1" 2>/dev/null | tr -d ' ')
	case $hdr in
	[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]) ;;
	*) echo "none::0"; return ;;
	esac
	len=$((0x${hdr#????} * 512))
	sha=$(head -c "$len" "$1" | sha256sum | cut -d' ' -f1)
	echo "${hdr%??}:$sha:$len"
}

# The ROM through its BAR, as a driver would map it: Linux's sysfs rom gives
# the boot VGA device's legacy shadow at 0xc0000 instead, which under UEFI
# is not the card's. Placed at the top of the parent bridge's memory
# window, enabled, read through an uncached /dev/mem mapping (iotest
# physread), and turned off again.
rom_via_bar() {
	dev=$1
	size=$(sed -n 7p "$dev/resource" | { read -r s e _; echo $((e - s + 1)); })
	bridge=$(readlink -f "$dev/..")
	wbase=$((($(cfg_read "$bridge" 32 2) & 0xfff0) << 16))
	wlim=$(((($(cfg_read "$bridge" 34 2) & 0xfff0) << 16) | 0xfffff))
	addr=$(((wlim + 1 - size) & ~(size - 1)))
	if [ "$size" -le 0 ] || [ "$addr" -lt "$wbase" ]; then
		note "gpu: no room for the ROM (${size} bytes) in [$wbase, $wlim]"
		return 1
	fi
	cfg_write32 "$dev" 48 $((addr | 1))
	iotest physread "$addr" "$size" >/tmp/rom.bin || note "gpu: iotest physread $addr $size failed"
	cfg_write32 "$dev" 48 0
	rom_image_sha /tmp/rom.bin
}

# pci_find VENDOR DEVICE-or-CLASS: the first function with that vendor and
# device ID (0x....) or class (0x......).
pci_find() {
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor")" = "$1" ] || continue
		if [ "$(cat "$d/device")" = "$2" ] || [ "$(cat "$d/class")" = "$2" ]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

check_gpu() {
	if dev=$(pci_find 0x1af4 0x030000); then
		report gpu_bdf "${dev##*/}"
		report gpu_layout "$(pci_layout "$dev")"
		rom=$(rom_via_bar "$dev")
		report gpu_rom_sig "${rom%%:*}"
		report gpu_rom_image "${rom#*:}"
	else
		report gpu_bdf none
	fi
	if ! dev=$(pci_find 0x1af4 0x1110); then
		report ivshmem_bdf none
		return
	fi
	report ivshmem_bdf "${dev##*/}"
	read -r start end _ <<EOF
$(sed -n 3p "$dev/resource")
EOF
	report ivshmem_bar2 "$(printf 0x%x "$start")"
	report ivshmem_bar2_gib $((start >> 30))
	report ivshmem_bar2_size "$(printf 0x%x $((end - start + 1)))"
	# Memory decoding, if nothing turned it on yet (no driver has it).
	echo 1 >"$dev/enable" 2>/dev/null
	last=$((end - 7))
	report ivshmem_host_word0 "$(devmem "$start" 32)"
	report ivshmem_host_word_end "$(devmem "$last" 32)"
	devmem "$start" 32 0x9e570001
	devmem "$last" 32 0x9e57ffff
	if [ "$(devmem "$start" 32)" = 0x9E570001 ] && [ "$(devmem "$last" 32)" = 0x9E57FFFF ]; then
		report ivshmem_guest_write 1
	else
		report ivshmem_guest_write 0
	fi
}
