#!/usr/bin/env bash
# Runs every test the project has, the way CI does:
#   1. unit and /dev/kvm exit-path tests in a normal build,
#   2. the same again under ASan+UBSan,
#   3. the lab scenarios (real Linux guests under our vmm, see tests/lab/).
# A test that could not run is reported as skipped with its reason and is
# never counted as passed. Ends with one line: "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh || exit 1

passed=0 failed=0 skipped=0

# Adds the counts from a meson test log to the totals and lists skips with
# their reason (tools/tally.py: a test whose cases were all skipped is a skip).
tally() {
	local out p f s
	out=$(python3 tools/tally.py "$1/meson-logs/testlog.json")
	sed '$d' <<<"$out"
	read -r p f s <<<"$(tail -n 1 <<<"$out")"
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

# $1 build dir, $2.. meson setup options
run_build() {
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >/dev/null || { echo "FAIL: meson setup $dir"; failed=$((failed + 1)); return 1; }
	fi
	ninja -C "$dir" || { echo "FAIL: build in $dir"; failed=$((failed + 1)); return 1; }
}

echo "== unit and /dev/kvm tests =="
if run_build build; then
	meson test -C build --suite unit --suite kvm --suite cli --print-errorlogs
	tally build
fi

echo "== the same under ASan+UBSan =="
if run_build build-asan -Db_sanitize=address,undefined -Db_lundef=false; then
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C build-asan --suite unit --suite kvm --suite cli --print-errorlogs
	tally build-asan
fi

if [ "${VMM_SKIP_LAB:-0}" = 1 ]; then
	echo "SKIPPED lab: VMM_SKIP_LAB=1 was set"
	skipped=$((skipped + 1))
else
	echo "== lab scenarios (Linux guests under vmm, inside an emulated host) =="
	# Two lab hosts at once: each is one emulated CPU, about one core busy
	# (tests/lab/README.md, How long). VMM_LAB_JOBS=1 runs one at a time.
	meson test -C build --suite lab --num-processes "${VMM_LAB_JOBS:-2}" --print-errorlogs
	# meson rewrote testlog.json with just the lab suite, so this counts only those.
	tally build
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
