# `vmm host` against the lab host's real sysfs (issue 6, acceptance 2 to 4):
#   - check reports the IOMMU on and ok (intel-iommu in the lab);
#   - groups shows every device in the group its iommu_group link names;
#   - bind moves QEMU's edu device and an nvme controller to vfio-pci and
#     nothing else; restore gives the nvme back to nvme, leaves edu without
#     a driver as it was, and every other device as it was;
#   - persist prints a configuration for the lab host; applied to a scratch
#     copy of its files and rolled back, the copy is byte for byte the same.
#
# The lab host has no nvme driver by default: this scenario adds the nvme
# modules (and their CRC dependencies, in load order) to the lab's list and,
# if the cached kernel lacks them, takes them from the cached kernel .deb.

lab_qemu_args=(-device edu
	-blockdev driver=null-co,node-name=labnvme,size=67108864
	-device nvme,serial=vmmlab,drive=labnvme)
lab_timeout=300
host_prep_modules=(crct10dif_common crct10dif_generic crc-t10dif crc64 crc64_rocksoft_generic
	crc64-rocksoft t10-pi nvme-core nvme)
lab_modules+=("${host_prep_modules[@]}")

# lab_kernel from tests/lab/lib, then the extra modules into its cached directory.
eval "host_prep_lab_kernel_base() $(declare -f lab_kernel | tail -n +2)"
lab_kernel() {
	host_prep_lab_kernel_base || return 1
	local m missing=() patterns=() deb tmp f
	for m in "${host_prep_modules[@]}"; do
		[ -f "$lab_kernel_dir/modules/$m.ko" ] || { missing+=("$m"); patterns+=("*/$m.ko*"); }
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	deb=$(ls "$lab_cache"/kernel/"${lab_kernel_dir##*/}"_*.deb 2>/dev/null | head -n 1)
	[ -n "$deb" ] || { lab_fail "no cached .deb for ${lab_kernel_dir##*/} to take the nvme modules from"; return 1; }
	tmp=$(mktemp -d "$lab_cache/unpack.XXXXXX") || return 1
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards "${patterns[@]}" 2>/dev/null
	for m in "${missing[@]}"; do
		f=$(find "$tmp" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -n 1)
		case $f in
		'') rm -rf "$tmp"; lab_fail "module $m not in $deb"; return 1 ;;
		*.xz) xz -dc "$f" >"$tmp/$m.ko.new" ;;
		*.zst) zstd -qdc "$f" >"$tmp/$m.ko.new" ;;
		*) cp "$f" "$tmp/$m.ko.new" ;;
		esac || { rm -rf "$tmp"; lab_fail "cannot decompress $f"; return 1; }
		mv "$tmp/$m.ko.new" "$lab_kernel_dir/modules/$m.ko"
	done
	rm -rf "$tmp"
}

lab_script='
find_dev() { # vendor device -> BDF
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat $d/vendor)" = "$1" ] && [ "$(cat $d/device)" = "$2" ] && { basename $d; return; }
	done
}
drv() { # BDF -> its driver, or none
	if [ -e /sys/bus/pci/devices/$1/driver ]; then basename $(readlink /sys/bus/pci/devices/$1/driver); else echo none; fi
}
snapshot() { # every device with its driver and driver_override
	for d in /sys/bus/pci/devices/*; do
		b=$(basename $d)
		echo "$b $(drv $b) $(cat $d/driver_override)"
	done
}
EDU=$(find_dev 0x1234 0x11e8)
NVME=$(find_dev 0x1b36 0x0010)
lab "edu=$EDU"
lab "nvme=$NVME"
lab "nvme_driver_before=$(drv $NVME)"

# Acceptance 3: the IOMMU on and ok.
"$VMM" host check >/tmp/check.txt
lab "check_exit=$?"
sed "s/^/LAB: note: check: /" /tmp/check.txt >/dev/console
lab "check_iommu=$(sed -n "s/^\([a-zA-Z]*\) *iommu .*/\1/p" /tmp/check.txt)"
"$VMM" host check --json | grep -q "\"name\":\"iommu\",\"verdict\":\"ok\"" && lab "check_json_iommu_ok=1"

# Acceptance 2: every device in the group sysfs says.
"$VMM" host groups --json >/tmp/groups.json
lab "groups_exit=$?"
"$VMM" host groups | sed "s/^/LAB: note: groups: /" >/dev/console
n=0 bad=0
for d in /sys/bus/pci/devices/*; do
	b=$(basename $d)
	want=$(basename $(readlink $d/iommu_group))
	got=$(grep -o "\"bdf\":\"$b\"[^}]*\"group\":[0-9-]*" /tmp/groups.json | sed "s/.*\"group\"://")
	n=$((n + 1))
	[ "$got" = "$want" ] || { bad=$((bad + 1)); lab "note: $b: vmm says group $got, sysfs $want"; }
done
lab "groups_devices=$n"
lab "groups_wrong=$bad"

snapshot >/tmp/before
"$VMM" host bind "$EDU" "$NVME"
lab "bind_exit=$?"
lab "edu_driver_bound=$(drv $EDU)"
lab "nvme_driver_bound=$(drv $NVME)"
snapshot | grep -v -e "^$EDU " -e "^$NVME " >/tmp/during
grep -v -e "^$EDU " -e "^$NVME " /tmp/before | diff - /tmp/during >/dev/null
lab "bind_others_unchanged=$((1 - $?))"
[ -e /dev/vfio/$(basename $(readlink /sys/bus/pci/devices/$NVME/iommu_group)) ] && lab "nvme_vfio_node=1"

"$VMM" host restore
lab "restore_exit=$?"
lab "edu_driver_restored=$(drv $EDU)"
lab "nvme_driver_restored=$(drv $NVME)"
snapshot | diff /tmp/before - | sed "s/^/LAB: note: restore: /" >/dev/console
snapshot | diff /tmp/before - >/dev/null
lab "restore_all_as_before=$((1 - $?))"
[ -e /var/lib/vmm/host-state.json ] || lab "state_file_gone=1"

# Acceptance 4: a scratch copy of the files persist edits, with sys and proc the real ones.
S=/tmp/scratch
mkdir -p $S/etc/default $S/etc/initramfs-tools $S/etc/modprobe.d
ln -s /sys $S/sys
ln -s /proc $S/proc
printf "GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"\"\n" >$S/etc/default/grub
printf "# List of modules that you want to include in your initramfs.\n" >$S/etc/initramfs-tools/modules
echo "options snd_hda_intel power_save=1" >$S/etc/modprobe.d/local.conf
cp -a $S /tmp/scratch.orig
"$VMM" host persist --sysroot $S "$EDU" "$NVME" >/tmp/persist.txt
lab "persist_exit=$?"
sed "s/^/LAB: note: persist: /" /tmp/persist.txt >/dev/console
grep -q "install nvme /bin/sh -c .for d in $NVME; do echo vfio-pci" /tmp/persist.txt && lab "persist_install_rule=1"
grep -q "KERNEL==\"$EDU\", ATTR{driver_override}=\"vfio-pci\"" /tmp/persist.txt && lab "persist_udev_rule=1"
grep -q "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet intel_iommu=on iommu=pt\"" /tmp/persist.txt && lab "persist_grub=1"
"$VMM" host persist --sysroot $S "$EDU" "$NVME" --write >/dev/null
lab "persist_write_exit=$?"
diff -r /tmp/scratch.orig/etc $S/etc >/dev/null
lab "persist_write_changed=$?"
"$VMM" host persist --sysroot $S --rollback --write >/dev/null
lab "persist_rollback_exit=$?"
diff -r /tmp/scratch.orig/etc $S/etc && lab "persist_rollback_identical_content=1"
(cd /tmp/scratch.orig && find . | sort) >/tmp/list.orig
(cd $S && find . | sort) | diff /tmp/list.orig - && lab "persist_rollback_identical_files=1"
'

scenario_check() {
	expect lab edu =~ '^0000:00:[0-9a-f]{2}\.0$'
	expect lab nvme =~ '^0000:00:[0-9a-f]{2}\.0$'
	expect lab nvme_driver_before = nvme
	expect lab check_exit -eq 0
	expect lab check_iommu = ok
	expect lab check_json_iommu_ok = 1
	expect lab groups_exit -eq 0
	expect lab groups_devices -ge 4
	expect lab groups_wrong -eq 0
	expect lab bind_exit -eq 0
	expect lab edu_driver_bound = vfio-pci
	expect lab nvme_driver_bound = vfio-pci
	expect lab bind_others_unchanged = 1
	expect lab nvme_vfio_node = 1
	expect lab restore_exit -eq 0
	expect lab edu_driver_restored = none
	expect lab nvme_driver_restored = nvme
	expect lab restore_all_as_before = 1
	expect lab state_file_gone = 1
	expect lab persist_exit -eq 0
	expect lab persist_install_rule = 1
	expect lab persist_udev_rule = 1
	expect lab persist_grub = 1
	expect lab persist_write_exit -eq 0
	expect lab persist_write_changed -eq 1
	expect lab persist_rollback_exit -eq 0
	expect lab persist_rollback_identical_content = 1
	expect lab persist_rollback_identical_files = 1
}
