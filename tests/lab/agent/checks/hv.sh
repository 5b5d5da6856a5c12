# The hypervisor CPUID leaves as the guest sees them (--hide-kvm,
# --hv-vendor-id). hv_vendor: the signature at 0x40000000 ("-" when it
# spells nothing); hv_kvm_leaf: where "KVMKVMKVM" is, 0x40000000 or one of
# the 0x100 steps above it where Linux looks, or none; hv_detected: what
# Linux said it runs on ("Hypervisor detected: ..."), or none.

check_hv() {
	set -- $(iotest cpuid 0x40000000)
	report hv_vendor "${5:-none}"
	kvm=none
	for leaf in 0x40000000 0x40000100 0x40000200 0x40000300; do
		set -- $(iotest cpuid "$leaf")
		if [ "$5" = KVMKVMKVM ]; then
			kvm=$leaf
			break
		fi
	done
	report hv_kvm_leaf "$kvm"
	detected=$(dmesg | sed -n 's/.*Hypervisor detected: //p' | head -n 1)
	report hv_detected "${detected:-none}"
}
