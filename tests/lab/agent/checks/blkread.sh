# A virtio disk read back, nothing written: the SHA-256 of the first 1 MiB
# of /dev/vda (blk_sha), which the lab filled with a known line; a check
# that costs a second, for scenarios about who runs the vmm (no-root).

check_blkread() {
	load_guest_modules
	if ! wait_for /dev/vda 20; then
		report blk_error "no /dev/vda"
		return
	fi
	report blk_sha "$(head -c 1048576 /dev/vda | sha256sum | cut -d' ' -f1)"
}
