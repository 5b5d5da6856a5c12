#!/usr/bin/env bash
# Runs every test the project has, the way CI does:
#   1. unit and /dev/kvm exit-path tests in a normal build,
#   2. the lab scenarios (real Linux guests under our vmm, see tests/lab/),
#      in the background, and meanwhile, at low CPU priority, one after the
#      other:
#   3. the same as 1 under ASan+UBSan,
#   4. the unit tests of what vCPU threads share (suite threads) under
#      ThreadSanitizer,
#   5. the fuzz targets (tests/fuzz/): every seed once, then each target
#      for 30 s from its seeds.
#   The lab's emulators leave about a fifth of the two cores idle (their
#   guests wait), and that is mostly what 3 to 5 get; they end well before
#   the lab does (tests/lab/README.md, How long).
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

# $1 build dir, $2.. meson setup options; $nice, when set, runs both under
# it; $suites, when set, builds only what those test suites run
# (tools/suite_targets.py), not the whole tree.
run_build() {
	local dir=$1 targets=()
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		${nice:-} meson setup "$dir" "$@" >/dev/null || { echo "FAIL: meson setup $dir"; failed=$((failed + 1)); return 1; }
	fi
	if [ -n "${suites:-}" ]; then
		local list
		# shellcheck disable=SC2086 # one word per suite
		list=$(python3 tools/suite_targets.py "$dir" $suites) ||
			{ echo "FAIL: no targets for suites $suites in $dir"; failed=$((failed + 1)); return 1; }
		mapfile -t targets <<<"$list"
	fi
	${nice:-} ninja -C "$dir" "${targets[@]}" || { echo "FAIL: build in $dir"; failed=$((failed + 1)); return 1; }
}

echo "== unit and /dev/kvm tests =="
built=0
if run_build build; then
	built=1
	meson test -C build --suite unit --suite kvm --suite cli --print-errorlogs
	tally build
fi

lab_pid=
lab_out=
if [ "${VMM_SKIP_LAB:-0}" = 1 ]; then
	echo "SKIPPED lab: VMM_SKIP_LAB=1 was set"
	skipped=$((skipped + 1))
elif [ "$built" = 1 ]; then
	# Two lab hosts at once: each is one emulated CPU, about one core busy
	# (tests/lab/README.md, How long). VMM_LAB_JOBS=1 runs one at a time.
	lab_out=$(mktemp)
	trap '[ -z "$lab_pid" ] || kill "$lab_pid" 2>/dev/null; rm -f "$lab_out"' EXIT
	echo "== lab scenarios: started in the background (follow them in $lab_out) =="
	meson test -C build --suite lab --num-processes "${VMM_LAB_JOBS:-2}" --print-errorlogs \
		>"$lab_out" 2>&1 &
	lab_pid=$!
fi

echo "== the same under ASan+UBSan, at low priority beside the lab =="
# The lab's emulators come first: the build at nice 19, the tests at nice
# 10 (they are short, and a few wait on other processes), with ten times
# the time their timeouts assume.
if nice="nice -n 19" run_build build-asan -Db_sanitize=address,undefined -Db_lundef=false; then
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		nice -n 10 meson test -C build-asan --suite unit --suite kvm --suite cli \
		--timeout-multiplier 10 --print-errorlogs
	tally build-asan
fi

echo "== unit tests of what vCPU threads share, under ThreadSanitizer =="
# clang: gcc refuses to build atomic fences under TSan (-Wtsan). A race
# fails its test (tests/unit/tsan_criterion.c sets halt_on_error=1).
if CC=clang nice="nice -n 19" suites=threads run_build build-tsan -Db_sanitize=thread -Db_lundef=false; then
	nice -n 10 meson test -C build-tsan --no-rebuild --suite threads \
		--timeout-multiplier 10 --print-errorlogs
	tally build-tsan
fi

echo "== fuzz targets: every seed once, then each target for 30 s =="
# A run lasts its 30 s of wall time whatever CPU it gets: last, two at a
# time (meson's default on two cores), while the lab still runs.
if CC=clang nice="nice -n 19" suites="fuzz fuzz-run" run_build build-fuzz -Dfuzz=true \
	-Db_sanitize=address,undefined -Db_lundef=false; then
	nice -n 19 meson test -C build-fuzz --no-rebuild --suite fuzz --suite fuzz-run \
		--timeout-multiplier 3 --print-errorlogs
	tally build-fuzz
fi

if [ -n "$lab_pid" ]; then
	wait "$lab_pid"
	lab_pid=
	echo "== lab scenarios (Linux guests under vmm, inside an emulated host) =="
	cat "$lab_out"
	# meson rewrote testlog.json with just the lab suite, so this counts only those.
	tally build
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
