/* SPDX-License-Identifier: MIT */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

/*
 * "vmm bench boot|blk|net ...": boots the same guest under this vmm and
 * under QEMU (-accel kvm) and prints one JSON object comparing the two:
 * boot times (bench.c), or the guest's disk and TCP throughput
 * (bench_io.c). argv[0] is "bench". Returns the process exit status: 0;
 * 2 for bad usage, 1 for a benchmark that failed, with a "vmm: error:"
 * line on stderr as every command says it. Meant to run inside the lab host
 * (tests/lab/scenarios/bench-*.sh).
 */
int bench_main(int argc, char **argv);

/*
 * "vmm bench reset BDF... [options]" (bench_reset.c): argv[0] is "reset".
 * Resets the functions over and over with each method and reports the
 * times; no guest, no QEMU. The same exit statuses.
 */
int bench_reset_main(int argc, char **argv);

#endif
