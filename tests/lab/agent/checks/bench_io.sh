# The guest half of "vmm bench blk" and "vmm bench net": runs /usr/bin/iotest
# and reports each of its JSON lines as iotest={...}, which the benchmark
# collects from the console. agent.bench_seconds=S (default 10) per line.
#
#   bench_blk  on /dev/vda (the whole disk; the data on it is overwritten):
#              sequential 1 MiB write and read, random 4 KiB write and read
#   bench_net  eth0 takes 10.0.3.15/24 and agent.net=HOST (default 10.0.3.1):
#              guest -> host to HOST:5201, then host -> guest on port 5202

bench_seconds() {
	cmdline_param agent.bench_seconds 10
}

# iotest ARGS...: one result line, or bench_error with what iotest said.
bench_iotest() {
	if out=$(/usr/bin/iotest "$@" 2>/tmp/iotest.err); then
		report iotest "$out"
	else
		report bench_error "iotest $*: $(tail -n 1 /tmp/iotest.err)"
	fi
}

check_bench_blk() {
	s=$(bench_seconds)
	load_guest_modules
	if ! wait_for /dev/vda 20; then
		report bench_error "no /dev/vda"
		return
	fi
	# Writes first, so that the reads find written blocks, not holes.
	bench_iotest blk /dev/vda seq-write 1M --seconds "$s"
	bench_iotest blk /dev/vda seq-read 1M --seconds "$s"
	bench_iotest blk /dev/vda rand-write 4K --seconds "$s"
	bench_iotest blk /dev/vda rand-read 4K --seconds "$s"
}

check_bench_net() {
	s=$(bench_seconds)
	host=$(cmdline_param agent.net 10.0.3.1)
	load_guest_modules
	if ! wait_for /sys/class/net/eth0 20; then
		report bench_error "no eth0"
		return
	fi
	ip addr add 10.0.3.15/24 dev eth0
	ip link set eth0 up
	bench_iotest tcp-send "$host" 5201 --seconds "$s"
	bench_iotest tcp-recv 5202
}
