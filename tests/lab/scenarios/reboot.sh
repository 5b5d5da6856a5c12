# A guest reset is a power cycle: vmm makes the machine anew and boots the
# guest again, every boot with all its vCPUs, until it is told to stop
# (SIGTERM ends the run with 0 and one line saying so: the guest reset or
# powered off after the power button). With --no-reboot
# the first reset ends the run instead. Boots are counted from what the
# guest itself printed: the agent's userspace-start and done lines.
#
# The host's side outlives a reboot (issue 18, bug 3): the first run has a
# NIC on tap vmmtap0, which the vmm creates and the lab host puts up, in
# bridge br0 (which holds 10.0.2.1/24). Every boot's guest pings 10.0.2.1
# through it; after the third boot the tap is the same interface (same
# ifindex), still up and still in br0, and it goes when the vmm ends.

#
# Then the API (issue 17), driven with curl as a client nobody here wrote:
# vmm.ping and vm.info (checked against Cloud Hypervisor's schemas when
# ../shared/ref has them), the vCPU threads vm.info names (this vmm's,
# called vcpu0 and vcpu1), vm.pause (the agent's 10 ticks a second stop)
# and vm.resume, the errors (wrong state 405, wrong method 405, unknown
# 404, not answered yet 501, a head too large 431), the socket's mode and
# a thousand malformed requests while the guest ticks on (apistorm.c),
# vm.counters (no passed-through device: {}),
# a peer of another uid refused, vm.shutdown then vm.boot (a second boot),
# and `vmm ctl shutdown`: the power button, and the guest powers off.
# That VM is made from JSON alone: a vmm with only its API socket answers
# vm.info 404 until vm.create gives it the VmConfig that `vmm run ...
# --print-config` wrote for the command line, vm.boot boots it, and the
# guest reports its 2 vCPUs.

guest_cmdline='agent.end=reboot'
lab_modules+=("${lab_host_bridge_modules[@]}")
lab_host_files() {
	lab_install_program "$(command -v curl)" "$1" /usr/bin/curl &&
		lab_install_program "$(command -v setpriv)" "$1" /usr/bin/setpriv ||
		{ lab_fail "no curl or setpriv to copy into the lab host (tools/setup.sh installs them)"; return 1; }
	${CC:-cc} -std=gnu11 -D_GNU_SOURCE -O2 -static -o "$1/usr/bin/apistorm" "$lab_dir/apistorm.c" ||
		{ lab_fail "cannot build $lab_dir/apistorm.c statically"; return 1; }
}
lab_timeout=900
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

run_guest --serial file=/tmp/serial.log --net tap=vmmtap0 \
	--cmdline "${GUEST_CMDLINE/agent.checks=basic/agent.checks=basic,net} agent.net=10.0.2.1 agent.net_mode=ping" \
	2>/tmp/vmm.err &
pid=$!
i=0
while [ ! -e /sys/class/net/vmmtap0 ] && [ $i -lt 600 ] && kill -0 $pid 2>/dev/null; do
	sleep 0.1
	i=$((i + 1))
done
tap_index=$(cat /sys/class/net/vmmtap0/ifindex 2>/dev/null)
brctl addbr br0 && ip addr add 10.0.2.1/24 dev br0 && ip link set br0 up &&
	brctl addif br0 vmmtap0 && ip link set vmmtap0 up && lab bridge_up=1
# tap_state: ifindex, up or down, and its bridge, as sysfs has them now.
tap_state() {
	printf "%s %s %s" "$(cat /sys/class/net/vmmtap0/ifindex 2>/dev/null || echo none)" \
		"$(( $(cat /sys/class/net/vmmtap0/flags 2>/dev/null || echo 0) & 1 ))" \
		"$(basename "$(readlink /sys/class/net/vmmtap0/master 2>/dev/null)")"
}
lab "tap_first=$(tap_state)"
t=0
while [ "$t" -lt 300 ] && [ "$(count "VMM-AGENT: done" /tmp/serial.log)" -lt 3 ]; do
	sleep 1
	t=$((t + 1))
done
lab "tap_expected=$tap_index 1 br0"
lab "tap_after_reboots=$(tap_state)"
lab "pings_ok=$(count "VMM-AGENT: ping_ok=1" /tmp/serial.log)"
# SIGTERM once the fourth boot watches its power button: pressed while a
# kernel boots, before ACPI is up, a button is lost, as on hardware.
while [ "$t" -lt 400 ] && [ "$(count "VMM-AGENT: power_buttons=" /tmp/serial.log)" -lt 4 ]; do
	sleep 1
	t=$((t + 1))
done
kill -TERM "$pid"
wait "$pid"
lab "reboot_exit=$?"
lab "boots=$(grep -c "VMM-AGENT: userspace-start" /tmp/serial.log)"
# The value alone: the fourth boot shuts down on the power button while it
# reports, and a kernel line may follow the agent'"'"'s on the same line.
lab "cpus_each_boot=$(grep -o "VMM-AGENT: cpus_online=[0-9][0-9]*" /tmp/serial.log | sed "s/.*=//" | sort -u | tr "\n" " " | sed "s/ $//")"
lab "signal_line=$(grep -c "terminating on signal 15\\|after the power button (SIGTERM)" /tmp/vmm.err)"
lab "tap_left=$(ls -d /sys/class/net/vmmtap0 2>/dev/null | wc -l)"
brctl delbr br0 2>/dev/null
sed "s/^/LAB: note: vmm: /" /tmp/vmm.err

lab_timed noreboot run_guest --no-reboot --serial file=/tmp/serial2.log 2>/tmp/vmm2.err
lab "noreboot_boots=$(grep -c "VMM-AGENT: userspace-start" /tmp/serial2.log)"
lab "noreboot_line=$(grep -c "no-reboot ends the run" /tmp/vmm2.err)"
sed "s/^/LAB: note: vmm: /" /tmp/vmm2.err

api=/tmp/api.sock
# call NAME METHOD ENDPOINT: LAB NAME_status, and NAME_body (on one line)
call() {
	lab "${1}_status=$(curl -s -o /tmp/body -w "%{http_code}" --unix-socket $api -X "$2" \
		"http://localhost/api/v1/$3")"
	lab "${1}_body=$(tr -d "\n" </tmp/body)"
}
# The VM from JSON alone: its command line as a file (--print-config), given
# to a vmm that has only its API socket, through vm.create and vm.boot.
"$VMM" run --cpus 2 --memory 512M --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
	--cmdline "${GUEST_CMDLINE/agent.end=reboot/agent.end=wait} agent.ticker=1" \
	--serial file=/tmp/serial3.log --print-config >/tmp/vm.json
lab "print_config_exit=$?"
"$VMM" run --api-socket $api 2>/tmp/vmm3.err &
pid=$!
i=0
while [ ! -S $api ] && [ $i -lt 100 ] && kill -0 $pid 2>/dev/null; do
	sleep 0.1
	i=$((i + 1))
done
call info_none GET vm.info
lab "create_status=$(curl -s -o /tmp/body -w "%{http_code}" --unix-socket $api -X PUT \
	-H "Content-Type: application/json" --data-binary @/tmp/vm.json \
	http://localhost/api/v1/vm.create)"
call info_created GET vm.info
call create_boot PUT vm.boot
if wait_line /tmp/serial3.log "VMM-AGENT: done" $pid 240; then
	lab "created_cpus=$(grep -o "VMM-AGENT: cpus_online=[0-9][0-9]*" /tmp/serial3.log | sed "s/.*=//")"
	call ping GET vmm.ping
	call info GET vm.info
	names=
	for t in $(sed -n "s/.*\"vmm_vcpu_threads\":\[\([0-9,]*\)\].*/\1/p" /tmp/body | tr , " "); do
		names="$names $(cat /proc/$pid/task/$t/comm 2>/dev/null)"
	done
	lab "vcpu_thread_names=${names# }"
	call pause PUT vm.pause
	t1=$(count "VMM-AGENT: tick=" /tmp/serial3.log)
	sleep 2
	t2=$(count "VMM-AGENT: tick=" /tmp/serial3.log)
	lab "ticks_while_paused=$((t2 - t1))"
	call info_paused GET vm.info
	call pause_again PUT vm.pause
	call resume PUT vm.resume
	sleep 2
	lab "ticks_after_resume=$(($(count "VMM-AGENT: tick=" /tmp/serial3.log) - t2))"
	call wrong_method GET vm.pause
	call unknown GET vm.nothing
	call not_yet PUT vm.add-disk
	call counters GET vm.counters
	# A thousand malformed requests (tests/lab/apistorm.c), each on its own
	# connection, while the agent ticks 10 times a second: the guest runs on.
	# The rate first, over 2 s (the lab emulator is slower when its machine is busy).
	t0=$(count "VMM-AGENT: tick=" /tmp/serial3.log)
	sleep 2
	t1=$(count "VMM-AGENT: tick=" /tmp/serial3.log)
	s0=$(uptime_s)
	lab "storm=$(apistorm $api 1000)"
	sleep 2
	storm_ticks=$(($(count "VMM-AGENT: tick=" /tmp/serial3.log) - t1))
	s1=$(uptime_s)
	secs=$((${s1%.*} - ${s0%.*}))
	lab "storm_ticks=$storm_ticks in $secs s; $((t1 - t0)) in 2 s before"
	# At least half the rate before: 4 * storm_ticks >= (t1 - t0) * secs.
	lab "storm_rate_kept=$((4 * storm_ticks >= (t1 - t0) * secs && storm_ticks > 0))"
	call after_storm GET vmm.ping
	lab "big_head_status=$(curl -s -o /dev/null -w "%{http_code}" --unix-socket $api \
		-H "X-Big: $(head -c 9000 /dev/zero | tr "\0" a)" http://localhost/api/v1/vmm.ping)"
	lab "socket_mode=$(stat -c %a $api)"
	# util-linux'"'"'s setpriv, by path: busybox has an applet of that name without --reuid.
	other() {
		/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups curl -s -o /dev/null \
			-w "%{http_code}" --unix-socket $api http://localhost/api/v1/vmm.ping
	}
	other
	lab "other_uid_curl_exit=$?"
	chmod 666 $api
	lab "other_uid_status=$(other)"
	chmod 600 $api
	call shutdown PUT vm.shutdown
	call info_shut GET vm.info
	call boot PUT vm.boot
	if wait_count /tmp/serial3.log "VMM-AGENT: done" 2 $pid 240; then
		"$VMM" ctl --api-socket $api shutdown >/tmp/ctl.out 2>&1
		lab "ctl_exit=$?"
		cat /tmp/ctl.out
		lab "ctl_line=$(grep -c "^the guest powered off [0-9.]* s after the power button$" /tmp/ctl.out)"
	fi
fi
wait_exit $pid api_vmm 60
lab "api_boots=$(count "VMM-AGENT: userspace-start" /tmp/serial3.log)"
lab "socket_left=$(ls $api 2>/dev/null | wc -l)"
sed "s/^/LAB: note: vmm: /" /tmp/vmm3.err
'

scenario_check() {
	expect lab boots -ge 3
	expect lab bridge_up -eq 1
	expect lab tap_first = "${lab[tap_expected]:-?}"
	expect lab tap_after_reboots = "${lab[tap_expected]:-?}"
	expect lab pings_ok -ge 3
	expect lab tap_left -eq 0
	expect lab cpus_each_boot = 2
	expect lab reboot_exit -eq 0
	expect lab signal_line -eq 1
	expect lab noreboot_exit -eq 0
	expect lab noreboot_boots -eq 1
	expect lab noreboot_line -eq 1
	expect lab ping_status -eq 200
	schema_check ping VmmPingResponse
	expect lab info_status -eq 200
	schema_check info VmInfo
	expect lab info_body =~ '"state":"Running"'
	expect lab vcpu_thread_names = "vcpu0 vcpu1"
	expect lab pause_status -eq 204
	expect lab ticks_while_paused -eq 0
	expect lab info_paused_body =~ '"state":"Paused"'
	expect lab pause_again_status -eq 405
	expect lab resume_status -eq 204
	expect lab ticks_after_resume -ge 5
	expect lab wrong_method_status -eq 405
	expect lab wrong_method_body =~ 'vm.pause takes PUT, not GET'
	expect lab unknown_status -eq 404
	expect lab not_yet_status -eq 501
	expect lab counters_status -eq 200
	expect lab counters_body = '{}'
	expect lab storm =~ '^sent=1000 '
	expect lab storm_rate_kept -eq 1
	expect lab after_storm_status -eq 200
	expect lab big_head_status -eq 431
	expect lab socket_mode = 600
	expect lab other_uid_curl_exit -eq 7
	expect lab other_uid_status -eq 403
	expect lab shutdown_status -eq 204
	expect lab info_shut_body =~ '"state":"Shutdown"'
	schema_check info_shut VmInfo
	expect lab boot_status -eq 204
	expect lab ctl_exit -eq 0
	expect lab ctl_line -eq 1
	expect lab api_vmm_exit -eq 0
	expect lab api_boots -eq 2
	expect lab socket_left -eq 0
	expect lab print_config_exit -eq 0
	expect lab info_none_status -eq 404
	expect lab create_status -eq 204
	expect lab info_created_body =~ '"state":"Created"'
	schema_check info_created VmInfo
	expect lab create_boot_status -eq 204
	expect lab created_cpus = 2
}

