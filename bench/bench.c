// SPDX-License-Identifier: MIT
/*
 * "vmm bench boot": how fast this vmm boots a guest to userspace next to
 * QEMU on the same host, kernel, initrd and command line, and how much
 * memory the vmm itself needs.
 *
 * Each run forks and execs "/proc/self/exe run ..." and then QEMU, reads the
 * child's stdout (the guest's serial console) through a pipe, and times from
 * just before the fork to the first appearance of the guest agent's
 * userspace marker, and to the child's exit. The guest must power itself off
 * (the lab's agent does). Both children's memory is sampled alike, every
 * --sample-ms (10 ms by default), so that the sampling costs both the same.
 *
 * The vmm's guest RAM is a shared memfd mapping, counted in RssShmem; so
 * RssAnon + RssFile is what the vmm needs beyond guest RAM. QEMU's guest RAM
 * is anonymous memory, so only its VmHWM is reported.
 *
 * The option parsing and the running and watching of each child are
 * shared with "vmm bench blk" and "net" (bench_io.c, bench_internal.h).
 */
#include "bench.h"
#include "bench_internal.h"
#include "../core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../vmm/run.h"
#include "../firmware/firmware.h"

static void bench_usage(FILE *to)
{
	fprintf(to,
		"Usage: vmm bench boot --kernel FILE [--initrd FILE] [--cmdline STR]\n"
		"                      [--cpus N] [--memory SIZE] [--qemu PATH]\n"
		"                      [--firmware CODE.fd [--vars VARS.fd]]\n"
		"                      [--runs N] [--timeout SECONDS] [--sample-ms MS]\n"
		"       vmm bench blk --disk IMAGE --kernel FILE --initrd FILE [--seconds S] ...\n"
		"       vmm bench net [--tap NAME] --kernel FILE --initrd FILE [--seconds S] ...\n"
		"       vmm bench vfio --vfio BDF --firmware CODE.fd --kernel FILE --initrd FILE\n"
		"                      [--sizes 1G[,2G...]] [--pages 4k,2m] [--msis N]\n"
		"                      [--strace PATH] [--runs N] ...\n"
		"       vmm bench reset BDF... [--method flr|pm|bus|all] [--cycles N] ...\n"
		"                      (no guest: vmm bench reset --help)\n"
		"\n"
		"boot: boots the guest under this vmm and under QEMU -accel kvm -machine q35,\n"
		"N times each; the guest must print \"" BENCH_MARKER "\" and\n"
		"power off. Times to the kernel's first line (\"" BENCH_KERNEL_MARKER "\",\n"
		"so no 'quiet'), to that marker, and to the exit.\n"
		"With --firmware both boot the kernel through that UEFI firmware, each boot\n"
		"with a fresh copy of the VARS template (default: CODE's name with VARS).\n"
		"Memory is sampled every MS milliseconds (default 10) in both; in an\n"
		"emulated lab host, sampling more often slows both guests down.\n"
		"\n"
		"blk: both VMMs get IMAGE (a raw file; its contents are overwritten) as a\n"
		"virtio-blk disk, and the guest measures sequential 1 MiB and random 4 KiB\n"
		"writes and reads on it with O_DIRECT, S seconds each (default 10).\n"
		"net: makes tap NAME (default vmmbench0; it must not exist; needs\n"
		"CAP_NET_ADMIN) with 10.0.3.1/24, gives it to both VMMs as a virtio-net NIC,\n"
		"and the guest (10.0.3.15) measures TCP to and from this host, S seconds\n"
		"each way. The guest for blk and net is the lab's (tests/lab): its agent\n"
		"runs the iotest program in its initramfs (agent.checks=bench_blk or\n"
		"bench_net, which the benchmark puts first on the command line), and\n"
		"powers off. The figures are what the guest measured; ratio = this vmm's\n"
		"throughput / QEMU's, so 1 or more means at least as fast.\n"
		"\n"
		"vfio: both VMMs get device BDF (bound to vfio-pci: vmm host bind BDF; QEMU's\n"
		"behind a pcie-root-port) and guest RAM of each --sizes (default 1G) in each\n"
		"--pages (default 4k,2m; 2m needs that many free huge pages, see\n"
		"/proc/sys/vm/nr_hugepages), as a shared memfd, booted through the firmware.\n"
		"Each boot runs under strace (the main thread's ioctls and fallocates;\n"
		"strace must be installed), which times the same kernel calls in both:\n"
		"map_ms, the DMA map of guest RAM (VFIO_IOMMU_MAP_DMA or IOMMU_IOAS_MAP,\n"
		"summed); alloc_ms, guest RAM allocated up front (fallocate; this vmm does\n"
		"so for huge pages); ready_ms, both; and every device reset.\n"
		"touch_once_ms is this process writing a byte to each page of as much\n"
		"memory, for scale. Reset: each method in the device's reset_method is\n"
		"made the only one there in turn, both VMMs boot, and the list is put\n"
		"back. With QEMU's edu device (1234:11e8) the guest's vmm_edu module also\n"
		"times reads of its ID register through the directly mapped BAR (and, in\n"
		"one more boot each with mmap=off and x-no-mmap=on, trapped), and N\n"
		"interrupts (--msis, default 64) from the write that raises each to its\n"
		"handler, with the guest's TSC. For vfio, ratio = QEMU's time / this vmm's,\n"
		"so again 1 or more means at least as fast. Its guest is the lab's as well:\n"
		"on a real host, use the vmlinuz and initrd.cpio that tests/lab/bench guest\n"
		"DIR writes out.\n"
		"\n"
		"Each prints medians over the runs (--runs, default 3 for boot, 1 for blk,\n"
		"net and vfio) as one JSON object. In each run both VMMs boot, one after\n"
		"the other; this vmm goes first in odd runs, QEMU in even ones.\n");
}

static const char **bench_opt_slot(struct bench_opts *o, const char *name)
{
	const struct {
		const char *name;
		const char **slot;
	} opts[] = {
		{ "--kernel", &o->kernel }, { "--initrd", &o->initrd },
		{ "--cmdline", &o->cmdline }, { "--cpus", &o->cpus },
		{ "--memory", &o->memory }, { "--qemu", &o->qemu },
		{ "--runs", &o->runs_arg }, { "--timeout", &o->timeout_arg },
		{ "--sample-ms", &o->sample_arg }, { "--firmware", &o->firmware },
		{ "--vars", &o->vars }, { "--disk", &o->disk }, { "--tap", &o->tap },
		{ "--seconds", &o->seconds_arg }, { "--vfio", &o->vfio },
		{ "--strace", &o->strace }, { "--sizes", &o->sizes_arg },
		{ "--pages", &o->pages_arg }, { "--msis", &o->msis_arg },
	};

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (strcmp(name, opts[i].name) == 0)
			return opts[i].slot;
	return NULL;
}

static int bench_parse_count(const char *arg, const char *name, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || v == 0 || v > max) {
		pr_err("bench: %s must be a number from 1 to %u, not '%s'", name, max, arg);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

static bool bench_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

/* argv: "bench", then boot, blk or net, then --option value pairs. */
static int bench_parse(int argc, char **argv, struct bench_opts *o)
{
	static const char *const kinds[] = { [BENCH_BOOT] = "boot", [BENCH_BLK] = "blk",
					     [BENCH_NET] = "net", [BENCH_VFIO] = "vfio" };

	*o = (struct bench_opts){
		.cmdline = "console=ttyS0 quiet panic=-1",
		.cpus = "1",
		.memory = "512M",
		.qemu = "qemu-system-x86_64",
		.runs_arg = "3",
		.timeout_arg = "300",
		.sample_arg = "10",
		.tap = "vmmbench0",
		.seconds_arg = "10",
		.strace = "strace",
		.sizes_arg = "1G",
		.pages_arg = "4k,2m",
		.msis_arg = "64",
	};
	if (argc < 2) {
		pr_err("bench: what to measure? boot, blk, net, vfio or reset (vmm bench --help)");
		return -EINVAL;
	}
	for (o->kind = BENCH_BOOT; o->kind <= BENCH_VFIO; o->kind++)
		if (strcmp(argv[1], kinds[o->kind]) == 0)
			break;
	if (o->kind > BENCH_VFIO) {
		pr_err("bench: no benchmark '%s' (boot, blk, net, vfio or reset; vmm bench --help)",
			argv[1]);
		return -EINVAL;
	}
	if (o->kind != BENCH_BOOT)
		o->runs_arg = "1";
	for (int i = 2; i < argc; i += 2) {
		const char **slot = bench_opt_slot(o, argv[i]);

		if (!slot || i + 1 >= argc) {
			pr_err("bench: %s '%s'", slot ? "no value for" : "unknown option", argv[i]);
			return -EINVAL;
		}
		*slot = argv[i + 1];
	}
	if (!o->kernel) {
		pr_err("bench: --kernel is required");
		return -EINVAL;
	}
	if (o->vars && !o->firmware) {
		pr_err("bench: --vars only with --firmware");
		return -EINVAL;
	}
	if (o->firmware && o->kind != BENCH_BOOT && o->kind != BENCH_VFIO) {
		pr_err("bench: --firmware only with boot or vfio");
		return -EINVAL;
	}
	if ((o->kind == BENCH_VFIO) != (o->vfio != NULL)) {
		pr_err("bench: %s", o->vfio ? "--vfio only with vfio" :
			"vfio needs --vfio BDF, a device bound to vfio-pci (vmm host bind BDF)");
		return -EINVAL;
	}
	if (o->kind == BENCH_VFIO && !o->firmware) {
		pr_err("bench: vfio needs --firmware CODE.fd: both VMMs boot the guest "
			"through OVMF, which maps the device's BARs");
		return -EINVAL;
	}
	if ((o->kind == BENCH_BLK) != (o->disk != NULL)) {
		pr_err("bench: %s", o->disk ? "--disk only with blk" :
			"blk needs --disk IMAGE, a raw image both VMMs use");
		return -EINVAL;
	}
	if (o->kind != BENCH_BOOT && !o->initrd) {
		pr_err("bench: %s needs --initrd: the lab's guest, whose agent runs %s",
			kinds[o->kind], o->kind == BENCH_VFIO ? "vmm_edu" : "iotest");
		return -EINVAL;
	}
	if (o->kind == BENCH_NET && strlen(o->tap) >= IFNAMSIZ) {
		pr_err("bench: --tap %s: longer than %d characters", o->tap, IFNAMSIZ - 1);
		return -EINVAL;
	}
	if (bench_parse_count(o->runs_arg, "--runs", BENCH_MAX_RUNS, &o->runs) ||
	    bench_parse_count(o->timeout_arg, "--timeout", 3600, &o->timeout_s) ||
	    bench_parse_count(o->sample_arg, "--sample-ms", 1000, &o->sample_ms) ||
	    bench_parse_count(o->seconds_arg, "--seconds", 600, &o->seconds) ||
	    bench_parse_count(o->msis_arg, "--msis", 100000, &o->msis))
		return -EINVAL;
	return 0;
}

static double bench_elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) * 1e3 +
	       (double)(now.tv_nsec - since->tv_nsec) / 1e6;
}

/* Starts argv with stdin from /dev/null and stdout into a pipe to us. */
static int bench_spawn(struct bench_child *c, const char *const argv[])
{
	int pipefd[2], err;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	clock_gettime(CLOCK_MONOTONIC, &c->start);
	c->pid = fork();
	if (c->pid < 0) {
		err = -errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return err;
	}
	if (c->pid == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(pipefd[1], STDOUT_FILENO) < 0)
			_exit(127);
		execvp(argv[0], (char *const *)argv);
		pr_err("bench: cannot run %s: %s", argv[0], strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	c->out = pipefd[0];
	c->tail_len = 0;
	c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
	if (c->pidfd < 0) {
		err = -errno;
		kill(c->pid, SIGKILL);
		waitpid(c->pid, NULL, 0);
		close(c->out);
		return err;
	}
	return 0;
}

/* True when the n bytes just added to c->tail complete marker. */
static bool bench_tail_has(const struct bench_child *c, size_t n, const char *marker)
{
	const size_t mlen = strlen(marker);
	size_t from = c->tail_len > n + mlen - 1 ? c->tail_len - n - (mlen - 1) : 0;

	return memmem(c->tail + from, c->tail_len - from, marker, mlen) != NULL;
}

/* Keeps the newest output in c->tail and notes when each marker first shows. */
static void bench_take_output(struct bench_child *c, const char *buf, size_t n,
			      struct bench_sample *s)
{
	if (c->tail_len + n > sizeof(c->tail)) {
		size_t drop = c->tail_len + n - sizeof(c->tail);

		memmove(c->tail, c->tail + drop, c->tail_len - drop);
		c->tail_len -= drop;
	}
	memcpy(c->tail + c->tail_len, buf, n);
	c->tail_len += n;
	if (c->keep_log && c->log_len + n < BENCH_LOG_MAX) {
		if (c->log_len + n + 1 > c->log_cap) {
			size_t cap = c->log_cap ? c->log_cap * 2 : 65536;
			char *log;

			while (cap < c->log_len + n + 1)
				cap *= 2;
			log = realloc(c->log, cap);
			if (!log)
				return; /* the run then lacks its results, and says so */
			c->log = log;
			c->log_cap = cap;
		}
		memcpy(c->log + c->log_len, buf, n);
		c->log_len += n;
		c->log[c->log_len] = '\0';
	}
	if (s->kernel_ms < 0 && bench_tail_has(c, n, BENCH_KERNEL_MARKER))
		s->kernel_ms = bench_elapsed_ms(&c->start);
	if (s->userspace_ms < 0 && bench_tail_has(c, n, BENCH_MARKER))
		s->userspace_ms = bench_elapsed_ms(&c->start);
}

static void bench_read_output(struct bench_child *c, struct bench_sample *s)
{
	char buf[1024];
	ssize_t n = read(c->out, buf, sizeof(buf));

	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
			close(c->out);
			c->out = -1;
		}
		return;
	}
	bench_take_output(c, buf, (size_t)n, s);
}

static long bench_status_kib(const char *status, const char *key)
{
	const char *p = strstr(status, key);

	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* Samples the child's memory from /proc/PID/status (gone once it has exited). */
static void bench_sample_memory(const struct bench_child *c, struct bench_sample *s)
{
	char path[64], status[4096];
	long anon, file, hwm;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)c->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, status, sizeof(status) - 1);
	close(fd);
	if (n <= 0)
		return;
	status[n] = '\0';
	anon = bench_status_kib(status, "\nRssAnon:");
	file = bench_status_kib(status, "\nRssFile:");
	hwm = bench_status_kib(status, "\nVmHWM:");
	if (anon >= 0 && file >= 0 && anon + file > s->rss_beyond_guest_kib)
		s->rss_beyond_guest_kib = (double)(anon + file);
	if (hwm > s->hwm_kib)
		s->hwm_kib = (double)hwm;
}

/*
 * Watches the child until it exits or the time limit passes: output first
 * on each wake-up, so a marker written just before exit still counts.
 * Returns the child's wait status, or -ETIMEDOUT after killing it.
 */
static int bench_watch(struct bench_child *c, const struct bench_opts *o, struct bench_sample *s)
{
	double next_sample = 0;
	int status;

	*s = (struct bench_sample){ .kernel_ms = -1, .userspace_ms = -1, .rss_beyond_guest_kib = -1,
				    .hwm_kib = -1 };
	for (;;) {
		struct pollfd p[2] = { { .fd = c->out, .events = POLLIN },
				       { .fd = c->pidfd, .events = POLLIN } };
		double now = bench_elapsed_ms(&c->start);

		if (now > o->timeout_s * 1e3) {
			kill(c->pid, SIGKILL);
			waitpid(c->pid, NULL, 0);
			return -ETIMEDOUT;
		}
		if (now >= next_sample) {
			bench_sample_memory(c, s);
			next_sample = now + o->sample_ms;
		}
		if (poll(p, 2, (int)o->sample_ms) < 0 && errno != EINTR)
			return -errno;
		if (p[0].revents)
			bench_read_output(c, s);
		if (p[1].revents & POLLIN)
			break;
	}
	s->exit_ms = bench_elapsed_ms(&c->start);
	while (c->out >= 0 && poll(&(struct pollfd){ .fd = c->out, .events = POLLIN }, 1, 0) > 0)
		bench_read_output(c, s);
	if (waitpid(c->pid, &status, 0) < 0)
		return -errno;
	return status;
}

static void bench_close(struct bench_child *c)
{
	if (c->out >= 0)
		close(c->out);
	close(c->pidfd);
}

/* Says why a run does not count, with the child's last output; 0 if it does. */
static int bench_judge(const struct bench_child *c, unsigned run, int status,
		       const struct bench_opts *o, const struct bench_sample *s)
{
	char why[96];

	if (status == -ETIMEDOUT)
		snprintf(why, sizeof(why), "did not exit within the time limit");
	else if (status < 0)
		snprintf(why, sizeof(why), "could not be watched: %s", strerror(-status));
	else if (WIFSIGNALED(status))
		snprintf(why, sizeof(why), "was killed by signal %d", WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0)
		snprintf(why, sizeof(why), "exited with status %d", WEXITSTATUS(status));
	else if (s->userspace_ms < 0)
		snprintf(why, sizeof(why), "exited without printing \"%s\"", BENCH_MARKER);
	else if (s->kernel_ms < 0 && o->kind == BENCH_BOOT)
		snprintf(why, sizeof(why), "exited without printing \"%s\" (a 'quiet' kernel?)",
			 BENCH_KERNEL_MARKER);
	else
		return 0;
	/* The error on its line as every other; the child's words below it, as they came. */
	pr_err("bench: %s, run %u: %s; %s", c->what, run, why,
	       c->tail_len ? "its last output follows" : "no console output");
	if (c->tail_len)
		fprintf(stderr, "%.*s\n", (int)c->tail_len, c->tail);
	return -EIO;
}

int bench_run_child(struct bench_child *c, const char *const argv[], unsigned run,
		    const struct bench_opts *o, struct bench_sample *s)
{
	int err, status;

	err = bench_spawn(c, argv);
	if (err) {
		pr_err("bench: %s, run %u: cannot start %s: %s", c->what, run, argv[0],
			strerror(-err));
		return err;
	}
	status = bench_watch(c, o, s);
	bench_close(c);
	err = bench_judge(c, run, status, o, s);
	/* Progress, and the order the two went in; stdout keeps only the JSON. */
	if (!err)
		fprintf(stderr, "bench: %s, run %u of %u: %.1f s\n", c->what, run, o->runs,
			s->exit_ms / 1e3);
	return err;
}

void bench_child_free(struct bench_child *c)
{
	free(c->log);
	c->log = NULL;
	c->log_len = c->log_cap = 0;
}

static int bench_boot_once(const char *what, const char *const argv[], unsigned run,
			   const struct bench_opts *o, struct bench_sample *s)
{
	struct bench_child c = { .what = what };

	return bench_run_child(&c, argv, run, o, s);
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sorts v. */
double bench_median_of(double *v, unsigned n)
{
	qsort(v, n, sizeof(v[0]), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median of field (an offset into struct bench_sample) over n samples. */
static double bench_median(const struct bench_sample *s, unsigned n, size_t field)
{
	double v[BENCH_MAX_RUNS];

	for (unsigned i = 0; i < n; i++)
		v[i] = *(const double *)((const char *)&s[i] + field);
	return bench_median_of(v, n);
}

#define BENCH_MEDIAN(s, n, field) bench_median(s, n, offsetof(struct bench_sample, field))

json_t *bench_json_num(double v, int decimals)
{
	char buf[512]; /* DBL_MAX has 309 digits */

	if (!isfinite(v))
		return json_null();
	snprintf(buf, sizeof(buf), "%.*f", decimals, v);
	return decimals ? json_real(strtod(buf, NULL)) : json_integer(strtoll(buf, NULL, 10));
}

json_t *bench_json_cpus(const char *cpus)
{
	char *end;
	unsigned long n = strtoul(cpus, &end, 10);

	return cpus[0] >= '0' && cpus[0] <= '9' && !*end ? json_integer((json_int_t)n) :
	       json_string(cpus);
}

void bench_json_set(json_t **obj, const char *key, json_t *v)
{
	/* With *obj NULL, jansson drops v. */
	if (json_object_set_new(*obj, key, v)) {
		json_decref(*obj);
		*obj = NULL;
	}
}

int bench_json_print(json_t *root)
{
	/* 15 digits: what bench_json_num() rounded prints as printf printed it. */
	char *s = root ? json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;

	json_decref(root);
	if (!s) {
		pr_err("bench: out of memory for the JSON result");
		return -ENOMEM;
	}
	puts(s);
	fflush(stdout);
	free(s);
	return 0;
}

static int bench_print(const struct bench_opts *o, const struct bench_sample *vmm,
		       const struct bench_sample *qemu)
{
	double vmm_k = BENCH_MEDIAN(vmm, o->runs, kernel_ms);
	double qemu_k = BENCH_MEDIAN(qemu, o->runs, kernel_ms);
	double vmm_us = BENCH_MEDIAN(vmm, o->runs, userspace_ms);
	double qemu_us = BENCH_MEDIAN(qemu, o->runs, userspace_ms);

	return bench_json_print(json_pack(
		"{s:s, s:b, s:I, s:I, s:{s:o, s:o, s:o, s:o, s:o}, s:{s:o, s:o, s:o, s:o}, s:o, s:o}",
		"bench", "boot", "firmware", o->firmware != NULL, "runs", (json_int_t)o->runs,
		"sample_ms", (json_int_t)o->sample_ms,
		"vmm", "kernel_ms", bench_json_num(vmm_k, 1), "userspace_ms", bench_json_num(vmm_us, 1),
		"exit_ms", bench_json_num(BENCH_MEDIAN(vmm, o->runs, exit_ms), 1),
		"peak_rss_beyond_guest_kib",
		bench_json_num(BENCH_MEDIAN(vmm, o->runs, rss_beyond_guest_kib), 0),
		"vm_hwm_kib", bench_json_num(BENCH_MEDIAN(vmm, o->runs, hwm_kib), 0),
		"qemu", "kernel_ms", bench_json_num(qemu_k, 1),
		"userspace_ms", bench_json_num(qemu_us, 1),
		"exit_ms", bench_json_num(BENCH_MEDIAN(qemu, o->runs, exit_ms), 1),
		"vm_hwm_kib", bench_json_num(BENCH_MEDIAN(qemu, o->runs, hwm_kib), 0),
		"ratio_kernel", bench_json_num(vmm_k / qemu_k, 3),
		"ratio_userspace", bench_json_num(vmm_us / qemu_us, 3)));
}

/* A fresh copy of the VARS template for the next boot, so every boot starts alike. */
int bench_fresh_vars(const struct bench_opts *o)
{
	int err;

	if (!o->firmware)
		return 0;
	err = copy_file_durably(o->vars, o->vars_copy);
	if (err)
		pr_err("bench: cannot copy %s to %s: %s", o->vars, o->vars_copy,
			strerror(-err));
	return err;
}

/* Without --vars, the VARS template next to CODE. */
static int bench_vars_template(struct bench_opts *o, char *buf, size_t len)
{
	if (o->vars)
		return 0;
	if (!ovmf_vars_template(o->firmware, buf, len)) {
		pr_err("bench: --firmware %s: no CODE in its name to find VARS by; "
			"give --vars", o->firmware);
		return -EINVAL;
	}
	o->vars = buf;
	return 0;
}

void bench_args(const char **argv, unsigned *n, ...)
{
	va_list ap;
	const char *a;

	va_start(ap, n);
	while ((a = va_arg(ap, const char *)) && *n + 1 < BENCH_MAX_ARGS)
		argv[(*n)++] = a;
	va_end(ap);
	argv[*n] = NULL;
}

static int bench_runs(const struct bench_opts *o, struct bench_sample *vmm,
		      struct bench_sample *qemu)
{
	const char *vars_copy = o->vars_copy;
	char qemu_code[4200], qemu_vars[4200];
	const char *vmm_argv[BENCH_MAX_ARGS], *qemu_argv[BENCH_MAX_ARGS];
	unsigned nv = 0, nq = 0;

	bench_args(vmm_argv, &nv, "/proc/self/exe", "run", "--cpus", o->cpus, "--memory",
		   o->memory, "--kernel", o->kernel, "--cmdline", o->cmdline, NULL);
	bench_args(qemu_argv, &nq, o->qemu, "-accel", "kvm", "-machine", "q35", "-cpu", "host",
		   "-smp", o->cpus, "-m", o->memory, "-nodefaults", "-nographic", "-no-reboot",
		   "-serial", "stdio", "-kernel", o->kernel, "-append", o->cmdline, NULL);
	if (o->initrd) {
		bench_args(vmm_argv, &nv, "--initrd", o->initrd, NULL);
		bench_args(qemu_argv, &nq, "-initrd", o->initrd, NULL);
	}
	if (o->firmware) {
		snprintf(qemu_code, sizeof(qemu_code),
			 "if=pflash,format=raw,unit=0,readonly=on,file=%s", o->firmware);
		snprintf(qemu_vars, sizeof(qemu_vars), "if=pflash,format=raw,unit=1,file=%s",
			 vars_copy);
		bench_args(vmm_argv, &nv, "--firmware", o->firmware, "--vars", vars_copy, NULL);
		bench_args(qemu_argv, &nq, "-drive", qemu_code, "-drive", qemu_vars, NULL);
	}

	/* In turn, the first of each pair swapping: see bench_qemu_first(). */
	for (unsigned i = 0; i < o->runs; i++) {
		for (unsigned k = 0; k < 2; k++) {
			bool q = k ^ bench_qemu_first(i);

			if (bench_fresh_vars(o) ||
			    bench_boot_once(q ? "qemu" : "vmm", q ? qemu_argv : vmm_argv, i + 1, o,
					    q ? &qemu[i] : &vmm[i]))
				return 1;
		}
	}
	return 0;
}

int bench_main(int argc, char **argv)
{
	static struct bench_sample vmm[BENCH_MAX_RUNS], qemu[BENCH_MAX_RUNS];
	char tmpl[4200], vars_copy[4200] = "";
	struct bench_opts o;
	int ret;

	/* Its own options and help: it boots nothing. */
	if (argc >= 2 && !strcmp(argv[1], "reset"))
		return bench_reset_main(argc - 1, argv + 1);
	if (bench_wants_help(argc, argv)) {
		bench_usage(stdout);
		return 0;
	}
	/* Bad usage exits 2, as for every other command; a failed benchmark 1. */
	if (bench_parse(argc, argv, &o))
		return 2;
	if (o.kind == BENCH_BLK || o.kind == BENCH_NET)
		return bench_io_main(&o);
	if (o.firmware) {
		const char *dir = getenv("TMPDIR");
		int fd;

		if (bench_vars_template(&o, tmpl, sizeof(tmpl)))
			return 2;
		snprintf(vars_copy, sizeof(vars_copy), "%s/vmm-bench-vars.XXXXXX",
			 dir && dir[0] ? dir : "/tmp");
		fd = mkstemp(vars_copy);
		if (fd < 0) {
			pr_err("bench: cannot make %s: %s", vars_copy, strerror(errno));
			return 1;
		}
		close(fd);
		o.vars_copy = vars_copy;
	}
	ret = o.kind == BENCH_VFIO ? bench_vfio_main(&o) : bench_runs(&o, vmm, qemu);
	if (vars_copy[0])
		unlink(vars_copy);
	if (ret)
		return ret; /* an exit status already: 2 for vfio's own bad usage */
	if (o.kind == BENCH_BOOT && bench_print(&o, vmm, qemu))
		return 1;
	return 0;
}
