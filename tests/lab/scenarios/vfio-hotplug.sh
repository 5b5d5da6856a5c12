# PCIe hot-plug of passed-through functions (issue 17, acceptance 3 and 4).
# The lab host has edu at 00:06.0 (bound to vfio-pci with vmm host bind)
# and, for a refusal, a two-function slot: edu at 00:05.0 put on vfio-pci
# by hand beside an NVMe controller at 00:05.1 left on the host's nvme
# driver, so 05.0's IOMMU group is not viable.
#
# The vmm starts with no --vfio at all, under OVMF, with its API socket
# and a virtio disk (vm.info's device_tree lists it beside the edu);
# the guest (agent check hotplug) loads vmm_edu and waits. Then:
#  - vm.add-device of 05.0 is refused with a 4xx and the very words
#    --vfio 0000:00:05.0 says of it; the guest runs on;
#  - VMM_LAB_HOTPLUG_CYCLES times (10 by hand, 3 in CI): vm.add-device of
#    06.0 (200, an id and a guest BDF), the guest's pciehp sees it and
#    vmm_edu runs MSI and DMA through it; vmm ctl remove-device (through
#    vm.remove-device), the guest
#    lets go after the attention button, and vm.info's device_tree is
#    empty again. Each time the device is out, the vmm holds the same
#    number of fds as before the first add and no pinned guest RAM
#    (VmLck and VmPin 0: the container went with the last device); each
#    time it is in, the same fds and pinned memory as the first time;
#  - once more added, and removed while the VM is paused, so the guest
#    cannot let go: 20 s after the button the vmm pulls it out (surprise
#    removal), releasing everything as before; resumed, the guest's pciehp
#    sees the link down and drops the device;
#  - once more added, then unbound from vfio-pci on the lab host: the vmm
#    gets VFIO's request (REQ), removes it from the guest, and the unbind
#    completes; the device ends on no driver.
# The guest then powers off, and the vmm exits 0.

nvme_img=$lab_work/nvme.img
lab_needs_ovmf=1
lab_needs_edu=1
lab_modules+=("${lab_host_driver_modules[@]}")
lab_qemu_args=(-device edu,addr=05.0,multifunction=on
	-drive "file=$nvme_img,format=raw,if=none,id=labnvme"
	-device nvme,addr=05.1,serial=vmmlab,drive=labnvme
	-device edu,addr=06.0)
cycles=${VMM_LAB_HOTPLUG_CYCLES:-10}
# One boot (about 60 s), then about 7 s a cycle in the lab (89 s for 3),
# and 20 s more for the surprise removal.
lab_timeout=$((900 + (cycles + 2) * 60))
guest_checks=hotplug
guest_cmdline="agent.hotplug_cycles=$((cycles + 2))"
lab_vars=("CYCLES=$cycles")
lab_host_files() {
	head -c 1048576 /dev/zero >"$nvme_img" || { lab_fail "cannot write $nvme_img"; return 1; }
	lab_install_program "$(command -v curl)" "$1" /usr/bin/curl ||
		{ lab_fail "no curl to copy into the lab host (tools/setup.sh installs it)"; return 1; }
}
lab_script='
API=/tmp/api.sock
EDU=0000:00:06.0
# api METHOD ENDPOINT [BODY]: the body to /tmp/api.out, the HTTP status on stdout.
api() {
	curl -s -o /tmp/api.out -w "%{http_code}" --unix-socket $API -X "$1" \
		${3:+-H "Content-Type: application/json" -d "$3"} "http://localhost/api/v1/$2"
}
# add_edu: vm.add-device of edu, the HTTP status on stdout and the answer in
# /tmp/api.out. ADD_BY=cdev (vfio-hotplug-iommufd): vmm ctl opens the
# device cdev and hands the fd over (SCM_RIGHTS), no path sent.
# A slot the guest has not switched off yet (it is still tearing down the
# device a surprise removal took) is refused with 503: tried again.
add_edu_once() {
	if [ "${ADD_BY:-path}" = cdev ]; then
		if "$VMM" ctl --api-socket $API --json add-device \
			/dev/vfio/devices/$(ls /sys/bus/pci/devices/$EDU/vfio-dev) >/tmp/api.out 2>/tmp/ctl.err; then
			echo 200
		else
			cat /tmp/ctl.err >&2
			grep -q "(HTTP 503)" /tmp/ctl.err && echo 503 || echo 400
		fi
	else
		api PUT vm.add-device "{\"path\":\"/sys/bus/pci/devices/$EDU/\"}"
	fi
}
add_edu() {
	n=0
	while st=$(add_edu_once) && [ "$st" = 503 ] && [ $n -lt 60 ]; do
		lab "note: vm.add-device: 503, again in 0.5 s"
		sleep 0.5
		n=$((n + 1))
	done
	echo "$st"
}
vmm_fds() {
	ls /proc/$pid/fd | wc -l
}
# Guest RAM pinned for DMA, in kB: type1 counts it in VmLck, iommufd in VmPin.
vmm_lck() {
	awk "/^Vm(Lck|Pin):/ { s += \$2 } END { print s + 0 }" /proc/$pid/status
}
# The slot for the refusal (not in vfio-hotplug-iommufd, whose kernel has no nvme).
NOT_VIABLE=
if [ -e /sys/bus/pci/devices/0000:00:05.1 ]; then
	NOT_VIABLE=0000:00:05.0
	echo vfio-pci >/sys/bus/pci/devices/$NOT_VIABLE/driver_override
	echo $NOT_VIABLE >/sys/bus/pci/drivers_probe
fi
"$VMM" host bind $EDU >/tmp/bind.log 2>&1 && lab edu_bound=1
cat /tmp/bind.log
cp /usr/share/OVMF/OVMF_VARS_4M.fd /tmp/vars.fd
cp /usr/share/OVMF/OVMF_VARS_4M.fd /tmp/vars2.fd
# What --vfio says of the group that is not viable: the API must say the same.
if [ -n "$NOT_VIABLE" ]; then
	"$VMM" run --memory 512M --firmware /usr/share/OVMF/OVMF_CODE_4M.fd --vars /tmp/vars2.fd \
		--vfio $NOT_VIABLE --kernel "$GUEST_KERNEL" </dev/null >/dev/null 2>/tmp/cli.err
	cat /tmp/cli.err
	cli_why=$(sed -n "s/^vmm: error: --vfio //p" /tmp/cli.err | head -n 1)
fi
head -c 1048576 /dev/zero >/tmp/disk.img
vm() {
	exec "$VMM" run -v --cpus 1 --memory 512M --firmware /usr/share/OVMF/OVMF_CODE_4M.fd \
		--vars /tmp/vars.fd --api-socket $API --disk path=/tmp/disk.img --kernel "$GUEST_KERNEL" \
		--initrd "$GUEST_INITRD" --cmdline "$GUEST_CMDLINE" </dev/null >/tmp/guest.log 2>/tmp/vmm.err
}
vm &
pid=$!
if wait_line /tmp/guest.log "VMM-AGENT: hotplug_ready=1" $pid 400; then
	fds_out0=$(vmm_fds)
	lck_out0=$(vmm_lck)
	if [ -n "$NOT_VIABLE" ]; then
		lab "refused_status=$(api PUT vm.add-device "{\"path\":\"/sys/bus/pci/devices/$NOT_VIABLE/\"}")"
		cat /tmp/api.out; echo
		[ -n "$cli_why" ] && grep -qF "$cli_why" /tmp/api.out && lab refused_same_words=1
	fi
	fds_in= lck_in= fds_out= lck_out= ok=0
	i=1
	while [ "$i" -le "$CYCLES" ]; do
		st=$(add_edu)
		cat /tmp/api.out; echo
		[ "$st" = 200 ] || { lab "add_status_$i=$st"; break; }
		id=$(sed -n "s/.*\"id\":\"\([^\"]*\)\".*/\1/p" /tmp/api.out)
		[ "$i" = 1 ] && lab "add_body=$(tr -d "\n" </tmp/api.out)"
		wait_line /tmp/guest.log "VMM-AGENT: hp${i}_done=1" $pid 300 || break
		[ "$i" = 1 ] && api GET vm.info >/dev/null && lab "info_in_body=$(tr -d "\n" </tmp/api.out)"
		fds_in="$fds_in $(vmm_fds)"
		lck_in="$lck_in $(vmm_lck)"
		# Removed as a person would: vmm ctl (vm.remove-device, 204).
		"$VMM" ctl --api-socket $API remove-device "$id" || { lab "remove_failed_$i=1"; break; }
		wait_line /tmp/guest.log "VMM-AGENT: hp${i}_gone=1" $pid 120 || break
		# The vmm releases it once the guest switched the slot off.
		n=0
		while api GET vm.info >/dev/null && grep -q "\"$id\"" /tmp/api.out && [ $n -lt 300 ]; do
			sleep 0.1
			n=$((n + 1))
		done
		grep -q "\"$id\"" /tmp/api.out && { lab "still_listed_$i=1"; break; }
		fds_out="$fds_out $(vmm_fds)"
		lck_out="$lck_out $(vmm_lck)"
		ok=$i
		i=$((i + 1))
	done
	lab "cycles_ok=$ok"
	lab "fds_out0=$fds_out0"
	lab "lck_out0=$lck_out0"
	lab "fds_in_each=$(echo $fds_in | tr " " "\n" | sort -u | tr "\n" " " | sed "s/ $//")"
	lab "lck_in_each=$(echo $lck_in | tr " " "\n" | sort -u | tr "\n" " " | sed "s/ $//")"
	lab "fds_out_each=$(echo $fds_out | tr " " "\n" | sort -u | tr "\n" " " | sed "s/ $//")"
	lab "lck_out_each=$(echo $lck_out | tr " " "\n" | sort -u | tr "\n" " " | sed "s/ $//")"
	# A guest that cannot let go (paused): pulled out 20 s after the
	# button; resumed, its pciehp sees the link go down and drops it.
	i=$((CYCLES + 1))
	if [ "$(add_edu)" = 200 ] &&
		wait_line /tmp/guest.log "VMM-AGENT: hp${i}_done=1" $pid 300; then
		id=$(sed -n "s/.*\"id\":\"\([^\"]*\)\".*/\1/p" /tmp/api.out)
		api PUT vm.pause >/dev/null
		t0=$(uptime_s)
		"$VMM" ctl --api-socket $API remove-device "$id" >/dev/null
		wait_line /tmp/vmm.err "vfio $EDU ($id): the guest did not let go within 20 s" $pid 60 &&
			lab surprise_logged=1
		lab "surprise_seconds=$(awk -v a="$t0" -v b="$(uptime_s)" "BEGIN { printf \"%.0f\", b - a }")"
		api GET vm.info >/dev/null
		grep -q "\"$id\"" /tmp/api.out || lab surprise_unlisted=1
		lab "surprise_fds=$(vmm_fds)"
		lab "surprise_lck=$(vmm_lck)"
		api PUT vm.resume >/dev/null
		wait_line /tmp/guest.log "VMM-AGENT: hp${i}_gone=1" $pid 120 && lab surprise_guest_gone=1
	fi
	# The host takes the device back while the guest has it.
	i=$((CYCLES + 2))
	if [ "$(add_edu)" = 200 ] &&
		wait_line /tmp/guest.log "VMM-AGENT: hp${i}_done=1" $pid 300; then
		t0=$(uptime_s)
		timeout 120 sh -c "echo $EDU >/sys/bus/pci/drivers/vfio-pci/unbind" && lab unbind_done=1
		lab "unbind_seconds=$(awk -v a="$t0" -v b="$(uptime_s)" "BEGIN { printf \"%.1f\", b - a }")"
		wait_line /tmp/guest.log "VMM-AGENT: hp${i}_gone=1" $pid 60 && lab unbind_guest_gone=1
		lab "unbind_driver_after=$(basename "$(readlink /sys/bus/pci/devices/$EDU/driver)" 2>/dev/null)"
	fi
	grep -q "vfio $EDU (.*): the host asks for the device back" /tmp/vmm.err && lab req_logged=1
	lab "iommu_used=$(sed -n "s/^vmm: info: vfio: \([a-z0-9]*\): .*/\1/p" /tmp/vmm.err | sort -u | tr "\n" " " | sed "s/ $//")"
	lab "fd_adds=$(grep -c "vm.add-device: the fd passed is vfio[0-9]*, the VFIO cdev of $EDU" /tmp/vmm.err)"
	lab "released_lines=$(grep -c "vfio $EDU (.*): the guest let go .* s after the attention button" /tmp/vmm.err)"
fi
wait_exit $pid vmm 300
grep "^VMM-AGENT: [a-z0-9_]*=" /tmp/guest.log
grep -v "^VMM-AGENT: " /tmp/guest.log | tail -n 30
grep "VMM-AGENT: note:" /tmp/guest.log | tail -n 15
tail -n 60 /tmp/vmm.err
'

scenario_check() {
	expect lab refused_status = 400
	expect lab refused_same_words -eq 1
	expect lab iommu_used = type1
	expect lab fd_adds -eq 0
	hotplug_checks
}

# What both this scenario and vfio-hotplug-iommufd check.
hotplug_checks() {
	local n=${VMM_LAB_HOTPLUG_CYCLES:-10} i
	expect lab edu_bound -eq 1
	[ -z "${agent[hotplug_error]:-}" ] || fail "the guest: ${agent[hotplug_error]}"
	expect agent hotplug_ready -eq 1
	expect agent hotplug_slots =~ '[0-9]'
	schema_check add PciDeviceInfo
	schema_check info_in VmInfo
	expect lab info_in_body =~ '"type":"bar","index":0,"io":false,"guest_address":[1-9][0-9]*,"size":1048576,"mapping":"memslot"'
	expect lab info_in_body =~ '"disk0":\{"id":"disk0","pci_bdf":"0000:00:08.0","resources":\[\{"type":"virtio","device":"virtio-blk","backend":"/tmp/disk.img"\},\{"type":"bar","index":4,"io":false,"guest_address":[1-9][0-9]*,"size":32768,"mapping":"trapped"'
	expect lab cycles_ok -eq "$n"
	for ((i = 1; i <= n; i++)); do
		expect agent "hp${i}_edu_ok" -eq 1
		expect agent "hp${i}_dma_ok" -eq 1
		expect agent "hp${i}_irqs" -ge 12
		expect agent "hp${i}_gone" -eq 1
	done
	expect lab lck_out0 -eq 0
	expect lab lck_out_each = 0
	expect lab fds_out_each = "${lab[fds_out0]:-none}"
	[[ ${lab[fds_in_each]:-} =~ ^[0-9]+$ ]] || fail "the vmm's fds with the device in differ: ${lab[fds_in_each]:-none}"
	[[ ${lab[lck_in_each]:-} =~ ^[1-9][0-9]*$ ]] || fail "VmLck with the device in differs or is 0: ${lab[lck_in_each]:-none}"
	expect lab surprise_logged -eq 1
	expect lab surprise_seconds -ge 20
	expect lab surprise_unlisted -eq 1
	expect lab surprise_fds = "${lab[fds_out0]:-none}"
	expect lab surprise_lck -eq 0
	expect lab surprise_guest_gone -eq 1
	expect lab unbind_done -eq 1
	expect lab unbind_guest_gone -eq 1
	expect lab unbind_driver_after = ""
	expect lab req_logged -eq 1
	expect lab released_lines -ge "$n"
	expect lab vmm_exit -eq 0
}
