#!/usr/bin/env bash
# tests/lab/build-qemu's progress while ninja compiles (its --ninja-progress
# filter, which the build pipes ninja's output through), fed by a fake ninja:
# no QEMU is built. The whole output must reach the log, unchanged, and
# stderr must get a "compiling: N/M steps" line for the first step, at most
# one more per interval, and one for the last step.
#
# Usage: build_qemu_progress.sh   (from anywhere; finds the tree from its own path)
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bq=$root/tests/lab/build-qemu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# fake_ninja STEPS DELAY: ninja's output through a pipe, a line per step,
# with a compiler warning in between.
fake_ninja() {
	local i
	echo "ninja: Entering directory \`build'"
	for ((i = 1; i <= $1; i++)); do
		echo "[$i/$1] Compiling C object libqemu.fa.p/step_$i.c.o"
		[ "$i" -ne 2 ] || echo "../hw/step_2.c:10:5: warning: unused variable 'x'"
		sleep "$2"
	done
}

# Every step with an interval of 0; nothing on stdout; the log is appended to.
echo "an earlier line" >"$tmp/log0"
fake_ninja 5 0 >"$tmp/in0"
"$bq" --ninja-progress "$tmp/log0" 0 <"$tmp/in0" >"$tmp/out0" 2>"$tmp/err0"
rc=$?
[ "$rc" -eq 0 ] || fail "interval 0: exit status $rc"
[ ! -s "$tmp/out0" ] || fail "interval 0: something on stdout: $(cat "$tmp/out0")"
cmp -s <(echo "an earlier line"; cat "$tmp/in0") "$tmp/log0" ||
	fail "interval 0: the log is not the earlier line plus ninja's output"
n=$(grep -c '^build-qemu: compiling: [0-9]*/5 steps ([0-9]*%), [0-9]*s$' "$tmp/err0")
[ "$n" -eq 5 ] && echo "ok: interval 0: a line per step" ||
	{ fail "interval 0: $n progress lines, want 5:"; sed 's/^/    /' "$tmp/err0"; }
grep -qx 'build-qemu: compiling: 5/5 steps (100%), [0-9]*s' "$tmp/err0" ||
	fail "interval 0: no line for the last step"
[ "$(grep -vc '^build-qemu: compiling: ' "$tmp/err0")" -eq 0 ] ||
	fail "interval 0: other lines on stderr: $(grep -v '^build-qemu: compiling: ' "$tmp/err0")"

# 40 steps over about 4 s, an interval of 1 s: the first, about one a
# second, the last; far fewer than a line per step.
# (At most one a second, plus the first and the last; a slow machine
# takes longer than 4 s, so the bound is the time it took.)
t0=$SECONDS
fake_ninja 40 0.1 | "$bq" --ninja-progress "$tmp/log1" 1 2>"$tmp/err1" >/dev/null
rc=$?
took=$((SECONDS - t0))
[ "$rc" -eq 0 ] || fail "interval 1: exit status $rc"
n=$(grep -c '^build-qemu: compiling: ' "$tmp/err1")
if [ "$n" -ge 3 ] && [ "$n" -le $((took + 3)) ]; then
	echo "ok: interval 1: $n progress lines for 40 steps in ${took} s"
else
	fail "interval 1: $n progress lines for 40 steps in ${took} s (want 3 to $((took + 3))):"
	sed 's/^/    /' "$tmp/err1"
fi
head -n 1 "$tmp/err1" | grep -q '^build-qemu: compiling: 1/40 steps (2%), 0s$' ||
	fail "interval 1: the first line is not the first step: $(head -n 1 "$tmp/err1")"
tail -n 1 "$tmp/err1" | grep -q '^build-qemu: compiling: 40/40 steps (100%), [0-9]*s$' ||
	fail "interval 1: the last line is not the last step: $(tail -n 1 "$tmp/err1")"
[ "$(wc -l <"$tmp/log1")" -eq 42 ] || fail "interval 1: the log has $(wc -l <"$tmp/log1") lines, want 42"

# A real ninja, if there is one: its own status lines through a pipe.
if command -v ninja >/dev/null; then
	mkdir "$tmp/nj"
	{
		printf 'rule step\n  command = sleep 0.05 && touch $out\n  description = STEP $out\n'
		for i in 1 2 3 4 5 6; do printf 'build s%d: step\n' "$i"; done
	} >"$tmp/nj/build.ninja"
	ninja -C "$tmp/nj" -j 1 2>&1 | "$bq" --ninja-progress "$tmp/log3" 0 2>"$tmp/err3" >/dev/null
	rc=$?
	n=$(grep -c '^build-qemu: compiling: [1-6]/6 steps' "$tmp/err3")
	[ "$rc" -eq 0 ] && [ "$n" -eq 6 ] && grep -q '^\[6/6\] STEP s' "$tmp/log3" &&
		echo "ok: real ninja: a line per step" ||
		{ fail "real ninja: exit status $rc, $n progress lines (want 6):"; sed 's/^/    /' "$tmp/err3" "$tmp/log3"; }
fi

# The real build must use the filter (not ninja's output straight into the log).
grep -q '^ninja -C .* 2>&1 | ninja_progress ' "$bq" ||
	fail "build-qemu does not pipe ninja through ninja_progress"

# A bad call says how to call it.
"$bq" --ninja-progress >/dev/null 2>"$tmp/err2" </dev/null
rc=$?
[ "$rc" -eq 2 ] && grep -q 'usage' "$tmp/err2" || fail "--ninja-progress without LOG: exit status $rc (want 2, with usage)"

[ "$fails" -eq 0 ] && echo "PASS: build_qemu_progress" || echo "FAIL: build_qemu_progress ($fails)"
[ "$fails" -eq 0 ]
