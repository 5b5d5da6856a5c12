#!/usr/bin/env bash
# Bad input to `vmm run`: each case must end with a non-zero status, exactly
# one line on stderr that names the thing at fault, no guest started, and
# nothing left behind (no stray processes, no files created).
#
# Usage: bad_input.sh PATH/TO/vmm
set -uo pipefail
vmm=$(realpath "$1")
tmp=$(mktemp -d)
io=$(mktemp -d)
trap 'rm -rf "$tmp" "$io"' EXIT
fails=0

# A file that passes the bzImage header check (boot protocol 2.15, 64-bit
# entry) but holds no kernel, for the cases that must fail later than that.
python3 - "$tmp/fake-bzimage" <<'PY'
import struct, sys
img = bytearray(16 * 1024)
img[0x1f1] = 1                                   # setup_sects
img[0x1fe:0x200] = b"\x55\xaa"
img[0x202:0x206] = b"HdrS"
struct.pack_into("<H", img, 0x206, 0x020f)       # version
img[0x211] = 0x01                                # loadflags: LOADED_HIGH
struct.pack_into("<I", img, 0x22c, 0x7fffffff)   # initrd_addr_max
struct.pack_into("<I", img, 0x230, 0x200000)     # kernel_alignment
img[0x234] = 1                                   # relocatable
struct.pack_into("<H", img, 0x236, 0x1)          # xloadflags: XLF_KERNEL_64
struct.pack_into("<I", img, 0x238, 2048)         # cmdline_size
struct.pack_into("<I", img, 0x260, 0x100000)     # init_size
open(sys.argv[1], "wb").write(img)
PY
echo "this is not a kernel" >"$tmp/text"
printf '{"payload": {"kernel": "k"}, "disks": [{"path": "d", "readonly": "yes"}]}' >"$tmp/bad.json"

# case NAME EXPECTED-PATTERN [env...] -- ARGS...
case_() {
	local name=$1 pattern=$2
	shift 2
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	local before after rc lines
	before=$(ls -A "$tmp")
	(cd "$tmp" && env "${envs[@]}" "$@" >"$io/out" 2>"$io/err" </dev/null)
	rc=$?
	lines=$(wc -l <"$io/err")
	after=$(ls -A "$tmp")
	if [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ]; then
		echo "FAIL $name: exit status $rc (want a clean non-zero exit)"
	elif [ "$lines" -ne 1 ]; then
		echo "FAIL $name: $lines lines on stderr (want one):"; sed 's/^/    /' "$io/err"
	elif ! grep -q -- "$pattern" "$io/err"; then
		echo "FAIL $name: stderr does not name '$pattern':"; sed 's/^/    /' "$io/err"
	elif [ -s "$io/out" ]; then
		echo "FAIL $name: something reached stdout (a guest ran?)"
	elif [ "$before" != "$after" ]; then
		echo "FAIL $name: files left behind in the working directory: $after"
	else
		echo "ok $name: $(cat "$io/err")"
		return 0
	fi
	fails=$((fails + 1))
}

case_ "missing kernel" "--kernel $tmp/nope" -- "$vmm" run --kernel "$tmp/nope"
case_ "not a bzImage" "not a bzImage" -- "$vmm" run --kernel "$tmp/text"
case_ "kernel is a directory" "--kernel $tmp" -- "$vmm" run --kernel "$tmp"
case_ "missing initrd" "--initrd $tmp/nope" -- "$vmm" run --kernel "$tmp/fake-bzimage" --initrd "$tmp/nope"
case_ "memory 0" "--memory 0" -- "$vmm" run --kernel "$tmp/fake-bzimage" --memory 0
case_ "no payload, no API" "--kernel FILE or --firmware FILE" -- "$vmm" run --cpus 2
case_ "VM options with the API alone" "run: --cpus: with --api-socket and no --kernel" -- \
	"$vmm" run --api-socket "$io/api.sock" --cpus 2
case_ "config of the wrong type" "disks\[0\].readonly: expected true or false" -- \
	"$vmm" run --config "$tmp/bad.json"
case_ "memory beyond the host" "--memory 64T" -- "$vmm" run --kernel "$tmp/fake-bzimage" --memory 64T
case_ "memory not a size" "--memory lots" -- "$vmm" run --kernel "$tmp/fake-bzimage" --memory lots
case_ "cpus 0" "--cpus 0" -- "$vmm" run --kernel "$tmp/fake-bzimage" --cpus 0
case_ "cpus not a number" "--cpus two" -- "$vmm" run --kernel "$tmp/fake-bzimage" --cpus two
case_ "no kernel option" "--kernel" -- "$vmm" run
case_ "unknown option" "bogus" -- "$vmm" run --bogus
case_ "no such user" "--user nosuchuser-vmm: no such user in /etc/passwd" -- \
	"$vmm" run --kernel "$tmp/fake-bzimage" --user nosuchuser-vmm
case_ "user root" "--user root: that is root" -- "$vmm" run --kernel "$tmp/fake-bzimage" --user root
case_ "user not numbers" "--user 1000:staff: expected a name, or UID\[:GID\]" -- \
	"$vmm" run --kernel "$tmp/fake-bzimage" --user 1000:staff
case_ "serial not a mode" "--serial nowhere" -- "$vmm" run --kernel "$tmp/fake-bzimage" --serial nowhere
case_ "option without its value" "--cpus needs a value" -- "$vmm" run --kernel "$tmp/fake-bzimage" --cpus
# Firmware boots: fake CODE and VARS images (flash-sized, not firmware) in a
# directory of their own, so that the cases below that leave the working
# directory alone can be told from those that do not.
fw=$(mktemp -d)
trap 'rm -rf "$tmp" "$io" "$fw"' EXIT
head -c 65536 /dev/zero >"$fw/FAKE_CODE.fd"
head -c 65536 /dev/zero >"$fw/FAKE_VARS.fd"
head -c 65536 /dev/zero >"$fw/firmware.bin"
case_ "vars without firmware" "--vars $fw/FAKE_VARS.fd" -- "$vmm" run --kernel "$tmp/fake-bzimage" --vars "$fw/FAKE_VARS.fd"
case_ "pci-mmio64 without firmware" "--pci-mmio64" -- "$vmm" run --kernel "$tmp/fake-bzimage" --pci-mmio64 64G
case_ "initrd without kernel" "--initrd" -- "$vmm" run --firmware "$fw/FAKE_CODE.fd" --initrd "$tmp/text"
case_ "missing firmware" "--firmware $tmp/nope" -- "$vmm" run --firmware "$tmp/nope" --vars "$fw/FAKE_VARS.fd"
case_ "firmware not flash-sized" "--firmware $tmp/text" -- "$vmm" run --firmware "$tmp/text" --vars "$fw/FAKE_VARS.fd"
case_ "no VARS template by the firmware" "give --vars FILE" HOME="$io" -- "$vmm" run --firmware "$fw/firmware.bin"
head -c 8192 /dev/zero >"$fw/short-vars.fd"
case_ "VARS of another size than the template" "--vars $fw/short-vars.fd: 8192 bytes" -- "$vmm" run --firmware "$fw/FAKE_CODE.fd" --vars "$fw/short-vars.fd"
case_ "name with a slash" "--name a/b" -- "$vmm" run --firmware "$fw/FAKE_CODE.fd" --name a/b
case_ "pci-mmio64 too small" "--pci-mmio64 1M" -- "$vmm" run --firmware "$fw/FAKE_CODE.fd" --pci-mmio64 1M
# Windows no x86-64 guest can address: 2^63 (base + size wrapped to 0),
# 2^64 - 1 MiB (rounded up to 1 GiB: 0), and 2^51 + 1 MiB, which the
# firmware would align to 2^51 and end past 2^52, the widest physical address.
case_ "pci-mmio64 2^63" "--pci-mmio64 8388608T" -- "$vmm" run --firmware "$fw/FAKE_CODE.fd" --pci-mmio64 8388608T
case_ "pci-mmio64 near 2^64" "--pci-mmio64 17592186044415M" -- "$vmm" run --firmware "$fw/FAKE_CODE.fd" --pci-mmio64 17592186044415M
case_ "pci-mmio64 past 52 bits" "--pci-mmio64 2147483649M" -- "$vmm" run --firmware "$fw/FAKE_CODE.fd" --pci-mmio64 2147483649M
# --hotplug-reserve: each refusal names the key and the value at fault.
case_ "hotplug-reserve without firmware" "--hotplug-reserve" -- "$vmm" run --kernel "$tmp/fake-bzimage" --hotplug-reserve pref64=1G
case_ "hotplug-reserve unknown key" "pref32: not a key" -- "$vmm" run --firmware "$fw/FAKE_CODE.fd" --hotplug-reserve mem=8M,pref32=8M
case_ "hotplug-reserve not a size" "pref64=lots is not a size" -- "$vmm" run --firmware "$fw/FAKE_CODE.fd" --hotplug-reserve pref64=lots
case_ "hotplug-reserve io not a 4K granule" "io=6K: not 0, 4K or 8K" -- "$vmm" run --firmware "$fw/FAKE_CODE.fd" --hotplug-reserve io=6K
case_ "hotplug-reserve mem past the 32-bit window's share" "mem=256M: not 0 or a power of two from 1M to 128M" -- "$vmm" run --firmware "$fw/FAKE_CODE.fd" --hotplug-reserve mem=256M
case_ "hotplug-reserve pref64 not a power of two" "pref64=24G: not 0 or a power of two" -- "$vmm" run --firmware "$fw/FAKE_CODE.fd" --hotplug-reserve pref64=24G
case_ "hotplug-reserve pref64 past 64T" "pref64=128T" -- "$vmm" run --firmware "$fw/FAKE_CODE.fd" --hotplug-reserve pref64=128T
# hold_lock FILE: another process takes FILE's lock (as a running VMM
# holds its disk and VARS) and keeps it 30 s; returns once it is held (a
# fixed sleep was not enough on a loaded machine). Sets $holder.
hold_lock() {
	local i=0
	flock -x "$1" sleep 30 &
	holder=$!
	while flock -n "$1" true 2>/dev/null && [ "$i" -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
}

# VARS that another VMM holds: refused by name, before the guest starts.
hold_lock "$fw/FAKE_VARS.fd"
case_ "vars in use" "--vars $fw/FAKE_VARS.fd: in use by another process" -- \
	"$vmm" run --firmware "$fw/FAKE_CODE.fd" --vars "$fw/FAKE_VARS.fd" --memory 64M
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null

# Disks and NICs: the option's text, then what the device says.
case_ "disk without path" "--disk readonly" -- "$vmm" run --kernel "$tmp/fake-bzimage" --disk readonly
case_ "disk with an unknown key" "--disk path=x,cache=none" -- "$vmm" run --kernel "$tmp/fake-bzimage" --disk path=x,cache=none
case_ "disk queues 0" "--disk path=x,queues=0" -- "$vmm" run --kernel "$tmp/fake-bzimage" --disk path=x,queues=0
case_ "net without tap" "--net mac=52:54:00:12:34:56" -- "$vmm" run --kernel "$tmp/fake-bzimage" --net mac=52:54:00:12:34:56
case_ "net multicast mac" "--net tap=t0,mac=01:00:5e:00:00:01" -- "$vmm" run --kernel "$tmp/fake-bzimage" --net tap=t0,mac=01:00:5e:00:00:01
case_ "net tap name too long" "--net tap=abcdefghijklmnopq" -- "$vmm" run --kernel "$tmp/fake-bzimage" --net tap=abcdefghijklmnopq
# Checked before /dev/kvm is opened: the same answer on a host without KVM.
if true; then
	case_ "disk image missing" "--disk $tmp/nope.img" -- \
		"$vmm" run --kernel "$tmp/fake-bzimage" --memory 64M --disk path="$tmp/nope.img"
	head -c 1000 /dev/zero >"$fw/odd.img"
	case_ "disk image not whole sectors" "--disk $fw/odd.img" -- \
		"$vmm" run --kernel "$tmp/fake-bzimage" --memory 64M --disk path="$fw/odd.img"
	head -c 1048576 /dev/zero >"$fw/disk.img"
	hold_lock "$fw/disk.img"
	case_ "disk image in use" "--disk $fw/disk.img: in use by another process" -- \
		"$vmm" run --kernel "$tmp/fake-bzimage" --memory 64M --disk path="$fw/disk.img"
	kill "$holder" 2>/dev/null
	wait "$holder" 2>/dev/null
fi

# --vfio: refused before anything is made (no VARS copy, no VM).
case_ "vfio without firmware" "--vfio 0000:01:00.0: needs --firmware" -- \
	"$vmm" run --kernel "$tmp/fake-bzimage" --vfio 0000:01:00.0
case_ "vfio not an address" "--vfio 1:2:3: expected a PCI address" -- \
	"$vmm" run --kernel "$tmp/fake-bzimage" --vfio 1:2:3
case_ "hv vendor too long" "--hv-vendor-id 1234567890abc: takes 1 to 12" -- \
	"$vmm" run --kernel "$tmp/fake-bzimage" --hv-vendor-id 1234567890abc
case_ "hv vendor empty" "--hv-vendor-id : takes 1 to 12" -- \
	"$vmm" run --kernel "$tmp/fake-bzimage" --hv-vendor-id ""
case_ "shutdown timeout not a number" "--shutdown-timeout 1m: takes whole seconds" -- \
	"$vmm" run --kernel "$tmp/fake-bzimage" --shutdown-timeout 1m
case_ "shutdown timeout negative" "--shutdown-timeout -1: takes whole seconds" -- \
	"$vmm" run --kernel "$tmp/fake-bzimage" --shutdown-timeout -1
case_ "shutdown timeout over a day" "--shutdown-timeout 86401: takes whole seconds, 0 to 86400" -- \
	"$vmm" run --kernel "$tmp/fake-bzimage" --shutdown-timeout 86401
case_ "vfio unknown reset" "reset= takes auto, flr, pm, bus or none" -- \
	"$vmm" run --kernel "$tmp/fake-bzimage" --vfio 0000:01:00.0,reset=warm
case_ "vfio unknown option" "romfile=x: expected BDF" -- \
	"$vmm" run --kernel "$tmp/fake-bzimage" --vfio 0000:01:00.0,romfile=x
case_ "vfio mmap neither on nor off" "mmap=no: expected BDF.*\\[,mmap=off\\]" -- \
	"$vmm" run --kernel "$tmp/fake-bzimage" --vfio 0000:01:00.0,mmap=no
case_ "vfio error neither stop nor log" "error=halt: expected BDF.*\\[,error=stop|log\\]" -- \
	"$vmm" run --kernel "$tmp/fake-bzimage" --vfio 0000:01:00.0,error=halt
case_ "bench vfio without a device" "vfio needs --vfio BDF" -- \
	"$vmm" bench vfio --kernel "$tmp/fake-bzimage" --initrd "$tmp/fake-bzimage"
case_ "bench vfio not an address" "--vfio 0000:01:00.0,x=1: expected a PCI address" -- \
	"$vmm" bench vfio --vfio 0000:01:00.0,x=1 --firmware /nonexistent/CODE.fd --vars /dev/null \
	--kernel "$tmp/fake-bzimage" --initrd "$tmp/fake-bzimage"
case_ "bench vfio pages" "--pages: '1g' is not 4k or 2m" -- \
	"$vmm" bench vfio --vfio 0000:01:00.0 --firmware /nonexistent/CODE.fd --vars /dev/null \
	--kernel "$tmp/fake-bzimage" --initrd "$tmp/fake-bzimage" --pages 1g
case_ "vfio-iommu unknown" "--vfio-iommu vfio: is auto, type1 or iommufd" -- \
	"$vmm" run --kernel "$tmp/fake-bzimage" --vfio-iommu vfio
if [ -r /usr/share/OVMF/OVMF_CODE_4M.fd ]; then
	case_ "vfio of an absent device" "--vfio 0000:7f:1f.7: no such PCI device" \
		XDG_STATE_HOME="$tmp/state-never-made" -- \
		"$vmm" run --firmware /usr/share/OVMF/OVMF_CODE_4M.fd --vfio 0000:7f:1f.7
	case_ "vfio rom file missing" "--vfio 0000:7f:1f.7,rom=$tmp/no.rom: No such file" \
		XDG_STATE_HOME="$tmp/state-never-made" -- \
		"$vmm" run --firmware /usr/share/OVMF/OVMF_CODE_4M.fd --vfio 0000:7f:1f.7,rom=$tmp/no.rom
	: >"$tmp/empty.rom"
	case_ "vfio rom file empty" "rom=$tmp/empty.rom: empty" \
		XDG_STATE_HOME="$tmp/state-never-made" -- \
		"$vmm" run --firmware /usr/share/OVMF/OVMF_CODE_4M.fd --vfio 0000:7f:1f.7,rom=$tmp/empty.rom
else
	echo "SKIP vfio of an absent device: no /usr/share/OVMF/OVMF_CODE_4M.fd (tools/setup.sh installs ovmf)"
fi

# vmm bench: each mistake is named before anything runs.
case_ "bench without a benchmark" "boot, blk, net, vfio or reset" -- "$vmm" bench
case_ "bench of an unknown kind" "no benchmark 'disk'" -- "$vmm" bench disk --kernel k
case_ "bench blk without --disk" "blk needs --disk" -- "$vmm" bench blk --kernel k --initrd i
case_ "bench net without --initrd" "net needs --initrd" -- "$vmm" bench net --kernel k
case_ "bench boot with --disk" "--disk only with blk" -- "$vmm" bench boot --kernel k --disk d
case_ "bench net with --firmware" "--firmware only with boot" -- \
	"$vmm" bench net --kernel k --initrd i --firmware f
case_ "bench seconds 0" "--seconds must be a number from 1 to 600" -- \
	"$vmm" bench blk --kernel k --initrd i --disk d --seconds 0
case_ "bench option without value" "no value for '--tap'" -- \
	"$vmm" bench net --kernel k --initrd i --tap
# vmm bench reset: the command line is checked before VFIO is opened.
case_ "bench reset without a device" "bench reset: which function? give its PCI address" -- \
	"$vmm" bench reset --cycles 10
case_ "bench reset not an address" "'01:00' is not a PCI address" -- "$vmm" bench reset 01:00
case_ "bench reset cycles 0" "--cycles must be a number from 1 to 100000, not '0'" -- \
	"$vmm" bench reset 0000:01:00.0 --cycles 0
case_ "bench reset cycles not a number" "--cycles must be a number from 1 to 100000, not 'ten'" -- \
	"$vmm" bench reset 0000:01:00.0 --cycles ten
case_ "bench reset unknown method" "--method 'sbr': flr, pm, bus or all" -- \
	"$vmm" bench reset 0000:01:00.0 --method sbr
case_ "bench reset bad probe" "--probe 'bar0+0x2=1': offset 0x2 is not a multiple of 4" -- \
	"$vmm" bench reset 0000:01:00.0 --probe bar0+0x2=1
case_ "bench reset plot format" "--plot out.pdf: the name ends in .svg or .png" -- \
	"$vmm" bench reset 0000:01:00.0 --plot out.pdf
case_ "bench reset plot without gnuplot" "--plot needs gnuplot, which is not installed" \
	PATH=/nonexistent -- "$vmm" bench reset 0000:01:00.0 --plot out.svg
case_ "bench reset unknown option" "unknown option '--runs'" -- \
	"$vmm" bench reset 0000:01:00.0 --runs 3
case_ "bench reset absent device" "0000:7f:1f.7: no such PCI device" -- \
	"$vmm" bench reset 0000:7f:1f.7

# Every file the command line names is checked before /dev/kvm is opened,
# so these get the same answer on a host with KVM and on one without.
case_ "serial file in a missing directory" "--serial file=$tmp/no/such/dir: No such file" -- \
	"$vmm" run --kernel "$tmp/fake-bzimage" --memory 64M --serial "file=$tmp/no/such/dir"
case_ "serial file is a directory" "--serial file=$tmp: is a directory" -- \
	"$vmm" run --kernel "$tmp/fake-bzimage" --memory 64M --serial "file=$tmp"
case_ "memory too small for the kernel" "--memory 1M: too little guest RAM for --kernel" -- \
	"$vmm" run --kernel "$tmp/fake-bzimage" --memory 1
case_ "firmware missing, no vars" "--firmware $tmp/nope.fd: No such file" -- \
	"$vmm" run --firmware "$tmp/nope.fd"
case_ "vars not flash" "--vars $tmp/text: size 21 bytes is not a multiple" -- \
	"$vmm" run --firmware "$fw/FAKE_CODE.fd" --vars "$tmp/text"

# /dev/kvm missing and not permitted, without touching the real one: a
# private mount namespace with an empty /dev, and a user without access.
# The answer points to vmm host check. A firmware run that cannot start makes
# no private VARS copy: case_ fails on anything new in $tmp, the state dir here.
if unshare -m true 2>/dev/null; then
	case_ "no /dev/kvm" "/dev/kvm: no such device: .*'vmm host check' says why" -- unshare -m sh -c \
		'mount -t tmpfs none /dev && exec "$0" run --kernel "$1"' "$vmm" "$tmp/fake-bzimage"
	if [ -r /usr/share/OVMF/OVMF_CODE_4M.fd ]; then
		case_ "no /dev/kvm, no VARS copy made" "/dev/kvm: no such device" \
			XDG_STATE_HOME="$tmp/state" -- unshare -m sh -c \
			'mount -t tmpfs none /dev && exec "$0" run --firmware "$1"' "$vmm" \
			/usr/share/OVMF/OVMF_CODE_4M.fd
	else
		echo "SKIP no /dev/kvm, no VARS copy made: no /usr/share/OVMF/OVMF_CODE_4M.fd (tools/setup.sh installs ovmf)"
	fi
else
	echo "SKIP no /dev/kvm: cannot make a mount namespace here (not root?)"
fi
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && [ -e /dev/kvm ] &&
	! setpriv --reuid=65534 --regid=65534 --clear-groups test -w /dev/kvm; then
	chmod 755 "$tmp"; chmod 644 "$tmp/fake-bzimage"
	case_ "no permission on /dev/kvm" "/dev/kvm: permission denied" -- \
		setpriv --reuid=65534 --regid=65534 --clear-groups "$vmm" run --kernel "$tmp/fake-bzimage"
else
	echo "SKIP no permission on /dev/kvm: needs root, setpriv and a /dev/kvm that nobody cannot open"
fi

if [ "$fails" -ne 0 ]; then
	echo "$fails case(s) failed"
	exit 1
fi
