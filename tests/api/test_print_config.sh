#!/usr/bin/env bash
# vmm run --print-config and --config, as a user runs them: a long command
# line becomes a file that is a Cloud Hypervisor VmConfig (checked against
# the schema of that name in ../shared/ref's API description, where it is),
# the file boots the same VM (printed again, it is the same text), and a
# field of the wrong type is refused in one line that names it.
#
# Usage: test_print_config.sh VMM CHECKER
set -uo pipefail
vmm=$(realpath "$1") checker=$(realpath "$2")
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
spec=${VMM_CH_API_SPEC:-$root/../shared/ref/cloud-hypervisor-api.yaml}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
: >bzImage
: >initrd.img
: >root.img
: >OVMF_CODE.fd
fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

"$vmm" run --cpus 4 --memory 2G,prefault --kernel bzImage --initrd initrd.img \
	--cmdline "console=ttyS0 root=/dev/vda1" --disk path=root.img,direct,serial=root,queues=2 \
	--net tap=tap0,mac=52:54:00:12:34:56,queues=2 --name web --serial file=console.log \
	--shutdown-timeout 30 --print-config >vm.json 2>err || fail "--print-config: $(cat err)"
grep -q "\"kernel\": \"$tmp/bzImage\"" vm.json || fail "paths are not absolute: $(cat vm.json)"
"$vmm" run --config vm.json --print-config >again.json 2>err || fail "--config: $(cat err)"
[ -s vm.json ] && cmp -s vm.json again.json && echo "ok: --config of --print-config's file prints the same file" ||
	fail "the round trip changed the file: $(diff vm.json again.json)"
"$vmm" run --config vm.json --cpus 8 --print-config | grep -q '"boot_vcpus": 8' &&
	echo "ok: --cpus on the command line layers over the file" || fail "--cpus did not layer"

sed 's/"direct": true/"direct": "yes"/' vm.json >bad.json
out=$("$vmm" run --config bad.json 2>&1)
rc=$?
want="vmm: error: --config bad.json: disks[0].direct: expected true or false, got a string (see vmm run --help)"
[ "$rc" = 2 ] && [ "$out" = "$want" ] && echo "ok: a wrong type is refused naming the field" ||
	fail "wrong type: exit $rc, said: $out"

"$vmm" run --firmware OVMF_CODE.fd --vfio 0000:01:00.0,reset=bus,mmap=off --vfio-iommu type1 \
	--pci-mmio64 64G --print-config >gpu.json 2>err || fail "--print-config with --vfio: $(cat err)"
if [ ! -f "$spec" ]; then
	echo "SKIP: no Cloud Hypervisor API spec at $spec: the files are not checked against VmConfig"
	[ "$fails" -eq 0 ] && exit 77
	exit 1
fi
for f in vm.json gpu.json; do
	"$checker" "$spec" VmConfig - <"$f" || fail "$f is not a VmConfig"
done
[ "$fails" -eq 0 ]
