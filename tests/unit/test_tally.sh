#!/usr/bin/env bash
# tools/tally.py: what tools/test.sh counts. A test whose cases were all
# skipped is a skip, not a pass; failures and meson's own skips count as such.
set -uo pipefail
tally=$1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
fails=0
row() { printf '{"name": "%s", "result": "%s", "stdout": "%s", "stderr": "%s"}\n' "$@" >>"$log"; }

row "vmm:kvm / kvm_exits" OK "" "[====] Synthesis: Tested: 0 | Passing: 0 | Failing: 0 | Crashing: 0 \\n"
row "vmm:unit / bus" OK "" "[====] Synthesis: Tested: 12 | Passing: 12 | Failing: 0 | Crashing: 0 \\n"
row "vmm:unit / pci" OK "" ""
row "vmm:lab / lab-boot" SKIP "SKIP: no qemu-system-x86_64\\n" ""
row "vmm:unit / uart" FAIL "" ""
row "vmm:lab / lab-net" TIMEOUT "" ""

out=$(python3 "$tally" "$log")
check() {
	if grep -qF -- "$2" <<<"$out"; then
		echo "ok $1"
	else
		echo "FAIL $1: no '$2' in:"; sed 's/^/    /' <<<"$out"; fails=$((fails + 1))
	fi
}
check "counts" "$(printf '2 2 2')"
check "all cases skipped is a skip" "SKIPPED vmm:kvm / kvm_exits: all of its cases were skipped"
check "meson's skip keeps its reason" "SKIPPED vmm:lab / lab-boot: SKIP: no qemu-system-x86_64"
[ "$(tail -n 1 <<<"$out")" = "2 2 2" ] || { echo "FAIL last line: $(tail -n 1 <<<"$out")"; fails=$((fails + 1)); }
out=$(python3 "$tally" /nonexistent/testlog.json)
check "a missing log is a failure" "0 1 0"
[ "$fails" -eq 0 ]
