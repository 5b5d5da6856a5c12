# Stock OVMF boots from a virtio-blk disk, without --kernel: a GPT image
# whose EFI system partition holds the stock kernel (an EFI stub), the
# guest's initramfs and a startup.nsh that the UEFI shell runs. The guest
# agent reports that it runs under EFI and sees the disk it came from.

lab_needs_ovmf=1
lab_timeout=900
guest_checks=basic,disk
guest_cmdline='agent.disk=none'

# The image, 64 MiB: a GPT with one EFI system partition from 1 MiB, FAT32.
lab_host_files() {
	local root=$1 img=$1/guest/esp.img nsh=$1/startup.nsh
	local part=$img@@1M
	printf 'fs0:\r\n\\vmlinuz initrd=\\initrd.cpio %s\r\n' "$lab_guest_cmdline" >"$nsh"
	truncate -s 64M "$img" &&
	printf 'label: gpt\nstart=2048, type=U, name="ESP"\n' | sfdisk -q "$img" &&
	mformat -i "$part" -F -v ESP :: &&
	mcopy -i "$part" "$root/guest/vmlinuz" ::/vmlinuz &&
	mcopy -i "$part" "$root/guest/initrd.cpio" ::/initrd.cpio &&
	mcopy -i "$part" "$nsh" ::/startup.nsh ||
		{ lab_fail "cannot make the EFI system partition image (sfdisk, mtools: tools/setup.sh)"; return 1; }
	rm -f "$nsh"
}

lab_script='
cp /usr/share/OVMF/OVMF_VARS_4M.fd /tmp/vars.fd
lab_timed vmm "$VMM" run --cpus 2 --memory 512M --firmware /usr/share/OVMF/OVMF_CODE_4M.fd \
	--vars /tmp/vars.fd --disk path=/guest/esp.img
'

scenario_check() {
	expect agent done = 1
	expect agent efi -eq 1
	expect agent acpi_errors -eq 0
	expect agent disk_driver = virtio_blk
	expect lab vmm_exit -eq 0
}
