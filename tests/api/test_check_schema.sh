#!/usr/bin/env bash
# tests/api/check_schema.py against Cloud Hypervisor's real API description,
# with small documents written here: valid ones pass ("ok: SCHEMA", exit 0),
# invalid ones fail with one "SCHEMA: JSON-PATH: what" line each (exit 1),
# usage errors exit 2. The spec is read where it lies, never copied; where it
# is not there, SKIP (exit 77).
#
# Usage: test_check_schema.sh [CHECKER]   (from anywhere; finds the tree from its own path)
#   VMM_CH_API_SPEC: the spec (default: ../shared/ref/cloud-hypervisor-api.yaml
#   beside the repository)
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
checker=${1:-$root/tests/api/check_schema.py}
spec=${VMM_CH_API_SPEC:-$root/../shared/ref/cloud-hypervisor-api.yaml}
if [ ! -f "$spec" ]; then
	echo "SKIP: no Cloud Hypervisor API spec at $spec (set VMM_CH_API_SPEC)"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# expect WHAT RC SCHEMA JSON [LINE...]: the checker, JSON on stdin, must exit
# RC and print exactly the LINEs (when any are given) on stdout; its stdout
# is left in $out, its stderr in $tmp/err.
expect() {
	local what=$1 rc=$2 schema=$3 json=$4 got
	shift 4
	out=$("$checker" "$spec" "$schema" - <<<"$json" 2>"$tmp/err")
	got=$?
	if [ "$got" -ne "$rc" ]; then
		fail "$what: exit $got, not $rc; output:"
		sed 's/^/    /' <<<"$out" "$tmp/err"
		return
	fi
	if [ $# -gt 0 ] && [ "$out" != "$(printf '%s\n' "$@")" ]; then
		fail "$what: output"
		printf '    %s\n' "$@"
		echo "  expected; got"
		sed 's/^/    /' <<<"$out"
		return
	fi
	echo "ok $what"
}

# VmmPingResponse: only "version" is required.
expect "ping: version only" 0 VmmPingResponse '{"version": "0.1.0"}' "ok: VmmPingResponse"
expect "ping: every field" 0 VmmPingResponse \
	'{"build_version": "v0.1.0-3-gabc", "version": "0.1.0", "pid": 4242, "features": ["kvm"]}' \
	"ok: VmmPingResponse"
expect "ping: no version" 1 VmmPingResponse '{"build_version": "x", "pid": 1}' \
	"VmmPingResponse: $: 'version' is a required property"
expect "ping: pid as a string, version a number" 1 VmmPingResponse '{"version": 1, "pid": "4242"}' \
	"VmmPingResponse: $.pid: '4242' is not of type 'integer'" \
	"VmmPingResponse: $.version: 1 is not of type 'string'"
expect "ping: a feature not a string" 1 VmmPingResponse '{"version": "0.1.0", "features": ["kvm", 2]}' \
	"VmmPingResponse: $.features[1]: 2 is not of type 'string'"
expect "ping: an array" 1 VmmPingResponse '["0.1.0"]' \
	"VmmPingResponse: $: ['0.1.0'] is not of type 'object'"

# VmInfo: config (VmConfig: payload) and state (a VmState) are required.
expect "info: the least" 0 VmInfo '{"config": {"payload": {}}, "state": "Created"}' "ok: VmInfo"
expect "info: a booted VM" 0 VmInfo '{
	"config": {
		"cpus": {"boot_vcpus": 2, "max_vcpus": 2, "nested": true},
		"memory": {"size": 1073741824, "shared": false, "hugepages": false},
		"payload": {"kernel": "/boot/vmlinuz", "cmdline": "console=ttyS0", "initramfs": "/boot/initrd"},
		"serial": {"mode": "Tty"}, "console": {"mode": "Off"},
		"disks": [{"path": "/var/lib/vm/disk.img", "readonly": false, "id": "_disk0"}],
		"iommu": false
	},
	"state": "Running",
	"memory_actual_size": 1073741824,
	"device_tree": {"_disk0": {"id": "_disk0", "resources": [], "children": [], "pci_bdf": "0000:00:02.0"}}
}' "ok: VmInfo"
expect "info: boot_vcpus a string" 1 VmInfo \
	'{"config": {"cpus": {"boot_vcpus": "x", "max_vcpus": 1}, "payload": {}}, "state": "Running"}' \
	"VmInfo: \$.config.cpus.boot_vcpus: 'x' is not of type 'integer'"
expect "info: no state, no payload" 1 VmInfo '{"config": {"memory": {"size": 1}}}' \
	"VmInfo: $: 'state' is a required property" \
	"VmInfo: \$.config: 'payload' is a required property"
expect "info: a state not in the enum" 1 VmInfo '{"config": {"payload": {}}, "state": "running"}' \
	"VmInfo: \$.state: 'running' is not one of ['Created', 'Running', 'Shutdown', 'Paused', 'BreakPoint']"
expect "info: cpus and memory short of fields" 1 VmInfo \
	'{"config": {"cpus": {"boot_vcpus": 0}, "memory": {"mergeable": false}, "payload": {}}, "state": "Paused"}' \
	"VmInfo: \$.config.cpus: 'max_vcpus' is a required property" \
	"VmInfo: \$.config.cpus.boot_vcpus: 0 is less than the minimum of 1" \
	"VmInfo: \$.config.memory: 'size' is a required property"
expect "info: memory size past int64, a disk path a number" 1 VmInfo \
	'{"config": {"memory": {"size": 9223372036854775808}, "payload": {}, "disks": [{"path": 7}]}, "state": "Shutdown"}' \
	"VmInfo: \$.config.disks[0].path: 7 is not of type 'string'" \
	"VmInfo: \$.config.memory.size: 9223372036854775808 is not a 'int64'"

# VmCounters: an object of objects of integers (device -> counter -> value).
expect "counters: none" 0 VmCounters '{}' "ok: VmCounters"
expect "counters: two devices" 0 VmCounters \
	'{"_disk0": {"read_bytes": 4096, "read_ops": 1, "write_bytes": 0, "write_ops": 0}, "_net1": {"rx_bytes": 60}}' \
	"ok: VmCounters"
expect "counters: a value not an integer" 1 VmCounters '{"_disk0": {"read_bytes": "4096", "read_ops": 1.5}}' \
	"VmCounters: \$._disk0.read_bytes: '4096' is not of type 'integer'" \
	"VmCounters: \$._disk0.read_ops: 1.5 is not of type 'integer'"
expect "counters: a device not an object" 1 VmCounters '{"_disk0": [1, 2]}' \
	"VmCounters: \$._disk0: [1, 2] is not of type 'object'"
expect "counters: a key twice" 1 VmCounters '{"_disk0": {"read_ops": 1, "read_ops": 2}}' \
	"VmCounters: \$._disk0: key 'read_ops' appears more than once"

# Not JSON at all is a failed check; a bad command line a usage error.
expect "not JSON" 1 VmCounters '{"_disk0": {'
grep -qx "VmCounters: \$: not JSON: .*line 2 column 1.*" <<<"$out" || fail "not JSON: $out"
expect "unknown schema" 2 VmInfos '{}'
grep -qF "close names: VmInfo" "$tmp/err" || fail "unknown schema: no close names in: $(cat "$tmp/err")"
out=$("$checker" "$spec" VmInfo 2>/dev/null)
[ $? -eq 2 ] || fail "no FILE: not a usage error"
# A file, not stdin.
printf '{"version": "0.1.0"}' >"$tmp/ping.json"
out=$("$checker" "$spec" VmmPingResponse "$tmp/ping.json")
[ $? -eq 0 ] && [ "$out" = "ok: VmmPingResponse" ] || fail "a file: $out"
out=$("$checker" --list "$spec")
for n in VmmPingResponse VmInfo VmConfig CpusConfig MemoryConfig PayloadConfig VmCounters; do
	grep -qx "$n" <<<"$out" || fail "--list: no $n"
done

[ "$fails" -eq 0 ] || { echo "$fails failed"; exit 1; }
