#!/usr/bin/env bash
# Installs every Debian package that the build, the tests and the lab need.
# Safe to run again: it installs only what is missing, and asks apt nothing
# when everything is already there.
set -euo pipefail

packages=(
	gcc pkg-config meson ninja-build
	linux-libc-dev liburing-dev libcriterion-dev
	# the JSON that vmm host and vmm bench write and read (and libjansson.a
	# for the lab's static vmm)
	libjansson-dev
	ovmf qemu-system-x86 busybox-static cpio gzip xz-utils zstd
	procps util-linux
	# tests/lab: a GPT disk image with an EFI system partition (ovmf-disk-boot)
	fdisk mtools
	# tests/lab/build-qemu: the lab emulator for OVMF guests
	dpkg-dev patch python3 libfdt-dev libglib2.0-dev libpixman-1-dev zlib1g-dev
	# tests/lab/edu/build: the guest's edu test module against Debian's kernel
	# headers (the kernel's own compiler, gcc-12; make; objtool links libelf)
	make gcc-12 libelf1
	# tests/lab/build-kernel: a lab host kernel with iommufd, which Debian's
	# kernels lack (the iommufd scenarios)
	flex bison bc libelf-dev perl
	# vmm bench vfio times both VMMs' VFIO ioctls with strace (bench-vfio
	# copies it into the lab host)
	strace
	# vmm bench reset --plot draws the reset times' distribution with gnuplot
	gnuplot-nox
	# tests/api/check_schema.py: API responses against Cloud Hypervisor's OpenAPI spec
	python3-yaml python3-jsonschema
	# the lab drives the API socket with curl (reboot), as a user would
	curl
	# vfio-reset-bus: the guest asserts its root port's Secondary Bus Reset
	# with setpci, as a user would (the lab copies it into the guest)
	pciutils
	# no-root: the TAP an unprivileged vmm uses is made beforehand with
	# iproute2's ip tuntap (the lab copies it into the lab host)
	iproute2
	# tests/fuzz: libFuzzer targets and their short runs in CI, and the
	# ThreadSanitizer build of the threaded unit tests: clang, and its
	# runtime (libFuzzer, ASan, UBSan, TSan), which clang only recommends
	clang libclang-rt-dev
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "setup: all ${#packages[@]} packages already installed"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	sudo=sudo
else
	sudo=
fi
echo "setup: installing ${missing[*]}"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
