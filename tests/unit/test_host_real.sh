#!/usr/bin/env bash
# `vmm host` against this machine's own sysfs and procfs, read only: check
# must agree with what the kernel shows. Without IOMMU groups (this
# project's development machines) it must report the IOMMU as a failure
# with a fix, groups must say nothing can be passed, and bind must refuse
# before writing anything. With groups, it must report the IOMMU ok.
#
# Usage: test_host_real.sh PATH/TO/vmm
set -uo pipefail
vmm=$1
fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

out=$("$vmm" host check 2>&1)
rc=$?
json=$("$vmm" host check --json 2>/dev/null)
if [ -z "$(ls -A /sys/kernel/iommu_groups 2>/dev/null)" ]; then
	echo "this machine has no IOMMU groups: expecting check to fail on the IOMMU, with a fix"
	[ "$rc" -eq 1 ] || fail "check exited $rc, wanted 1"
	grep -q '^FAIL  iommu  ' <<<"$out" || fail "no 'FAIL  iommu' line:
$out"
	grep -A1 '^FAIL  iommu  ' <<<"$out" | grep -q 'fix: .*iommu=pt' || fail "no fix after the iommu line"
	grep -q '"name":"iommu","verdict":"fail","detail":"[^"]*","fix":"[^"]*iommu=pt' <<<"$json" ||
		fail "check --json lacks the iommu failure with its fix: $json"
	groups=$("$vmm" host groups 2>&1)
	[ $? -eq 1 ] || fail "groups exited 0 without IOMMU groups"
	grep -q 'No IOMMU groups: the IOMMU is off' <<<"$groups" || fail "groups did not say the IOMMU is off"
	bdf=$(ls /sys/bus/pci/devices | head -n 1)
	if [ -n "$bdf" ]; then
		# --dry-run: should the refusal ever break, nothing on this machine is touched.
		err=$("$vmm" host bind "$bdf" --dry-run --state /nonexistent/state.json 2>&1 >/dev/null)
		[ $? -eq 1 ] || fail "bind $bdf was not refused"
		grep -q "refusing: it is in no IOMMU group" <<<"$err" || fail "bind $bdf: $err"
		[ ! -e /nonexistent/state.json ] || fail "a refused bind wrote its state"
	fi
else
	echo "this machine has IOMMU groups: expecting check to find the IOMMU ok"
	grep -q '^ok    iommu  ' <<<"$out" || fail "no 'ok    iommu' line:
$out"
fi
printf '%s\n' "$out"
[ "$fails" -eq 0 ] && echo "PASS" || exit 1
