#!/usr/bin/env bash
# tools/suite_targets.py: what tools/test.sh builds in its sanitizer build
# directories, read here from the build directory that runs this test.
set -uo pipefail
script=$1 build=$2
fails=0
fail() { echo "FAIL $1"; fails=$((fails + 1)); }

out=$(python3 "$script" "$build" threads) || fail "suite threads: exit $?"
grep -qx tests/unit/test_vfio_pci <<<"$out" || fail "threads lacks tests/unit/test_vfio_pci: $out"
grep -qx tests/unit/test_bus <<<"$out" || fail "threads lacks tests/unit/test_bus: $out"
! grep -q test_log <<<"$out" || fail "threads has test_log, which is not in it"
grep -q '^/' <<<"$out" && fail "targets are paths inside the build directory: $out"
# the tests a suite runs through a script (tally's test_tally.sh) build nothing themselves
out=$(python3 "$script" "$build" unit) || fail "suite unit: exit $?"
grep -qx tests/unit/test_log <<<"$out" || fail "unit lacks tests/unit/test_log"
if python3 "$script" "$build" no-such-suite >/dev/null 2>&1; then
	fail "an unknown suite gives targets"
fi
[ "$fails" -eq 0 ] && echo "ok suite_targets"
exit "$fails"
