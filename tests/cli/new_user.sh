#!/usr/bin/env bash
# What a new user hits first: every command's --help starts alike, bad usage
# of vmm bench reads and exits as every other command's, and vmm host check
# on a virtual machine without nested virtualization does not advise a
# modprobe that cannot work there.
#
# Usage: new_user.sh PATH/TO/vmm
set -uo pipefail
vmm=$(realpath "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

ok() { echo "ok $1"; }
fail() {
	echo "FAIL $1: $2"
	[ -s "$tmp/out" ] && head -n 8 "$tmp/out" | sed "s/^/    out: /"
	[ -s "$tmp/err" ] && head -n 8 "$tmp/err" | sed "s/^/    err: /"
	fails=$((fails + 1))
}

# run ARGS...: the command's stdout, stderr and status in $tmp/out, $tmp/err, $rc.
run() {
	"$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
}

# Bad usage: status 2 and the "vmm: error: " line, as from vmm run and vmm host.
run "$vmm" bench disk
if [ "$rc" -ne 2 ]; then
	fail "bench bad usage" "exit status $rc (want 2, as for every command's bad usage)"
elif [ "$(head -c 12 "$tmp/err")" != "vmm: error: " ]; then
	fail "bench bad usage" "stderr does not start with 'vmm: error: '"
else
	ok "bench bad usage"
fi

for cmd in bench run host; do
	run "$vmm" "$cmd" --help
	if [ "$rc" -ne 0 ]; then
		fail "$cmd --help" "exit status $rc (want 0)"
	elif [ "$(head -c 6 "$tmp/out")" != "Usage:" ]; then
		fail "$cmd --help" "does not start with 'Usage:'"
	else
		ok "$cmd --help"
	fi
done

# A virtual machine whose hypervisor passes neither VT-x nor AMD-V through
# (the hypervisor flag, no vmx or svm), and so no /dev/kvm: kvm_intel and
# kvm_amd cannot load, so the kvm finding must point at the virtualization
# fix instead of a modprobe.
for vendor in GenuineIntel AuthenticAMD; do
	name="host check, VM without nesting ($vendor)"
	root="$tmp/root-$vendor"
	mkdir -p "$root/proc" "$root/sys/bus/pci/devices" "$root/dev"
	printf 'processor\t: 0\nvendor_id\t: %s\nflags\t\t: fpu vme de pse tsc msr pae hypervisor lahf_lm\n\n' \
		"$vendor" >"$root/proc/cpuinfo"
	run "$vmm" host check --sysroot "$root"
	# The kvm finding: its line and the fix line under it.
	kvm=$(awk '/^[^ ]/ { in_kvm = /^FAIL  kvm / } in_kvm' "$tmp/out")
	if [ "$rc" -ne 1 ]; then
		fail "$name" "exit status $rc (want 1: failures found)"
	elif ! grep -q '^FAIL  virtualization ' "$tmp/out"; then
		fail "$name" "no 'FAIL  virtualization' line"
	elif [ -z "$kvm" ]; then
		fail "$name" "no 'FAIL  kvm' line"
	elif grep -q 'modprobe kvm_' <<<"$kvm"; then
		fail "$name" "the kvm fix advises a modprobe that cannot load without vmx or svm"
	elif ! grep -q 'virtualization fix above' <<<"$kvm"; then
		fail "$name" "the kvm fix does not point at the virtualization fix"
	else
		ok "$name"
	fi
done

if [ "$fails" -ne 0 ]; then
	echo "$fails case(s) failed"
	exit 1
fi
