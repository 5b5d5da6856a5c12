#!/usr/bin/env bash
# tools/boot-default-guest --prepare-only: the guest a new user boots with
# `vmm run` must be where it says, a bzImage and a gzip'd cpio whose /init is
# the lab's agent, and the command line it prints must name both.
#
# Needs Debian's kernel (apt-get download into the lab cache the first time,
# ${VMM_LAB_CACHE:-~/.cache/vmm-lab}/kernel); when that or the lab's tools
# cannot be had here, SKIP (exit 77), never a pass.
#
# Usage: guest_files.sh   (from anywhere; finds the tree from its own path)
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tool=$root/tools/boot-default-guest
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# Arguments first: no kernel needed.
"$tool" --help >"$tmp/help" 2>&1 || fail "--help: exit status $?"
grep -q -- '--prepare-only' "$tmp/help" || fail "--help does not document --prepare-only"
"$tool" --no-such-option >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "an unknown option: exit status $rc (want 2)"

dir=$tmp/guest
(cd "$tmp" && "$tool" --prepare-only --guest-dir guest) >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 77 ]; then
	echo "SKIP: the guest cannot be made here: $(grep 'cannot make the guest' "$tmp/err" | tail -n 1)"
	exit 77
fi
if [ "$rc" -ne 0 ]; then
	fail "--prepare-only: exit status $rc"
	sed 's/^/    /' "$tmp/err" | tail -n 20
	exit 1
fi

# The kernel: a bzImage (boot sector signature, "HdrS" at 0x202).
if [ -s "$dir/vmlinuz" ]; then
	sig=$(dd if="$dir/vmlinuz" bs=1 skip=$((0x202)) count=4 2>/dev/null)
	[ "$sig" = HdrS ] && echo "ok: vmlinuz has HdrS at 0x202" || fail "vmlinuz: '$sig' at 0x202, not HdrS"
	bootsig=$(od -An -tx1 -j $((0x1fe)) -N 2 "$dir/vmlinuz" | tr -d ' ')
	[ "$bootsig" = 55aa ] || fail "vmlinuz: boot signature $bootsig at 0x1fe, not 55aa"
else
	fail "no $dir/vmlinuz"
fi

# The initramfs: gzip, then a cpio with /init (the agent) and busybox.
if [ -s "$dir/initrd.img" ]; then
	magic=$(od -An -tx1 -N 2 "$dir/initrd.img" | tr -d ' ')
	[ "$magic" = 1f8b ] && echo "ok: initrd.img is gzip" || fail "initrd.img: magic $magic, not gzip (1f8b)"
	if gzip -dc "$dir/initrd.img" | cpio -it --quiet >"$tmp/list" 2>"$tmp/cpio-err"; then
		grep -Eqx '(\./)?init' "$tmp/list" && echo "ok: initrd.img holds /init" ||
			fail "initrd.img has no /init"
		grep -Eqx '(\./)?bin/busybox' "$tmp/list" || fail "initrd.img has no /bin/busybox"
		mkdir "$tmp/x"
		(cd "$tmp/x" && gzip -dc "$dir/initrd.img" | cpio -i --quiet -d ./init init 2>/dev/null)
		grep -q 'VMM-AGENT: userspace-start' "$tmp/x/init" 2>/dev/null &&
			echo "ok: its /init is the agent" || fail "initrd.img's /init is not the lab's agent"
	else
		fail "initrd.img is not a gzip'd cpio: $(cat "$tmp/cpio-err")"
	fi
else
	fail "no $dir/initrd.img"
fi

# The command line, relative to where the tool was run (here, $tmp).
want="run --cpus 2 --memory 512M --kernel guest/vmlinuz --initrd guest/initrd.img --cmdline 'console=ttyS0 agent.checks=basic'"
last=$(tail -n 1 "$tmp/out")
case $last in
*"vmm/vmm $want") echo "ok: prints the command line: ${last# }" ;;
*) fail "last line is not the vmm run command line: $last" ;;
esac

[ "$fails" -eq 0 ] && echo "PASS: guest_files" || echo "FAIL: guest_files ($fails)"
[ "$fails" -eq 0 ]
