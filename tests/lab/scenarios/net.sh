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
wait_line /tmp/run.log "VMM-AGENT: net_serving=" $pid 600
# The guest says it serves just before it listens: try until it does.
i=0
until nc 10.0.2.15 5002 >/tmp/from_guest 2>/dev/null || [ $i -ge 60 ]; do
	sleep 1
	i=$((i + 1))
done
lab "from_guest_sha=$(sha256sum /tmp/from_guest | cut -d" " -f1)"
i=0
while kill -0 $pid 2>/dev/null && [ $i -lt 3000 ]; do
	sleep 0.1
	i=$((i + 1))
done
kill -9 $pid 2>/dev/null
wait $pid
lab "vmm_exit=$?"
cat /tmp/run.log
[ -e /sys/class/net/vmmtap0 ] || lab tap_gone=1
'

scenario_check() {
	expect lab tap_up -eq 1
	expect agent net_driver = virtio_net
	expect agent net_mac =~ '^02:'
	expect agent ping_ok -eq 1
	expect agent from_host_sha = "$net_sha"
	expect lab from_guest_sha = "$net_sha"
	expect agent net_sent -eq 1
	expect lab vmm_exit -eq 0
	expect lab tap_gone -eq 1
}
