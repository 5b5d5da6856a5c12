// SPDX-License-Identifier: MIT
/*
 * "vmm bench reset BDF...": resets passed-through functions over and over,
 * method by method, and reports how long each reset takes and whether the
 * function came back (the loop: reset_loop.c). This file is the command
 * line, SIGINT, and the report: a table, JSON, and a plot through gnuplot.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "bench_internal.h"
#include "reset_loop.h"
#include "../core/log.h"

/* The kernel waits this long after starting an FLR before it touches the function again. */
#define KERNEL_FLR_WAIT_MS 100.0

struct reset_opts {
	const char *method;
	const char *cycles_arg;
	const char *wait_arg;
	const char *iommu;
	const char *plot;
	bool json;
};

static void reset_usage(FILE *to)
{
	fprintf(to,
		"Usage: vmm bench reset BDF... [--method flr|pm|bus|all] [--cycles N]\n"
		"                       [--probe SPEC]... [--wait MS] [--vfio-iommu auto|type1|iommufd]\n"
		"                       [--json] [--plot FILE.svg|FILE.png]\n"
		"\n"
		"Resets PCI functions bound to vfio-pci (vmm host bind BDF) N times (--cycles,\n"
		"default 10) with each reset method the kernel offers for them (--method, default\n"
		"all; flr also takes af_flr), and times each reset: the ioctl, and until the\n"
		"function is back: its config space (read through VFIO) no longer all ones, the\n"
		"command register and BARs as before the first reset, its PCIe link up, no new\n"
		"AER errors, and the probes reading what they should. A function that is not\n"
		"back MS milliseconds after the ioctl (--wait, default 1000) ends that method,\n"
		"naming the cycle and what it read. No guest is needed.\n"
		"\n"
		"flr, pm and the kernel's other per-function methods: reset_method in sysfs is\n"
		"narrowed to that method alone for the method's cycles and put back after them\n"
		"(also on failure and on Ctrl-C), and each cycle is a VFIO_DEVICE_RESET of each\n"
		"BDF. bus: a VFIO_DEVICE_PCI_HOT_RESET of the first BDF's bus or slot; every\n"
		"function it resets must be given (the functions of a GPU and its audio, say).\n"
		"\n"
		"--probe SPEC, up to 8, on the first BDF's BARs, 32 bits at a 4-aligned offset:\n"
		"  barN+OFF=VALUE              reads the register, wants VALUE\n"
		"  barN+OFF:w=VALUE,r=EXPECT   writes VALUE, then reads it back, wants EXPECT\n"
		"  e.g. QEMU's edu: bar0+0x0=0x010000ed (its ID), bar0+0x4:w=0x5a5aa5a5,r=0xa5a55a5a\n"
		"  (it answers a write to 0x4 with the bits inverted).\n"
		"\n"
		"Prints per method min, median, p99 and max of both times, cycles and failures:\n"
		"a table, or with --json one JSON object (the table then goes to stderr) with\n"
		"every cycle's times and the host's kernel. --plot draws the time-to-back of each\n"
		"method with gnuplot (gnuplot-nox). Exit status: 0 when every cycle came back,\n"
		"1 otherwise, 2 for a bad command line.\n");
}

static volatile sig_atomic_t reset_stop;

static void reset_on_sigint(int sig)
{
	(void)sig;
	reset_stop = 1;
}

/* ---- The command line ---- */

static int reset_count(const char *arg, const char *name, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || arg[0] == '-' || v == 0 || v > max) {
		pr_err("bench reset: %s must be a number from 1 to %u, not '%s'", name, max, arg);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

static bool reset_have_gnuplot(void)
{
	const char *path = getenv("PATH");
	char copy[4096], file[4200], *save = NULL;

	snprintf(copy, sizeof(copy), "%s", path && *path ? path : "/usr/bin:/bin");
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(file, sizeof(file), "%s/gnuplot", d);
		if (!access(file, X_OK))
			return true;
	}
	return false;
}

/* An option and its value; 1 when it took the value too, 0 for a flag, -EINVAL. */
static int reset_option(struct bench_reset *b, struct reset_opts *o, const char *opt,
			const char *val)
{
	const struct { const char *name; const char **slot; } opts[] = {
		{ "--method", &o->method }, { "--cycles", &o->cycles_arg },
		{ "--wait", &o->wait_arg }, { "--vfio-iommu", &o->iommu }, { "--plot", &o->plot },
	};
	char why[256];

	if (!strcmp(opt, "--json")) {
		o->json = true;
		return 0;
	}
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		if (strcmp(opt, opts[i].name))
			continue;
		if (!val) {
			pr_err("bench reset: no value for '%s'", opt);
			return -EINVAL;
		}
		*opts[i].slot = val;
		return 1;
	}
	if (strcmp(opt, "--probe")) {
		pr_err("bench reset: unknown option '%s' (vmm bench reset --help)", opt);
		return -EINVAL;
	}
	if (!val || b->nr_probes == BENCH_RESET_MAX_PROBES) {
		pr_err("bench reset: %s", val ? "at most 8 --probe" : "no value for '--probe'");
		return -EINVAL;
	}
	if (bench_reset_probe_parse(val, &b->probe[b->nr_probes], why, sizeof(why))) {
		pr_err("bench reset: %s", why);
		return -EINVAL;
	}
	b->nr_probes++;
	return 1;
}

static int reset_bdf(struct bench_reset *b, const char *arg)
{
	char bdf[HOST_BDF_LEN];

	if (host_parse_bdf(arg, bdf)) {
		pr_err("bench reset: '%s' is not a PCI address (DDDD:BB:DD.F, as lspci -D shows)", arg);
		return -EINVAL;
	}
	for (unsigned i = 0; i < b->nr_devs; i++)
		if (!strcmp(b->dev[i].bdf, bdf)) {
			pr_err("bench reset: %s given twice", bdf);
			return -EINVAL;
		}
	if (b->nr_devs == BENCH_RESET_MAX_DEVS) {
		pr_err("bench reset: at most %d functions", BENCH_RESET_MAX_DEVS);
		return -EINVAL;
	}
	snprintf(b->dev[b->nr_devs++].bdf, HOST_BDF_LEN, "%s", bdf);
	return 0;
}

static int reset_check_opts(struct bench_reset *b, const struct reset_opts *o)
{
	static const char *const iommus[] = { "auto", "type1", "iommufd" };
	static const char *const methods[] = { "flr", "pm", "bus", "all" };
	const char *ext = o->plot ? strrchr(o->plot, '.') : NULL;
	unsigned wait_ms;
	bool known = false;

	if (!b->nr_devs) {
		pr_err("bench reset: which function? give its PCI address, as in vmm bench reset "
			"0000:01:00.0 (lspci -D lists them)");
		return -EINVAL;
	}
	for (unsigned i = 0; i < 4; i++)
		known = known || !strcmp(o->method, methods[i]);
	if (!known) {
		pr_err("bench reset: --method '%s': flr, pm, bus or all", o->method);
		return -EINVAL;
	}
	for (b->iommu = 0; b->iommu < 3; b->iommu++)
		if (!strcmp(o->iommu, iommus[b->iommu]))
			break;
	if (b->iommu == 3) {
		pr_err("bench reset: --vfio-iommu '%s': auto, type1 or iommufd", o->iommu);
		return -EINVAL;
	}
	if (reset_count(o->cycles_arg, "--cycles", BENCH_RESET_MAX_CYCLES, &b->cycles) ||
	    reset_count(o->wait_arg, "--wait", 600000, &wait_ms))
		return -EINVAL;
	b->wait_ms = wait_ms;
	if (o->plot && (!ext || (strcmp(ext, ".svg") && strcmp(ext, ".png")))) {
		pr_err("bench reset: --plot %s: the name ends in .svg or .png", o->plot);
		return -EINVAL;
	}
	return 0;
}

/* argv: "reset", then BDFs and options in any order. */
static int reset_parse(int argc, char **argv, struct bench_reset *b, struct reset_opts *o)
{
	*o = (struct reset_opts){ .method = "all", .cycles_arg = "10", .wait_arg = "1000",
				  .iommu = "auto" };
	for (int i = 1; i < argc; i++) {
		int took;

		if (strncmp(argv[i], "--", 2)) {
			if (reset_bdf(b, argv[i]))
				return -EINVAL;
			continue;
		}
		took = reset_option(b, o, argv[i], i + 1 < argc ? argv[i + 1] : NULL);
		if (took < 0)
			return -EINVAL;
		i += took;
	}
	return reset_check_opts(b, o);
}

/* ---- The report ---- */

static void reset_table(FILE *to, const struct bench_reset *b)
{
	fprintf(to, "%-8s %6s %4s | %-31s | %-31s\n", "method", "cycles", "fail",
		"ioctl ms: min median p99 max", "back ms: min median p99 max");
	for (unsigned i = 0; i < b->nr_methods; i++) {
		const struct bench_reset_method *m = &b->m[i];

		fprintf(to, "%-8s %6u %4u | %7.2f %7.2f %7.2f %7.2f | %7.2f %7.2f %7.2f %7.2f%s\n",
			m->name, m->done, m->failed_cycle ? 1 : 0, m->ioctl.min, m->ioctl.median,
			m->ioctl.p99, m->ioctl.max, m->back.min, m->back.median, m->back.p99,
			m->back.max, m->interrupted ? "  (interrupted)" : "");
	}
	for (unsigned i = 0; i < b->nr_methods; i++) {
		const struct bench_reset_method *m = &b->m[i];

		if ((!strcmp(m->name, "flr") || !strcmp(m->name, "af_flr")) && m->done)
			fprintf(to, "note: %s: median %.2f ms back, %.2f ms above the %.0f ms the "
				"kernel waits after starting an FLR\n", m->name, m->back.median,
				m->back.median - KERNEL_FLR_WAIT_MS, KERNEL_FLR_WAIT_MS);
		if (m->failed_cycle)
			fprintf(to, "failed: %s\n", m->failure);
	}
}

static json_t *reset_stats_json(const struct bench_reset_stats *s)
{
	return json_pack("{s:o, s:o, s:o, s:o}", "min", bench_json_num(s->n ? s->min : NAN, 3),
			 "median", bench_json_num(s->n ? s->median : NAN, 3),
			 "p99", bench_json_num(s->n ? s->p99 : NAN, 3),
			 "max", bench_json_num(s->n ? s->max : NAN, 3));
}

static json_t *reset_samples_json(const double *v, unsigned n)
{
	json_t *a = json_array();

	for (unsigned i = 0; i < n; i++)
		json_array_append_new(a, bench_json_num(v[i], 3));
	return a;
}

static json_t *reset_method_json(const struct bench_reset_method *m)
{
	json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:b, s:o, s:o, s:o, s:o}", "method", m->name,
			      "ioctl", m->hot ? "VFIO_DEVICE_PCI_HOT_RESET" : "VFIO_DEVICE_RESET",
			      "cycles", (json_int_t)m->done,
			      "failures", (json_int_t)(m->failed_cycle ? 1 : 0),
			      "interrupted", m->interrupted,
			      "ioctl_ms", reset_stats_json(&m->ioctl),
			      "back_ms", reset_stats_json(&m->back),
			      "ioctl_ms_samples", reset_samples_json(m->ioctl_ms, m->done),
			      "back_ms_samples", reset_samples_json(m->back_ms, m->done));

	if (m->failed_cycle) {
		bench_json_set(&j, "failed_cycle", json_integer(m->failed_cycle));
		bench_json_set(&j, "failure", json_string(m->failure));
	}
	if ((!strcmp(m->name, "flr") || !strcmp(m->name, "af_flr")) && m->done)
		bench_json_set(&j, "back_over_kernel_wait_ms",
			       bench_json_num(m->back.median - KERNEL_FLR_WAIT_MS, 3));
	return j;
}

static int reset_json(const struct bench_reset *b, const struct reset_opts *o)
{
	json_t *devs = json_array(), *methods = json_array(), *probes = json_array();
	struct utsname u;

	for (unsigned i = 0; i < b->nr_devs; i++) {
		const struct bench_reset_dev *v = &b->dev[i];

		/* reset_method as the kernel listed it, and as it is again afterwards. */
		json_array_append_new(devs, json_pack("{s:s, s:s, s:i, s:b, s:b}", "bdf", v->bdf,
						      "reset_method", v->methods, "iommu_group",
						      v->group, "link", v->has_link, "aer",
						      v->aer != 0));
	}
	for (unsigned i = 0; i < b->nr_probes; i++)
		json_array_append_new(probes, json_string(b->probe[i].spec));
	for (unsigned i = 0; i < b->nr_methods; i++)
		json_array_append_new(methods, reset_method_json(&b->m[i]));
	if (uname(&u))
		snprintf(u.release, sizeof(u.release), "unknown");
	return bench_json_print(json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:o, s:o, s:o}",
		"bench", "reset", "kernel", u.release, "iommu", vfio_iommu_name(&b->c),
		"cycles", (json_int_t)b->cycles, "wait_ms", (json_int_t)b->wait_ms,
		"method_asked", o->method, "devices", devs, "probes", probes, "methods", methods));
}

/* Runs argv with stdout and stdin on /dev/null; its exit status, or -errno. */
static int reset_spawn(const char *const argv[])
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0)
			_exit(127);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/*
 * The data, a block per method with cycles back (gnuplot's index: an empty
 * block would stop its boxplot), and the script, in dir; -ENODATA: none.
 */
static int reset_plot_files(const struct bench_reset *b, const char *dir, const char *plot)
{
	char path[4200];
	bool svg = !strcmp(strrchr(plot, '.'), ".svg");
	unsigned n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/data", dir);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	for (unsigned i = 0; i < b->nr_methods; i++) {
		for (unsigned c = 0; c < b->m[i].done; c++)
			fprintf(f, "%u %.4f %.4f\n", c + 1, b->m[i].back_ms[c], b->m[i].ioctl_ms[c]);
		if (b->m[i].done)
			fprintf(f, "\n\n"); /* two blank lines end a block */
	}
	fclose(f);
	snprintf(path, sizeof(path), "%s/plot.gp", dir);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	fprintf(f, "set terminal %s size 900,540\nset output '%s'\n", svg ? "svg" : "png", plot);
	fprintf(f, "set title 'vmm bench reset %s: time until the function is back'\n", b->dev[0].bdf);
	fprintf(f, "set ylabel 'ms'\nset style data boxplot\nset style boxplot outliers pointtype 7\n"
		"set style fill solid 0.3\nset boxwidth 0.4\nset key off\nset grid ytics\n"
		"set yrange [0:*]\nset xtics (");
	for (unsigned i = 0; i < b->nr_methods; i++)
		if (b->m[i].done) {
			n++;
			fprintf(f, "%s'%s' %u", n > 1 ? ", " : "", b->m[i].name, n);
		}
	fprintf(f, ")\nset xrange [0.5:%u.5]\n", n);
	/* Each method's box, and its cycles as points beside it. */
	fprintf(f, "plot for [i=0:%u] '%s/data' index i using (i+1):2 with boxplot, \\\n"
		"     for [i=0:%u] '%s/data' index i using (i+1.25):2 with points pointtype 1\n",
		n - 1, dir, n - 1, dir);
	fclose(f);
	return n ? 0 : -ENODATA;
}

static int reset_plot(const struct bench_reset *b, const char *plot)
{
	const char *tmp = getenv("TMPDIR");
	char dir[4096], script[4200], data[4200];
	int ret;

	snprintf(dir, sizeof(dir), "%s/vmm-bench-reset.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		pr_err("bench reset: --plot: cannot make %s: %s", dir, strerror(errno));
		return -errno;
	}
	ret = reset_plot_files(b, dir, plot);
	snprintf(script, sizeof(script), "%s/plot.gp", dir);
	snprintf(data, sizeof(data), "%s/data", dir);
	if (!ret)
		ret = reset_spawn((const char *const[]){ "gnuplot", script, NULL });
	unlink(script);
	unlink(data);
	rmdir(dir);
	if (ret == -ENODATA)
		pr_err("bench reset: --plot %s: no cycle came back, nothing to draw", plot);
	else if (ret)
		pr_err("bench reset: --plot %s: gnuplot %s", plot, ret < 0 ? strerror(-ret) :
			"failed (its message is above)");
	return ret ? -EIO : 0;
}

/* ---- Running ---- */

static int reset_methods(struct bench_reset *b)
{
	char why[1024];
	int failed = 0;

	for (unsigned i = 0; i < b->nr_methods && !reset_stop; i++) {
		struct bench_reset_method *m = &b->m[i];
		int ret;

		fprintf(stderr, "bench reset: %s, %u cycles...\n", m->name, b->cycles);
		ret = bench_reset_run(b, m, why, sizeof(why));
		if (m->failed_cycle)
			pr_err("bench reset: %s", m->failure);
		if (ret && ret != -EIO && ret != -EINTR)
			pr_err("bench reset: %s", why);
		failed |= ret != 0;
	}
	return failed;
}

int bench_reset_main(int argc, char **argv)
{
	static struct bench_reset b;
	struct sigaction sa = { .sa_handler = reset_on_sigint }, old;
	struct reset_opts o;
	char why[1024];
	int failed;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			reset_usage(stdout);
			return 0;
		}
	b = (struct bench_reset){ .sys = &vfio_sys_linux, .root = "", .stop = &reset_stop };
	if (reset_parse(argc, argv, &b, &o))
		return 2;
	if (o.plot && !reset_have_gnuplot()) {
		pr_err("bench reset: --plot needs gnuplot, which is not installed (apt-get install "
			"gnuplot-nox)");
		return 1;
	}
	if (bench_reset_open(&b, why, sizeof(why))) {
		pr_err("bench reset: %s", why);
		return 1;
	}
	if (bench_reset_choose(&b, o.method, why, sizeof(why))) {
		pr_err("bench reset: %s", why);
		bench_reset_close(&b);
		return 1;
	}
	/* Ctrl-C ends the method at the end of its cycle, and its list is put back. */
	sigaction(SIGINT, &sa, &old);
	failed = reset_methods(&b);
	sigaction(SIGINT, &old, NULL);
	reset_table(o.json ? stderr : stdout, &b);
	if (o.json && reset_json(&b, &o))
		failed = 1;
	if (o.plot && reset_plot(&b, o.plot))
		failed = 1;
	bench_reset_close(&b);
	return failed || reset_stop ? 1 : 0;
}
