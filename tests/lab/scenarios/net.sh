# virtio-net over modern virtio-pci to a TAP device in the lab host: the vmm
# creates tap vmmtap0 (the lab host gives it 10.0.2.1/24), the guest pings
# the lab host, and 64 MiB go each way over TCP (busybox nc) with the
# SHA-256 the data has (computed here, outside the lab).

net_sha=$(yes "vmm lab net" | head -c 67108864 | sha256sum | cut -d' ' -f1)
lab_timeout=1200
guest_checks=net
lab_script='
yes "vmm lab net" | head -c 67108864 >/tmp/host.bin
printf "#!/bin/sh\nexec cat /tmp/host.bin\n" >/tmp/send.sh
chmod +x /tmp/send.sh
nc -l -p 5001 -e /tmp/send.sh &
"$VMM" run --cpus 2 --memory 512M --net tap=vmmtap0 \
	--kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
	--cmdline "$GUEST_CMDLINE agent.net=10.0.2.1" </dev/null >/tmp/run.log 2>&1 &
pid=$!
i=0
while [ ! -e /sys/class/net/vmmtap0 ] && [ $i -lt 600 ] && kill -0 $pid 2>/dev/null; do
	sleep 0.1
	i=$((i + 1))
done
ip addr add 10.0.2.1/24 dev vmmtap0 && ip link set vmmtap0 up && lab tap_up=1
# stalled PHASE: a transfer stopped. What the tap counted, and what the
# devices of the vmm hold (SIGUSR2, into run.log), then the vmm is ended.
stalled() {
	lab "net_stalled=$1"
	for s in rx_packets tx_packets rx_dropped tx_dropped; do
		lab "tap_$s=$(cat /sys/class/net/vmmtap0/statistics/$s)"
	done
	kill -USR2 $pid
	sleep 3
	kill $pid
}
if ! wait_line /tmp/run.log "VMM-AGENT: net_serving=" $pid 240; then
	stalled from_host
else
	# The dump on a running machine: it says, and the guest runs on.
	kill -USR2 $pid
	wait_line /tmp/run.log "pair 0 (tap vmmtap0): rx active" $pid 10 && lab state_dump=1
fi
# fetch: execs, so that $! is nc itself.
fetch() {
	exec nc 10.0.2.15 5002 >/tmp/from_guest 2>/dev/null
}
# The guest says it serves just before it listens: try until it does.
i=0
while kill -0 $pid 2>/dev/null; do
	fetch &
	nc_pid=$!
	j=0
	while kill -0 $nc_pid 2>/dev/null && [ $j -lt 2400 ]; do
		sleep 0.1
		j=$((j + 1))
	done
	if kill -0 $nc_pid 2>/dev/null; then
		stalled from_guest
		kill $nc_pid
		break
	fi
	wait $nc_pid && break
	[ $i -lt 60 ] || break
	sleep 1
	i=$((i + 1))
done
lab "from_guest_sha=$(sha256sum /tmp/from_guest | cut -d" " -f1)"
wait_exit $pid vmm
cat /tmp/run.log
[ -e /sys/class/net/vmmtap0 ] || lab tap_gone=1
'

scenario_check() {
	expect lab tap_up -eq 1
	expect lab state_dump -eq 1
	expect agent net_driver = virtio_net
	expect agent net_mac =~ '^02:'
	expect agent ping_ok -eq 1
	expect agent from_host_sha = "$net_sha"
	expect lab from_guest_sha = "$net_sha"
	expect agent net_sent -eq 1
	expect lab vmm_exit -eq 0
	expect lab tap_gone -eq 1
}
