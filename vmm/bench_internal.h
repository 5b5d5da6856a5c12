/* SPDX-License-Identifier: MIT */
#ifndef VMM_BENCH_INTERNAL_H
#define VMM_BENCH_INTERNAL_H

/*
 * What bench.c (the options, running and watching a VMM, "boot") shares
 * with bench_io.c ("blk" and "net").
 */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define BENCH_MARKER "VMM-AGENT: userspace-start"
#define BENCH_KERNEL_MARKER "Linux version " /* the kernel's first console line */
#define BENCH_MAX_RUNS 100
#define BENCH_TAIL 2048
#define BENCH_MAX_ARGS 48

enum bench_kind { BENCH_BOOT, BENCH_BLK, BENCH_NET };

struct bench_opts {
	enum bench_kind kind;
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	const char *cpus;
	const char *memory;
	const char *qemu;
	const char *runs_arg;
	const char *timeout_arg;
	const char *sample_arg;
	const char *firmware;
	const char *vars; /* the VARS template, copied afresh for every boot */
	const char *disk;        /* blk: the raw image both VMMs use */
	const char *tap;         /* net: the tap the benchmark makes for both */
	const char *seconds_arg; /* blk, net: per measurement */
	unsigned runs;
	unsigned timeout_s;
	unsigned sample_ms;
	unsigned seconds;
};

/* One boot under one VMM. */
struct bench_sample {
	double kernel_ms;            /* < 0 while the kernel has printed nothing */
	double userspace_ms;         /* < 0 while the marker has not appeared */
	double exit_ms;
	double rss_beyond_guest_kib; /* peak of RssAnon + RssFile */
	double hwm_kib;              /* VmHWM, last seen before exit */
};

/* A child being timed. */
struct bench_child {
	const char *what;          /* "vmm" or "qemu", for messages */
	pid_t pid;
	int pidfd;                 /* readable once the child has exited */
	int out;                   /* its stdout; -1 after EOF */
	struct timespec start;
	/* The latest output: finds a marker split across reads, explains failures. */
	char tail[BENCH_TAIL];
	size_t tail_len;
	/* With keep_log, all of it (up to BENCH_LOG_MAX), NUL-terminated. */
	bool keep_log;
	char *log;
	size_t log_len, log_cap;
};

#define BENCH_LOG_MAX (8u << 20)

/*
 * Runs argv to its exit (or the time limit) as c->what, watching its
 * output and memory into *s; 0 when it counts (exit 0, the userspace
 * marker seen, and for "boot" the kernel's first line too), else -errno
 * with why and its last output on stderr. The child's output stays in
 * c->log when c->keep_log; bench_child_free() releases it.
 */
int bench_run_child(struct bench_child *c, const char *const argv[], unsigned run,
		    const struct bench_opts *o, struct bench_sample *s);
void bench_child_free(struct bench_child *c);

/* Appends the args (up to a NULL) to argv, which holds *n and stays NULL-terminated. */
void bench_args(const char **argv, unsigned *n, ...);

double bench_median_of(double *v, unsigned n);

/* bench_io.c: "blk" and "net"; the process exit status. */
int bench_io_main(const struct bench_opts *o);

#endif
