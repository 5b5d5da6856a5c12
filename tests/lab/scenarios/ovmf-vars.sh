# UEFI variables persist in the --vars file, and survive a kill -9: run 1
# sets a variable through efivarfs, and the moment the guest says the write
# returned, the VMM is killed with SIGKILL; run 2, on the same VARS file,
# reads the variable back. A third run has the VARS file on a read-only
# mount: the VMM says so and the firmware still boots the guest.

efivar_value=lab$(date +%s%N)
lab_needs_ovmf=1
lab_timeout=1200
guest_checks=efivar
lab_vars=("EFIVAR_VALUE=$efivar_value")
lab_script='
fw="--firmware /usr/share/OVMF/OVMF_CODE_4M.fd"
cp /usr/share/OVMF/OVMF_VARS_4M.fd /tmp/vars.fd
"$VMM" run --cpus 1 --memory 512M $fw --vars /tmp/vars.fd \
	--kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
	--cmdline "$GUEST_CMDLINE agent.efivar=write:$EFIVAR_VALUE agent.end=wait" \
	</dev/null >/tmp/run1.log 2>&1 &
pid=$!
wait_line /tmp/run1.log "VMM-AGENT: efivar_written=" $pid
kill -9 $pid
wait $pid
lab "run1_exit=$?"
cat /tmp/run1.log
lab_timed run2 "$VMM" run --cpus 1 --memory 512M $fw --vars /tmp/vars.fd \
	--kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
	--cmdline "$GUEST_CMDLINE agent.efivar=read"
mkdir -p /ro
mount -t tmpfs -o size=2m tmpfs /ro
cp /tmp/vars.fd /ro/vars.fd
mount -o remount,ro /ro
"$VMM" run --cpus 1 --memory 512M $fw --vars /ro/vars.fd \
	--kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
	--cmdline "$GUEST_CMDLINE agent.efivar=read" </dev/null >/tmp/run3.log 2>&1
lab "run3_exit=$?"
grep -q "vars.fd: not writable" /tmp/run3.log && lab ro_vars_said=1
grep -q "VMM-AGENT: done" /tmp/run3.log && lab ro_vars_booted=1
sed -n "s/^VMM-AGENT: efivar_read=/LAB: ro_efivar_read=/p" /tmp/run3.log
'

scenario_check() {
	expect agent efivar_written -eq 1
	expect lab run1_exit -eq 137
	expect agent efivar_read = "$efivar_value"
	expect lab run2_exit -eq 0
	expect lab run3_exit -eq 0
	expect lab ro_vars_said -eq 1
	expect lab ro_vars_booted -eq 1
	expect lab ro_efivar_read = "$efivar_value"
}
