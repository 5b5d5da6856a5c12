# vmm bench reset (issue 21, acceptance 1 and 2), no guest: QEMU's nvme
# behind a pcie-root-port in the lab host (so the kernel offers "flr bus",
# as vfio-reset-bus has it), and edu, which has no reset method.
#  - VMM_LAB_RESET_CYCLES (100 by hand, fewer in CI) cycles of flr, then
#    of bus, each with a probe of NVMe's version register (BAR0 + 8) after
#    every cycle: every cycle comes back, the JSON, the table and the
#    gnuplot SVG are there, and reset_method is as the kernel had it;
#  - edu: one line naming what the kernel offers (nothing) and what to do.

nvme_img=$lab_work/nvme.img
lab_needs_ovmf=0
# x-speed=5: vfio-reset-bus says why (the port's link reporting).
lab_qemu_args=(-device pcie-root-port,id=labrp,chassis=1,slot=1,x-speed=5
	-drive "file=$nvme_img,format=raw,if=none,id=labnvme"
	-device nvme,serial=vmmlab,drive=labnvme,bus=labrp
	-device edu,addr=06.0)
cycles=${VMM_LAB_RESET_CYCLES:-100}
lab_timeout=$((600 + cycles * 6))
lab_vars=("CYCLES=$cycles")
lab_host_files() {
	head -c 16777216 /dev/zero >"$nvme_img" || { lab_fail "cannot write $nvme_img"; return 1; }
	lab_install_program "$(command -v gnuplot)" "$1" /usr/bin/gnuplot ||
		{ lab_fail "no gnuplot to copy into the lab host (tools/setup.sh installs gnuplot-nox)"; return 1; }
}
lab_script='
bdf=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat $d/class)" = 0x010802 ] && bdf=${d##*/}
done
EDU=0000:00:06.0
"$VMM" host bind "$bdf" >/tmp/bind.log 2>&1 && lab nvme_bound=1
"$VMM" host bind $EDU >>/tmp/bind.log 2>&1 && lab edu_bound=1
cat /tmp/bind.log
lab "methods_before=$(cat /sys/bus/pci/devices/$bdf/reset_method)"
# QEMU 7.2 nvme reports NVMe 1.4 in VS.
for m in flr bus; do
	"$VMM" bench reset "$bdf" --method $m --cycles $CYCLES --probe bar0+0x8=0x00010400 \
		--json --plot /tmp/$m.svg >/tmp/$m.json 2>/tmp/$m.err
	lab "${m}_exit=$?"
	cat /tmp/$m.err
	lab "${m}_json=$(tr -d "\n " </tmp/$m.json)"
	lab "${m}_svg=$(grep -c "<svg" /tmp/$m.svg 2>/dev/null)"
	lab "${m}_methods_after=$(cat /sys/bus/pci/devices/$bdf/reset_method)"
done
"$VMM" bench reset $EDU --cycles 3 >/dev/null 2>/tmp/edu.err
lab "edu_exit=$?"
lab "edu_lines=$(grep -c . /tmp/edu.err)"
lab "edu_line=$(head -n 1 /tmp/edu.err)"
'

# json_num NAME KEY: the number after "KEY": in the lab line NAME_json (the first).
json_num() {
	sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" <<<"${lab[${1}_json]:-}" | head -n 1
}

scenario_check() {
	local m
	expect lab nvme_bound -eq 1
	expect lab edu_bound -eq 1
	for m in flr bus; do
		expect lab "${m}_exit" -eq 0
		expect lab "${m}_json" =~ "\"method\":\"$m\",\"ioctl\":\"[A-Z_]*\",\"cycles\":$CYCLES_WANT,\"failures\":0"
		expect lab "${m}_svg" -ge 1
		expect lab "${m}_methods_after" = "${lab[methods_before]:-none}"
	done
	expect lab methods_before = "flr bus"
	# FLR: the kernel waits 100 ms after it; the time back sits just above.
	local med
	med=$(sed -n 's/.*"method":"flr".*"back_ms":{"min":[0-9.]*,"median":\([0-9.]*\).*/\1/p' <<<"${lab[flr_json]:-}")
	if [[ $med =~ ^[0-9.]+$ ]] && awk -v m="$med" 'BEGIN { exit !(m >= 100 && m < 1000) }'; then
		printf 'ok: flr median back %s ms (>= the kernel'"'"'s 100 ms wait)\n' "$med"
	else
		fail "flr median back ${med:-none} ms: wanted 100 to 1000"
	fi
	expect lab edu_exit -eq 1
	expect lab edu_lines -eq 1
	expect lab edu_line =~ 'offers no reset method'
}
CYCLES_WANT=$cycles
