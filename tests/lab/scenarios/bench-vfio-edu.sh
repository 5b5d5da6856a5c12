# bench-vfio's edu half alone (its guest RAM sizes, 4 KiB and 2 MiB pages,
# BAR reads direct and trapped, MSI): in CI beside bench-vfio-nvme, in two
# lab hosts at once. Everything else is bench-vfio.sh's.

bench_vfio_parts=edu
# shellcheck source=bench-vfio.sh
. "$lab_dir/scenarios/bench-vfio.sh"
