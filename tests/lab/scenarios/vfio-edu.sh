# VFIO passthrough of QEMU's edu device (issue 5, acceptance 1): the lab
# host's edu (1234:11e8) is bound to vfio-pci with `vmm host bind`, then
# passed through with --vfio to a guest booted by stock OVMF. The guest
# reads edu's ID register through the directly mapped BAR (busybox devmem,
# /dev/mem), and its vmm_edu module (tests/lab/edu) checks liveness, runs
# DMA guest RAM -> device -> guest RAM with checksums, and counts the MSI
# the device raised in /proc/interrupts. The vmm exits 0 on the guest's
# poweroff, having reset the device at start and at exit where it can
# (edu has no reset method: the vmm says so). While it runs, a second vmm
# asking for the same device is refused with one line, and the first one
# runs on to the end.
#
# First of all (issue 21, acceptance 4), a vmm is killed with SIGKILL
# while the guest's vmm_edu keeps edu's DMA engine busy (dma_loop): the
# vmm that then runs the checks above has the device as a stale one, left
# mid-DMA, and must find it working (edu has no reset method; what the
# kernel does as the dead vmm's fds close, and the new vmm's open, must be
# enough). The killed guest's lines are printed as "killed guest:", so
# that none of them counts as the checked guest's. A scenario that sources
# this one sets EDU_KILL_FIRST= (empty) in its lab_script to skip it.
#
# And without root (issue 19, acceptance 5): the checked vmm is run by an
# ordinary user (uid 1000, in the group that owns /dev/kvm), with a
# virtio disk and a NIC beside edu, from start to the guest's poweroff.
# Root prepared only what the issue allows: `vmm host bind --user` gave
# the user edu's /dev/vfio node, iproute2 made the TAP for the user, the
# locked-memory limit is large enough; setpriv starts the vmm with the
# user's ids and no capability. The guest also reads back the disk the
# lab filled and pings the lab host over the TAP. Last, root starts a vmm
# with --user (a direct boot): while its guest runs, every thread of it
# has that user's ids and no capability. EDU_AS_USER= (empty) skips all
# of this, as vfio-edu-intx and vfio-edu-iommufd do.

disk_sha=$(yes "vmm lab no root" | head -c 1048576 | sha256sum | cut -d' ' -f1)
lab_needs_ovmf=1
lab_needs_edu=1
lab_qemu_args=(-device edu)
lab_timeout=900
guest_checks=edu,blkread,net
guest_cmdline="agent.net=10.0.2.1 agent.net_mode=ping"
lab_host_files() {
	lab_install_program /usr/bin/setpriv "$1" /usr/bin/setpriv ||
		{ lab_fail "no setpriv to copy into the lab host (util-linux)"; return 1; }
	lab_install_program "$(command -v ip)" "$1" /usr/sbin/ip-full ||
		{ lab_fail "no ip to copy into the lab host (tools/setup.sh installs iproute2)"; return 1; }
}
lab_script='
bdf=
for d in /sys/bus/pci/devices/*; do
	if [ "$(cat $d/vendor)" = 0x1234 ] && [ "$(cat $d/device)" = 0x11e8 ]; then
		bdf=${d##*/}
	fi
done
lab "edu_host_bdf=$bdf"
# field NAME [FILE]: the value of NAME: in a /proc status file, tabs as spaces.
field() {
	grep "^$1:" ${2:-} | cut -f2- | tr "\t" " "
}
if [ -n "${EDU_AS_USER-1}" ]; then
	mkdir -p /etc
	echo "vmmuser:x:1000:1000::/tmp/vmmuser:/bin/sh" >>/etc/passwd
	echo "vmmuser:x:1000:" >>/etc/group
	echo "kvm:x:104:vmmuser" >>/etc/group
	mkdir -p /tmp/vmmuser
	# An ordinary user who has /dev/kvm through its group, and /dev/net/tun
	# as everyone has it: what Debian'"'"'s udev rules set up, which the lab host
	# has no udev to do.
	chgrp 104 /dev/kvm && chmod 660 /dev/kvm && chmod 666 /dev/net/tun
	bind_user="--user vmmuser"
fi
"$VMM" host bind "$bdf" ${bind_user:-} >/tmp/bind.log 2>&1 && lab edu_bound=1
cat /tmp/bind.log
cp /usr/share/OVMF/OVMF_VARS_4M.fd /tmp/vars.fd
cp /usr/share/OVMF/OVMF_VARS_4M.fd /tmp/vars2.fd
user_opts=
run_as=
vars=/tmp/vars.fd
if [ -n "${EDU_AS_USER-1}" ]; then
	group=$(basename "$(readlink /sys/bus/pci/devices/$bdf/iommu_group)")
	lab "vfio_node_owner=$(stat -c %u:%g /dev/vfio/$group)"
	/usr/sbin/ip-full tuntap add dev vmmtap1 mode tap user 1000 vnet_hdr &&
		ip addr add 10.0.2.1/24 dev vmmtap1 && ip link set vmmtap1 up && lab tap_made=1
	{ yes "vmm lab no root" | head -c 1048576; head -c 15728640 /dev/zero; } >/tmp/vmmuser/disk.img
	cp /tmp/vars.fd /tmp/vmmuser/vars.fd
	chown -R 1000:1000 /tmp/vmmuser
	ulimit -l unlimited
	vars=/tmp/vmmuser/vars.fd
	user_opts="--disk path=/tmp/vmmuser/disk.img --net tap=vmmtap1"
	run_as="/usr/bin/setpriv --reuid=1000 --regid=1000 --groups=104 --inh-caps=-all --bounding-set=-all --"
fi
# -v: where it put the device and what became of its reset, on stderr.
# exec: in the background, $! must be the vmm itself.
first() {
	exec $run_as "$VMM" run -v --cpus 1 --memory 512M \
		--firmware /usr/share/OVMF/OVMF_CODE_4M.fd --vars "$vars" \
		--vfio "$bdf${EDU_VFIO_OPTS:-}" ${EDU_API:+--api-socket "$EDU_API"} $user_opts \
		--kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" --cmdline "$GUEST_CMDLINE" \
		</dev/null >/tmp/guest.log 2>/tmp/vmm.err
}
if [ -n "${EDU_KILL_FIRST-1}" ]; then
	cp /usr/share/OVMF/OVMF_VARS_4M.fd /tmp/vars0.fd
	"$VMM" run -v --cpus 1 --memory 512M --firmware /usr/share/OVMF/OVMF_CODE_4M.fd \
		--vars /tmp/vars0.fd --vfio "$bdf" --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
		--cmdline "$GUEST_CMDLINE agent.edu_dma_loop=1 agent.end=wait" \
		</dev/null >/tmp/killed.log 2>/tmp/killed.err &
	kpid=$!
	if wait_line /tmp/killed.log "VMM-AGENT: edu_dma_loop=running" $kpid 300; then
		sleep 1
		# Still running a second later: the kill lands in the middle of transfers.
		grep -q "VMM-AGENT: edu_dma_loop=failed" /tmp/killed.log || lab killed_mid_dma=1
	fi
	kill -9 $kpid
	wait $kpid
	lab "killed_exit=$?"
	sed "s/VMM-AGENT: /killed guest: /" /tmp/killed.log /tmp/killed.err
fi
first &
pid=$!
# While it has the device, a second vmm is refused, and the first runs on.
if wait_line /tmp/guest.log "VMM-AGENT: userspace-start" $pid 300; then
	"$VMM" run --memory 256M --firmware /usr/share/OVMF/OVMF_CODE_4M.fd \
		--vars /tmp/vars2.fd --vfio "$bdf" --kernel "$GUEST_KERNEL" </dev/null \
		>/dev/null 2>/tmp/second.err
	lab "second_exit=$?"
	cat /tmp/second.err
	grep -q "is in use by another process" /tmp/second.err && lab second_refused=1
	# A scenario that sets EDU_API asks the running vmm through it (vfio-edu-intx).
	[ -z "${EDU_API:-}" ] || edu_api_checks
	if [ -n "$run_as" ]; then
		lab "user_uid=$(field Uid /proc/$pid/status | cut -d" " -f1)"
		lab "user_capeff=$(field CapEff /proc/$pid/status)"
	fi
fi
wait_exit $pid vmm
cat /tmp/guest.log
cat /tmp/vmm.err
grep -q "vfio $bdf: behind root port 00:01.0" /tmp/vmm.err && lab edu_placed=1
# Which interface --vfio-iommu auto took: type1 on Debian'"'"'s kernel, which
# has no iommufd; iommufd on the one vfio-edu-iommufd builds.
grep -q "vfio: type1: the container /dev/vfio/vfio" /tmp/vmm.err && lab edu_iommu=type1
grep -q "vfio: iommufd: /dev/iommu and the devices" /tmp/vmm.err && lab edu_iommu=iommufd
# Nothing of VFIO is held once both vmms are gone.
holders=0
for p in /proc/[0-9]*; do
	ls -l "$p/fd" 2>/dev/null | grep -q -e "/dev/vfio/" -e "/dev/iommu" && holders=$((holders + 1))
done
lab "vfio_holders_after=$holders"
grep -q "vfio $bdf: no reset at start: the kernel offers no reset method" /tmp/vmm.err &&
	grep -q "vfio $bdf: no reset at exit" /tmp/vmm.err && lab edu_reset_logged=1
# The device is free again: its group can be opened by the next user.
[ "$(basename "$(readlink /sys/bus/pci/devices/$bdf/driver)")" = vfio-pci ] && lab edu_still_vfio=1
# Root, with --user: the ids and capabilities of every thread while its guest runs.
if [ -n "$run_as" ]; then
	"$VMM" run -v --user vmmuser --memory 256M --disk path=/tmp/vmmuser/disk.img \
		--kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
		--cmdline "console=ttyS0 panic=-1 agent.checks=blkread agent.end_delay=10" \
		</dev/null >/tmp/as.log 2>/tmp/as.err &
	apid=$!
	if wait_line /tmp/as.log "VMM-AGENT: done" $apid 120; then
		lab "asuser_threads=$(ls /proc/$apid/task | wc -l)"
		for f in Uid Gid CapEff CapPrm; do
			lab "asuser_$f=$(cat /proc/$apid/task/*/status | field $f | sort -u | tr "\n" ";")"
		done
		lab "asuser_nnp=$(field NoNewPrivs /proc/$apid/status)"
		grep -q "VMM-AGENT: blk_sha='"$disk_sha"'" /tmp/as.log && lab asuser_guest_read=1
	fi
	wait_exit $apid asuser 60
	sed "s/VMM-AGENT: /as-user guest: /" /tmp/as.log
	cat /tmp/as.err
	grep -q "running as vmmuser (uid 1000, gid 1000), with no capabilities" /tmp/as.err &&
		lab asuser_said=1
fi
'

scenario_check() {
	expect lab edu_bound -eq 1
	expect lab vmm_exit -eq 0
	expect agent edu_found -eq 1
	expect agent edu_id_devmem = 0x010000ed
	expect agent edu_live_devmem -eq 1
	expect agent edu_id = 0x010000ed
	expect agent edu_irq_mode = msi
	expect agent edu_raise_irqs -eq 8
	expect agent edu_dma_ok -eq 1
	expect agent edu_dma_irqs -eq 4
	expect agent edu_proc_irqs -ge 12
	expect agent edu_ok -eq 1
	expect lab edu_still_vfio -eq 1
	expect lab edu_placed -eq 1
	expect lab edu_iommu = "${edu_iommu_expected:-type1}"
	expect lab vfio_holders_after -eq 0
	expect lab edu_reset_logged -eq 1
	expect lab second_exit -eq 1
	expect lab second_refused -eq 1
	if [ -n "${EDU_KILL_FIRST-1}" ]; then
		expect lab killed_mid_dma -eq 1
		expect lab killed_exit -eq 137
	fi
	if [ -n "${EDU_AS_USER-1}" ]; then
		expect lab vfio_node_owner = 1000:1000
		expect lab tap_made -eq 1
		expect lab user_uid = 1000
		expect lab user_capeff = 0000000000000000
		expect agent blk_sha = "$disk_sha"
		expect agent ping_ok -eq 1
		expect lab asuser_Uid = "1000 1000 1000 1000;"
		expect lab asuser_Gid = "1000 1000 1000 1000;"
		expect lab asuser_CapEff = "0000000000000000;"
		expect lab asuser_CapPrm = "0000000000000000;"
		expect lab asuser_nnp -eq 1
		expect lab asuser_threads -ge 2
		expect lab asuser_guest_read -eq 1
		expect lab asuser_said -eq 1
		expect lab asuser_exit -eq 0
	fi
}
