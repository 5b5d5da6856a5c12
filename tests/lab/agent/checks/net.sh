# virtio-net: agent.net=HOST_IP, the lab host's address on the tap. The
# guest takes 10.0.2.15/24 on eth0, pings the host, fetches 64 MiB the host
# serves on port 5001 and reports its SHA-256 (from_host_sha), then serves
# 64 MiB of its own on port 5002 (net_serving=1) until the host has it.
# The data is the line "vmm lab net" repeated, as the lab knows it.

net_data() {
	yes "vmm lab net" | head -c 67108864
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
	nc "$host" 5001 >/tmp/from_host
	report from_host_sha "$(sha256sum /tmp/from_host | cut -d' ' -f1)"
	rm -f /tmp/from_host
	net_data >/tmp/to_host
	printf '#!/bin/sh\nexec cat /tmp/to_host\n' >/tmp/send.sh
	chmod +x /tmp/send.sh
	report net_serving 1
	nc -l -p 5002 -e /tmp/send.sh
	report net_sent 1
}
