# virtio-net: agent.net=HOST_IP, the lab host's address on the tap. The
# guest takes 10.0.2.15/24 on eth0, pings the host, fetches 64 MiB the host
# serves on port 5001 and reports its SHA-256 (from_host_sha), then serves
# 64 MiB of its own on port 5002 (net_serving=1) until the host has it.
# The data is the line "vmm lab net" repeated, as the lab knows it.
# agent.net_mode=ping stops after the ping.

net_data() {
	yes "vmm lab net" | head -c 67108864
}

# net_watch PID WHAT: if the transfer PID is still going in 60 s, says what
# the guest's side of the NIC looks like (interrupt counts, packet counts),
# so that a stall shows whether interrupts or packets stopped.
net_watch() {
	(
		sleep 60
		kill -0 "$1" 2>/dev/null || exit 0
		note "$2 still going after 60 s$([ -e /tmp/$2 ] && echo ": $(wc -c </tmp/$2) bytes so far")"
		grep virtio /proc/interrupts | while read -r line; do note "$line"; done
		for s in rx_packets tx_packets rx_dropped tx_dropped; do
			note "eth0 $s $(cat /sys/class/net/eth0/statistics/$s)"
		done
	) &
}

check_net() {
	host=$(cmdline_param agent.net 10.0.2.1)
	load_guest_modules
	if ! wait_for /sys/class/net/eth0 20; then
		report net_error "no eth0"
		return
	fi
	report net_driver "$(basename "$(readlink /sys/class/net/eth0/device/driver)")"
	report net_mac "$(cat /sys/class/net/eth0/address)"
	ip addr add 10.0.2.15/24 dev eth0
	ip link set eth0 up
	if ping -c 3 -w 30 "$host" >/tmp/ping.log 2>&1; then
		report ping_ok 1
	else
		report ping_ok 0
		note "ping: $(tail -n 2 /tmp/ping.log | tr '\n' ' ')"
	fi
	# agent.net_mode=ping: the ping is all (a reboot test pings each boot).
	[ "$(cmdline_param agent.net_mode full)" = ping ] && return
	nc "$host" 5001 >/tmp/from_host &
	nc_pid=$!
	net_watch $nc_pid from_host
	wait $nc_pid
	report from_host_sha "$(sha256sum /tmp/from_host | cut -d' ' -f1)"
	rm -f /tmp/from_host
	net_data >/tmp/to_host
	printf '#!/bin/sh\nexec cat /tmp/to_host\n' >/tmp/send.sh
	chmod +x /tmp/send.sh
	report net_serving 1
	nc -l -p 5002 -e /tmp/send.sh &
	nc_pid=$!
	net_watch $nc_pid to_host
	wait $nc_pid
	report net_sent 1
}
