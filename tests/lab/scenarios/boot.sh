# The first acceptance: Debian's stock kernel boots to userspace under the VMM
# with 2 vCPUs and 512 MiB, sees all of them, finds ACPI tables the kernel
# does not complain about, and its poweroff (ACPI S5) ends the VMM with 0.
#
# Before that, on the same lab boot, the /dev/kvm exit-path tests
# (tests/kvm/test_kvm_exits: tiny real-mode payloads, port and MMIO
# accesses of every size, the platform devices' ports), which skip on a
# machine without /dev/kvm: all of them must run, and pass.

lab_needs_kvm_tests=1
lab_script='
# criterion: its totals on stderr, "[====] Synthesis: Tested: N | Passing: N
# | Failing: N | Crashing: N" (--ascii: no colours, no escapes).
lab_timed kvm_exits "$KVM_TESTS" --jobs=1 --ascii >/tmp/kvm.out 2>/tmp/kvm.err
cat /tmp/kvm.out /tmp/kvm.err
# What failed, again among the notes that run shows on a failure.
grep -e "\[----\]" -e "\[FAIL\]" /tmp/kvm.err | grep -v "^\[----\] *$" |
	sed "s/^/LAB: note: kvm_exits: /" >/dev/console
synthesis=$(tr -d "\033" </tmp/kvm.err | sed "s/\[[0-9;]*m//g" | grep "Synthesis:" | tail -n 1)
for k in Tested Passing Failing Crashing; do
	lab "kvm_exits_$(echo $k | tr A-Z a-z)=$(echo "$synthesis" | sed -n "s/.*$k: *\([0-9]*\).*/\1/p")"
done
vmm_run run --cpus 2 --memory 512M
'
guest_checks=basic

scenario_check() {
	expect lab kvm_exits_exit -eq 0
	expect lab kvm_exits_tested -ge 4
	expect lab kvm_exits_failing -eq 0
	expect lab kvm_exits_crashing -eq 0
	expect agent done = 1
	expect agent cpus_online -eq 2
	expect agent memtotal_kb -ge $((440 * 1024))
	expect agent acpi_errors -eq 0
	# No kernel warning at all, and none of the lab CPU's XSAVE kind.
	expect agent xsave_problems -eq 0
	expect agent kernel_warnings -eq 0
	expect lab vmm_exit -eq 0
}
