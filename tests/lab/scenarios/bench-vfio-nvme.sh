# bench-vfio's nvme half alone (the DMA map at 256 MiB, each reset method
# the kernel offers, the list put back): in CI beside bench-vfio-edu, in
# two lab hosts at once. Everything else is bench-vfio.sh's.

bench_vfio_parts=nvme
# shellcheck source=bench-vfio.sh
. "$lab_dir/scenarios/bench-vfio.sh"
