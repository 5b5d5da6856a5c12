# A guest reset is a power cycle: vmm makes the machine anew and boots the
# guest again, every boot with all its vCPUs, until it is told to stop
# (SIGTERM ends the run with 0 and one line saying so: the guest reset or
# powered off after the power button). With --no-reboot
# the first reset ends the run instead. Boots are counted from what the
# guest itself printed: the agent's userspace-start and done lines.

guest_cmdline='agent.end=reboot'
lab_timeout=600
lab_script='
# exec: backgrounded, the function runs in a subshell, and the SIGTERM
# below must reach vmm itself, not that subshell.
run_guest() {
	exec "$VMM" run --cpus 2 --memory 512M --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
		--cmdline "$GUEST_CMDLINE" "$@" </dev/null
}

# Counts a line in a file that may not exist yet (0 then, never empty).
count() {
	cat "$2" 2>/dev/null | grep -c "$1"
}

run_guest --serial file=/tmp/serial.log 2>/tmp/vmm.err &
pid=$!
t=0
while [ "$t" -lt 300 ] && [ "$(count "VMM-AGENT: done" /tmp/serial.log)" -lt 3 ]; do
	sleep 1
	t=$((t + 1))
done
kill -TERM "$pid"
wait "$pid"
lab "reboot_exit=$?"
lab "boots=$(grep -c "VMM-AGENT: userspace-start" /tmp/serial.log)"
lab "cpus_each_boot=$(grep "VMM-AGENT: cpus_online=" /tmp/serial.log | sed "s/.*=//" | sort -u | tr "\n" " " | sed "s/ $//")"
lab "signal_line=$(grep -c "terminating on signal 15\\|after the power button (SIGTERM)" /tmp/vmm.err)"
sed "s/^/LAB: note: vmm: /" /tmp/vmm.err

lab_timed noreboot run_guest --no-reboot --serial file=/tmp/serial2.log 2>/tmp/vmm2.err
lab "noreboot_boots=$(grep -c "VMM-AGENT: userspace-start" /tmp/serial2.log)"
lab "noreboot_line=$(grep -c "no-reboot ends the run" /tmp/vmm2.err)"
sed "s/^/LAB: note: vmm: /" /tmp/vmm2.err
'

scenario_check() {
	expect lab boots -ge 3
	expect lab cpus_each_boot = 2
	expect lab reboot_exit -eq 0
	expect lab signal_line -eq 1
	expect lab noreboot_exit -eq 0
	expect lab noreboot_boots -eq 1
	expect lab noreboot_line -eq 1
}
