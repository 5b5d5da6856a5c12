# --hide-kvm and --hv-vendor-id (issue 5's options for GPU drivers that
# refuse a hypervisor): the same guest three times, as the guest itself
# reads CPUID and as Linux tells which hypervisor it found.
#  - plain: KVMKVMKVM at 0x40000000, Linux finds KVM;
#  - --hide-kvm: no KVM signature anywhere Linux looks, Linux finds none,
#    and the guest still boots and powers off;
#  - --hv-vendor-id VMMLABVENDOR: that vendor at 0x40000000, KVM's leaves
#    at 0x40000100, where Linux still finds KVM.

guest_checks=hv
lab_timeout=600
lab_script='
one() { # NAME ARGS...
	name=$1
	shift
	lab_timed "$name" "$VMM" run --cpus 1 --memory 256M --kernel "$GUEST_KERNEL" \
		--initrd "$GUEST_INITRD" --cmdline "$GUEST_CMDLINE" --serial file=/tmp/$name.log "$@" \
		2>/tmp/$name.err
	cat /tmp/$name.err
	for key in hv_vendor hv_kvm_leaf hv_detected; do
		lab "${name}_$key=$(sed -n "s/^VMM-AGENT: $key=//p" /tmp/$name.log | tr -d "\r" | tail -n 1)"
	done
	grep -q "^VMM-AGENT: done" /tmp/$name.log && lab "${name}_done=1"
}
one plain
one hidden --hide-kvm
one vendor --hv-vendor-id VMMLABVENDOR
'

scenario_check() {
	expect lab plain_exit -eq 0
	expect lab plain_done -eq 1
	expect lab plain_hv_vendor = KVMKVMKVM
	expect lab plain_hv_kvm_leaf = 0x40000000
	expect lab plain_hv_detected = KVM
	expect lab hidden_exit -eq 0
	expect lab hidden_done -eq 1
	expect lab hidden_hv_kvm_leaf = none
	expect lab hidden_hv_detected = none
	expect lab vendor_exit -eq 0
	expect lab vendor_done -eq 1
	expect lab vendor_hv_vendor = VMMLABVENDOR
	expect lab vendor_hv_kvm_leaf = 0x40000100
	expect lab vendor_hv_detected = KVM
}
