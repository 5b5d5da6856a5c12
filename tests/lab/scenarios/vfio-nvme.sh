# VFIO passthrough of an NVMe controller with MSI-X (issue 5, acceptance
# 2): QEMU's nvme device in the lab host, on an image whose first 1 MiB
# is the line "vmm lab nvme" repeated (made here, before the lab boots), is
# bound to vfio-pci with `vmm host bind` and passed through with --vfio to
# a guest under stock OVMF. The guest's stock nvme driver binds it, reads
# the pattern back, and /proc/interrupts shows its MSI-X vectors firing.
# BAR 0 holds the registers and the MSI-X table and PBA: the guest reaches
# the registers' pages directly, and only the table's and PBA's pages trap.
# The device is reset by FLR, asked for with reset=flr; a second vmm asking
# for reset=bus, which the kernel does not offer for a function on the
# root bus, is refused with one line naming what it does offer.

nvme_img=$lab_work/nvme.img
nvme_sha=$(yes "vmm lab nvme" | head -c 1048576 | sha256sum | cut -d' ' -f1)
lab_needs_ovmf=1
lab_qemu_args=(-drive "file=$nvme_img,format=raw,if=none,id=labnvme"
	-device nvme,serial=vmmlab,drive=labnvme)
lab_timeout=900
guest_checks=nvme
# 5 s after the guest's checks, for the reset on demand through the API.
guest_cmdline="agent.end_delay=5"
lab_host_files() {
	{ yes "vmm lab nvme" | head -c 1048576; head -c 15728640 /dev/zero; } >"$nvme_img" ||
		{ lab_fail "cannot write $nvme_img"; return 1; }
	lab_install_program "$(command -v curl)" "$1" /usr/bin/curl ||
		{ lab_fail "no curl to copy into the lab host (tools/setup.sh installs it)"; return 1; }
}
lab_script='
bdf=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat $d/class)" = 0x010802 ] && bdf=${d##*/}
done
lab "nvme_host_bdf=$bdf"
"$VMM" host bind "$bdf" >/tmp/bind.log 2>&1 && lab nvme_bound=1
cat /tmp/bind.log
lab "nvme_reset_methods=$(cat /sys/bus/pci/devices/$bdf/reset_method)"
cp /usr/share/OVMF/OVMF_VARS_4M.fd /tmp/vars.fd
"$VMM" run --memory 256M --firmware /usr/share/OVMF/OVMF_CODE_4M.fd --vars /tmp/vars.fd \
	--vfio "$bdf,reset=bus" --kernel "$GUEST_KERNEL" </dev/null >/dev/null 2>/tmp/bus.err
lab "bus_exit=$?"
cat /tmp/bus.err
grep -q "reset=bus: the kernel offers only: flr" /tmp/bus.err && lab bus_refused=1
nvme_run() {
	exec "$VMM" run -v --cpus 2 --memory 512M --firmware /usr/share/OVMF/OVMF_CODE_4M.fd \
		--vars /tmp/vars.fd --vfio "$bdf,reset=flr" --api-socket /tmp/api.sock \
		--kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" --cmdline "$GUEST_CMDLINE" \
		</dev/null >/tmp/guest.log 2>/tmp/vmm.err
}
# put NAME ENDPOINT BODY: LAB NAME_status and NAME_body.
put() {
	lab "${1}_status=$(curl -s -o /tmp/body -w "%{http_code}" --unix-socket /tmp/api.sock \
		-X PUT -d "$3" "http://localhost/api/v1/$2")"
	lab "${1}_body=$(tr -d "\n" </tmp/body)"
}
nvme_run &
pid=$!
# Once the guest is done with the disk: an FLR on demand, and one the kernel does not offer.
if wait_line /tmp/guest.log "VMM-AGENT: done" $pid 400; then
	put reset vm.vmm-reset-device "{\"id\": \"vfio0\", \"method\": \"flr\"}"
	put reset_bus vm.vmm-reset-device "{\"id\": \"vfio0\", \"method\": \"bus\"}"
	curl -s --unix-socket /tmp/api.sock http://localhost/api/v1/vm.counters >/tmp/c.json
	lab "resets_counted=$(sed -n "s/.*\"resets\":\([0-9]*\).*/\1/p" /tmp/c.json)"
	curl -s --unix-socket /tmp/api.sock http://localhost/api/v1/vm.info >/tmp/info.json
	lab "info_on_demand=$(grep -c "\"when\":\"on demand\"" /tmp/info.json)"
fi
wait_exit $pid vmm 120
cat /tmp/guest.log
cat /tmp/vmm.err
grep -q "vfio $bdf: reset at start (flr) in" /tmp/vmm.err &&
	grep -q "vfio $bdf: reset at exit (flr) in" /tmp/vmm.err && lab nvme_reset_logged=1
grep -q "vfio $bdf: BAR 0: 64-bit.* direct at 0x.*, the rest trapped (MSI-X" /tmp/vmm.err &&
	lab nvme_bar0_direct=1
'

scenario_check() {
	expect lab nvme_bound -eq 1
	expect lab vmm_exit -eq 0
	expect agent nvme_driver = nvme
	expect agent nvme_sha = "$nvme_sha"
	expect agent nvme_msix_vectors -ge 2
	expect agent nvme_irqs -gt 0
	expect lab nvme_reset_logged -eq 1
	expect lab nvme_reset_methods = flr
	expect lab bus_exit -eq 1
	expect lab bus_refused -eq 1
	expect lab nvme_bar0_direct -eq 1
	expect lab reset_status -eq 200
	expect lab reset_body =~ '"method":"flr","us":[0-9]'
	expect lab reset_bus_status -eq 400
	expect lab reset_bus_body =~ 'the kernel offers only: flr'
	expect lab resets_counted -eq 2
	expect lab info_on_demand -eq 1
}
