# The lab can host UEFI guests: QEMU (q35, -accel kvm) inside the lab host
# boots Debian's stock OVMF, which hands off to the stock guest kernel
# (-kernel/-initrd/-append through fw_cfg), and the guest agent finds
# /sys/firmware/efi. This is the peer that the boot benchmark compares the
# vmm against once the vmm boots OVMF itself.
#
# Needs the rebuilt lab emulator (tests/lab/build-qemu, cached; about 8
# minutes the first time): the stock one crashes on a nested guest's CR8
# writes, which OVMF makes.

lab_needs_qemu=1
lab_needs_ovmf=1
lab_timeout=900
lab_script='
cp /usr/share/OVMF/OVMF_VARS_4M.fd /tmp/ovmf-vars.fd
lab_timed peer "$QEMU" -L /usr/share/seabios -L /usr/share/qemu \
	-accel kvm -machine q35 -cpu host -smp 1 -m 512M \
	-nodefaults -nographic -no-reboot -net none -serial stdio \
	-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
	-drive if=pflash,format=raw,unit=1,file=/tmp/ovmf-vars.fd \
	-kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -append "$GUEST_CMDLINE"
'

scenario_check() {
	expect agent done = 1
	expect agent efi -eq 1
	expect lab peer_exit -eq 0
}
