/* SPDX-License-Identifier: MIT */
#ifndef BENCH_BENCH_INTERNAL_H
#define BENCH_BENCH_INTERNAL_H

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

enum bench_kind { BENCH_BOOT, BENCH_BLK, BENCH_NET, BENCH_VFIO };

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
	const char *vfio;        /* vfio: the device both VMMs get */
	const char *strace;      /* vfio: the observer of both */
	const char *sizes_arg;   /* vfio: guest RAM sizes to map, "1G,2G" */
	const char *pages_arg;   /* vfio: their page sizes, "4k,2m" */
	const char *msis_arg;    /* vfio: interrupts the guest times */
	const char *vars_copy;   /* with firmware: refreshed from vars before every boot */
	unsigned runs;
	unsigned timeout_s;
	unsigned sample_ms;
	unsigned seconds;
	unsigned msis;
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

/*
 * Whether QEMU boots before this vmm in run i (from 0). The two take
 * turns within a run and swap who goes first from one run to the next:
 * with a fixed order, whatever the first boot of a pair meets (a page
 * cache the other has not filled yet, memory just freed, a disk image
 * still being written back) would always fall on the same VMM.
 */
static inline bool bench_qemu_first(unsigned i)
{
	return i & 1;
}

/* A fresh copy of the VARS template in o->vars_copy (with firmware); 0 or -errno, said. */
int bench_fresh_vars(const struct bench_opts *o);

/*
 * The result, one JSON object on one line of stdout (bench.c). A figure
 * is rounded to decimals as "%.*f" would print it (0: an integer), and is
 * null when it is no number (a ratio over nothing). Objects keep the order
 * their keys went in.
 */
struct json_t;
struct json_t *bench_json_num(double v, int decimals);
/* --cpus as given to both VMMs: a JSON number when it is one, else a string. */
struct json_t *bench_json_cpus(const char *cpus);
/* Sets key in *obj; on failure drops both and leaves *obj NULL. */
void bench_json_set(struct json_t **obj, const char *key, struct json_t *v);
/* Prints root and drops it: 0, or -ENOMEM said (root NULL: building it ran out). */
int bench_json_print(struct json_t *root) __attribute__((warn_unused_result));

/* bench_io.c: "blk" and "net"; the process exit status. */
int bench_io_main(const struct bench_opts *o);

/* bench_vfio.c: "vfio"; the process exit status. */
int bench_vfio_main(const struct bench_opts *o);

/* One line of `strace -y -T -e trace=ioctl,fallocate`, as vmm bench vfio counts it. */
enum bench_strace_call {
	BENCH_STRACE_OTHER, BENCH_STRACE_MAP, BENCH_STRACE_RESET, BENCH_STRACE_ALLOC,
};

/*
 * MAP: a VFIO_IOMMU_MAP_DMA on the type1 container or an IOMMU_IOAS_MAP on
 * /dev/iommu; RESET: a VFIO_DEVICE_RESET or VFIO_DEVICE_PCI_HOT_RESET on a
 * device; ALLOC: a fallocate (guest RAM allocated up front); each only when
 * it returned 0, with its duration in *ms.
 */
enum bench_strace_call bench_strace_line(const char *line, double *ms);

#endif
