// SPDX-License-Identifier: MIT
/*
 * "vmm bench vfio": passthrough costs under this vmm and under QEMU's
 * vfio-pci, in the same run, with the same device, firmware and guest.
 *
 * Every boot runs under strace (-T -y, the ioctls and fallocates of the
 * main thread only, so that the vCPU threads' KVM_RUN are not stopped).
 * Both VMMs set up guest RAM, map it for DMA and reset the device on their
 * main thread, so the same observer times the same kernel calls in both:
 *   - map: the VFIO_IOMMU_MAP_DMA (or IOMMU_IOAS_MAP) ioctls, summed;
 *   - alloc: fallocate, which this vmm uses to allocate huge-page guest RAM
 *     up front (so its map then pins pages that are there already; QEMU's
 *     map faults them in): ready = map + alloc is what gets compared;
 *   - each VFIO_DEVICE_RESET or VFIO_DEVICE_PCI_HOT_RESET.
 * Guest RAM is a shared memfd in both, of 4 KiB or 2 MiB pages, at each
 * --sizes. Beside them, this process times writing one byte to every page
 * of such a memfd: the cost of touching the memory once, which getting
 * guest RAM ready for DMA should come close to.
 *
 * With QEMU's edu device, the guest's vmm_edu module (tests/lab/edu) also
 * times reads of the ID register through the directly mapped BAR and the
 * interrupts it raises, from its write to the raise register to the first
 * instruction of its handler, with the guest's TSC; the agent reports them
 * as edu_bench_* lines on the console. One more boot of each, with no BAR
 * mapped (--vfio BDF,mmap=off; QEMU's x-no-mmap=on), times BAR reads that
 * exit to the VMM.
 *
 * Reset per method: for each method in the device's reset_method, the
 * benchmark makes it the only one there, boots both VMMs, and puts the
 * list back afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <linux/memfd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench_internal.h"
#include "../core/log.h"
#include "../vfio/reset_method.h"
#include "../core/pci_addr.h"

#define VB_MAX_CASES   8  /* sizes x page sizes */
#define VB_MAX_METHODS 4  /* flr, pm, bus, ... */
#define VB_MAX_RESETS  16 /* per boot */
#define VB_GUEST_KEYS  3

static const char *const vb_guest_keys[VB_GUEST_KEYS] = {
	"edu_bench_bar_read_ns", "edu_bench_msi_ns", "edu_bench_msi_min_ns",
};

/* What one boot of one VMM showed: its ioctls, and its guest's timings. */
struct vb_boot {
	double map_ms;   /* all DMA map ioctls of the run, summed */
	unsigned maps;   /* how many (QEMU maps again as the firmware reshapes memory) */
	double alloc_ms; /* guest RAM allocated up front (fallocate), summed */
	double reset_ms[VB_MAX_RESETS];
	unsigned resets;
	double guest[VB_GUEST_KEYS]; /* < 0: not reported */
};

struct vb_case {
	unsigned long long mib;
	unsigned page_kib; /* 4 or 2048 */
	char name[32];     /* "4k-1024m" */
	double touch_ms;
	struct vb_boot vmm[BENCH_MAX_RUNS], qemu[BENCH_MAX_RUNS];
};

struct vb_method {
	char name[16];
	struct vb_boot vmm[BENCH_MAX_RUNS], qemu[BENCH_MAX_RUNS];
};

struct vb {
	const struct bench_opts *o;
	/* edu: one more boot each with no BAR mapped (mmap=off, x-no-mmap=on) */
	struct vb_boot trapped_vmm[BENCH_MAX_RUNS], trapped_qemu[BENCH_MAX_RUNS];
	char bdf[HOST_BDF_LEN]; /* --vfio, as sysfs writes it */
	char self[PATH_MAX];
	char trace[PATH_MAX];
	char sysfs[PATH_MAX];
	bool edu;
	struct vb_case cases[VB_MAX_CASES];
	unsigned nr_cases;
	struct vb_method methods[VB_MAX_METHODS];
	unsigned nr_methods;
	char saved_methods[128];
};

/* ---- strace's lines (the parser: bench_strace.c) ---- */

static int vb_read_trace(const char *what, const char *file, struct vb_boot *b)
{
	char *line = NULL;
	size_t cap = 0;
	FILE *f = fopen(file, "re");

	if (!f) {
		int err = errno;

		pr_err("bench: %s: cannot read strace's output %s: %s", what, file,
			strerror(err));
		return -err;
	}
	/* Whole lines, however long strace's decoding made them. */
	while (getline(&line, &cap, f) > 0) {
		double ms;

		switch (bench_strace_line(line, &ms)) {
		case BENCH_STRACE_MAP:
			b->map_ms += ms;
			b->maps++;
			break;
		case BENCH_STRACE_ALLOC:
			b->alloc_ms += ms;
			break;
		case BENCH_STRACE_RESET:
			if (b->resets < VB_MAX_RESETS)
				b->reset_ms[b->resets++] = ms;
			break;
		default:
			break;
		}
	}
	free(line);
	fclose(f);
	return 0;
}

/* The guest's "VMM-AGENT: key=value" lines that vb_guest_keys names. */
static int vb_read_guest(const char *what, unsigned run, const char *log, bool edu,
			 struct vb_boot *b)
{
	const char *p;

	for (unsigned k = 0; k < VB_GUEST_KEYS; k++) {
		char pat[64];

		b->guest[k] = -1;
		snprintf(pat, sizeof(pat), "VMM-AGENT: %s=", vb_guest_keys[k]);
		p = log ? strstr(log, pat) : NULL;
		if (p)
			b->guest[k] = strtod(p + strlen(pat), NULL);
	}
	if (!edu)
		return 0;
	if (b->guest[0] < 0 || b->guest[1] < 0) {
		const char *err = log ? strstr(log, "VMM-AGENT: edu_bench_error=") : NULL;

		if (!err && log)
			err = strstr(log, "VMM-AGENT: bench_error=");
		if (!err && log)
			err = strstr(log, "VMM-AGENT: edu_error=");
		pr_err("bench: %s, run %u: the guest timed no BAR read or interrupt%s%.*s",
			what, run, err ? ": " : " (is vmm_edu in its initramfs, and its agent the lab's?)",
			err ? (int)strcspn(err, "\r\n") : 0, err ? err : "");
		return -EIO;
	}
	return 0;
}

/* ---- one boot ---- */

static int vb_boot(struct vb *v, const char *what, const char *const argv[], unsigned run,
		   struct vb_boot *b)
{
	const char *sargv[BENCH_MAX_ARGS + 16];
	struct bench_child c = { .what = what, .keep_log = true };
	struct bench_sample s;
	unsigned n = 0;
	int ret;

	*b = (struct vb_boot){ 0 };
	if (bench_fresh_vars(v->o))
		return -EIO;
	/* Only the main thread: its ioctls are the ones timed. -qq: no exit line. */
	sargv[n++] = v->o->strace;
	sargv[n++] = "-qq";
	sargv[n++] = "-T";
	sargv[n++] = "-y";
	sargv[n++] = "-e";
	sargv[n++] = "trace=ioctl,fallocate";
	sargv[n++] = "-e";
	sargv[n++] = "signal=none";
	sargv[n++] = "-o";
	sargv[n++] = v->trace;
	sargv[n++] = "--";
	for (unsigned i = 0; argv[i] && n + 1 < sizeof(sargv) / sizeof(sargv[0]); i++)
		sargv[n++] = argv[i];
	sargv[n] = NULL;
	unlink(v->trace);
	ret = bench_run_child(&c, sargv, run, v->o, &s);
	if (!ret)
		ret = vb_read_trace(what, v->trace, b);
	if (!ret)
		ret = vb_read_guest(what, run, c.log, v->edu, b);
	if (!ret && b->maps == 0) {
		pr_err("bench: %s, run %u: strace saw no DMA map ioctl (is %s the "
			"device, and bound to vfio-pci?)", what, run, v->bdf);
		ret = -EIO;
	}
	bench_child_free(&c);
	unlink(v->trace);
	return ret;
}

/*
 * Both VMMs, runs times, in turn, with guest RAM of mib MiB in pages of
 * page_kib; with trapped, no BAR mapped into the guest.
 */
static int vb_boots(struct vb *v, unsigned long long mib, unsigned page_kib, bool trapped,
		    struct vb_boot *vmm, struct vb_boot *qemu)
{
	const struct bench_opts *o = v->o;
	const char *va[BENCH_MAX_ARGS], *qa[BENCH_MAX_ARGS];
	char mem[64], qmem[64], qbackend[160], qmachine[64], cmdline[4096];
	char qcode[4200], qvars[4200], qdev[96], vdev[96];
	unsigned nv = 0, nq = 0;

	snprintf(mem, sizeof(mem), "%lluM%s", mib, page_kib > 4 ? ",hugepages=2M" : "");
	snprintf(qmem, sizeof(qmem), "%lluM", mib);
	snprintf(qbackend, sizeof(qbackend), "memory-backend-memfd,id=ram,size=%lluM,share=on%s",
		 mib, page_kib > 4 ? ",hugetlb=on,hugetlbsize=2M" : "");
	snprintf(qmachine, sizeof(qmachine), "q35,memory-backend=ram");
	/* First on the line, so that the agent's first-match lookup takes it. */
	snprintf(cmdline, sizeof(cmdline), "agent.checks=bench_vfio agent.bench_msis=%u %s",
		 o->msis, o->cmdline);
	snprintf(qcode, sizeof(qcode), "if=pflash,format=raw,unit=0,readonly=on,file=%s",
		 o->firmware);
	snprintf(qvars, sizeof(qvars), "if=pflash,format=raw,unit=1,file=%s", o->vars_copy);
	/* Behind a root port, as the vmm places it. */
	snprintf(qdev, sizeof(qdev), "vfio-pci,host=%s,bus=rp0%s", v->bdf,
		 trapped ? ",x-no-mmap=on" : "");
	snprintf(vdev, sizeof(vdev), "%s%s", v->bdf, trapped ? ",mmap=off" : "");

	bench_args(va, &nv, v->self, "run", "--cpus", o->cpus, "--memory", mem, "--firmware",
		   o->firmware, "--vars", o->vars_copy, "--vfio", vdev, "--kernel", o->kernel,
		   "--initrd", o->initrd, "--cmdline", cmdline, NULL);
	bench_args(qa, &nq, o->qemu, "-accel", "kvm", "-machine", qmachine, "-cpu", "host",
		   "-smp", o->cpus, "-m", qmem, "-object", qbackend, "-nodefaults", "-nographic",
		   "-no-reboot", "-serial", "stdio", "-drive", qcode, "-drive", qvars, "-device",
		   "pcie-root-port,id=rp0,chassis=1", "-device", qdev, "-kernel", o->kernel,
		   "-initrd", o->initrd, "-append", cmdline, NULL);
	/* In turn, the first of each pair swapping: see bench_qemu_first(). */
	for (unsigned i = 0; i < o->runs; i++) {
		for (unsigned k = 0; k < 2; k++) {
			bool q = k ^ bench_qemu_first(i);

			if (vb_boot(v, q ? "qemu" : "vmm", q ? qa : va, i + 1, q ? &qemu[i] : &vmm[i]))
				return -EIO;
		}
	}
	return 0;
}

/* ---- the host side ---- */

/* ms to write one byte to each page of a fresh shared memfd of mib MiB. */
static int vb_touch(const struct vb_case *c, double *ms)
{
	size_t len = (size_t)c->mib << 20, page = (size_t)c->page_kib << 10;
	unsigned flags = MFD_CLOEXEC | (c->page_kib > 4 ? MFD_HUGETLB | MFD_HUGE_2MB : 0);
	struct timespec t0, t1;
	volatile char *p;
	int fd, err;

	fd = memfd_create("vmm-bench-touch", flags);
	if (fd < 0 || ftruncate(fd, (off_t)len) < 0) {
		err = -errno;
		goto fail;
	}
	/* A shared hugetlb mapping reserves its pages here, or fails. */
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		err = -errno;
		goto fail;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t off = 0; off < len; off += page)
		p[off] = 1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	munmap((void *)p, len);
	close(fd);
	*ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	return 0;
fail:
	pr_err("bench: cannot make %llu MiB of %s pages to touch: %s%s", c->mib,
		c->page_kib > 4 ? "2 MiB" : "4 KiB", strerror(-err), c->page_kib > 4 ?
		" (too few free huge pages? grep Huge /proc/meminfo; the benchmark needs "
		"the largest --sizes free in 2 MiB pages: /proc/sys/vm/nr_hugepages)" : "");
	if (fd >= 0)
		close(fd);
	return err;
}

static int vb_read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int vb_write_methods(const struct vb *v, const char *list)
{
	int err = vfio_reset_methods_write(v->bdf, list);

	if (err)
		pr_err("bench: cannot write '%s' to %s/reset_method: %s", list, v->sysfs,
			strerror(-err));
	return err;
}

/* The device at v->bdf (already parsed): bound to vfio-pci, edu or not, its reset methods. */
static int vb_device(struct vb *v)
{
	char path[PATH_MAX + 32], buf[128], link[PATH_MAX];
	const char *o_bdf = v->bdf, *driver;
	char *tok, *save;
	ssize_t n;

	snprintf(v->sysfs, sizeof(v->sysfs), "/sys/bus/pci/devices/%s", o_bdf);
	if (access(v->sysfs, F_OK)) {
		pr_err("bench: --vfio %s: no such PCI device (lspci -D lists them; the "
			"address is DOMAIN:BUS:DEVICE.FUNCTION, e.g. 0000:01:00.0)", o_bdf);
		return -ENODEV;
	}
	snprintf(path, sizeof(path), "%s/driver", v->sysfs);
	n = readlink(path, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	driver = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
	if (n <= 0 || strcmp(driver, "vfio-pci")) {
		pr_err("bench: --vfio %s: %s%s, not vfio-pci: vmm host bind %s first",
			o_bdf, n > 0 ? "bound to " : "no driver", driver, o_bdf);
		return -EBUSY;
	}
	snprintf(path, sizeof(path), "%s/vendor", v->sysfs);
	v->edu = !vb_read_file(path, buf, sizeof(buf)) && !strcmp(buf, "0x1234");
	snprintf(path, sizeof(path), "%s/device", v->sysfs);
	v->edu = v->edu && !vb_read_file(path, buf, sizeof(buf)) && !strcmp(buf, "0x11e8");
	if (vfio_reset_methods_read(v->bdf, v->saved_methods, sizeof(v->saved_methods)))
		v->saved_methods[0] = '\0';
	snprintf(buf, sizeof(buf), "%s", v->saved_methods);
	for (tok = strtok_r(buf, " ", &save); tok && v->nr_methods < VB_MAX_METHODS;
	     tok = strtok_r(NULL, " ", &save))
		snprintf(v->methods[v->nr_methods++].name, sizeof(v->methods[0].name), "%s", tok);
	if (!v->nr_methods)
		pr_warn("bench: %s offers no reset method (%s/reset_method is empty): no "
			"reset lines", o_bdf, v->sysfs);
	if (!v->edu)
		pr_warn("bench: %s is not QEMU's edu device: no guest BAR read or "
			"interrupt lines", o_bdf);
	return 0;
}

/* "1G,2G" or "512M" (no suffix: MiB) by "4k,2m" into v->cases. */
static int vb_cases(struct vb *v)
{
	char sizes[256], pages[64], *s, *p, *ss, *ps;

	snprintf(sizes, sizeof(sizes), "%s", v->o->sizes_arg);
	for (s = strtok_r(sizes, ",", &ss); s; s = strtok_r(NULL, ",", &ss)) {
		char *end;
		unsigned long long mib = strtoull(s, &end, 10);

		if (*end == 'G' || *end == 'g')
			mib <<= 10, end++;
		else if (*end == 'M' || *end == 'm')
			end++;
		if (*end || mib == 0 || mib > (1ull << 20) || mib % 2) {
			pr_err("bench: --sizes: '%s' is not a size (512M, 1G, 16G: MiB or "
				"GiB, a multiple of 2 MiB)", s);
			return -EINVAL;
		}
		snprintf(pages, sizeof(pages), "%s", v->o->pages_arg);
		for (p = strtok_r(pages, ",", &ps); p; p = strtok_r(NULL, ",", &ps)) {
			struct vb_case *c = &v->cases[v->nr_cases];

			if (v->nr_cases == VB_MAX_CASES) {
				pr_err("bench: at most %d sizes x page sizes", VB_MAX_CASES);
				return -EINVAL;
			}
			if (strcasecmp(p, "4k") == 0)
				c->page_kib = 4;
			else if (strcasecmp(p, "2m") == 0)
				c->page_kib = 2048;
			else {
				pr_err("bench: --pages: '%s' is not 4k or 2m", p);
				return -EINVAL;
			}
			c->mib = mib;
			snprintf(c->name, sizeof(c->name), "%s-%llum", c->page_kib > 4 ? "2m" : "4k",
				 mib);
			v->nr_cases++;
		}
	}
	if (!v->nr_cases) {
		pr_err("bench: --sizes and --pages give nothing to measure");
		return -EINVAL;
	}
	return 0;
}

/* ---- the result ---- */

static double vb_median(double *v, unsigned n)
{
	return n ? bench_median_of(v, n) : -1;
}

enum vb_dma { VB_MAP, VB_ALLOC, VB_READY };

/* The median over the runs of the map ioctls, the fallocates, or both (ready). */
static double vb_dma_median(const struct vb_boot *b, unsigned runs, enum vb_dma what)
{
	double v[BENCH_MAX_RUNS];

	for (unsigned i = 0; i < runs; i++)
		v[i] = what == VB_MAP ? b[i].map_ms : what == VB_ALLOC ? b[i].alloc_ms :
		       b[i].map_ms + b[i].alloc_ms;
	return vb_median(v, runs);
}

/* The median over every reset ioctl of every run. */
static double vb_reset_median(const struct vb_boot *b, unsigned runs, unsigned *count)
{
	double v[BENCH_MAX_RUNS * VB_MAX_RESETS];
	unsigned n = 0;

	for (unsigned i = 0; i < runs; i++)
		for (unsigned r = 0; r < b[i].resets; r++)
			v[n++] = b[i].reset_ms[r];
	*count = n;
	return vb_median(v, n);
}

/* The median of guest key k over every boot of every case (BARs mapped). */
static double vb_guest_median(const struct vb *v, bool qemu, unsigned k)
{
	static double vals[VB_MAX_CASES * BENCH_MAX_RUNS];
	unsigned n = 0;

	for (unsigned c = 0; c < v->nr_cases; c++)
		for (unsigned i = 0; i < v->o->runs; i++) {
			const struct vb_boot *b = qemu ? &v->cases[c].qemu[i] : &v->cases[c].vmm[i];

			if (b->guest[k] >= 0)
				vals[n++] = b->guest[k];
		}
	return vb_median(vals, n);
}

/* The median BAR read of the boots with no BAR mapped. */
static double vb_trapped_median(const struct vb *v, bool qemu)
{
	double vals[BENCH_MAX_RUNS];
	unsigned n = 0;

	for (unsigned i = 0; i < v->o->runs; i++) {
		const struct vb_boot *b = qemu ? &v->trapped_qemu[i] : &v->trapped_vmm[i];

		if (b->guest[0] >= 0)
			vals[n++] = b->guest[0];
	}
	return vb_median(vals, n);
}

struct vb_ratio {
	char name[48];
	double r;
};

static json_t *vb_side_json(const struct vb *v, bool qemu)
{
	json_t *side = json_object(), *dma = json_object(), *reset = json_object();

	if (v->edu) {
		bench_json_set(&side, "bar_read_direct_ns",
			       bench_json_num(vb_guest_median(v, qemu, 0), 1));
		bench_json_set(&side, "bar_read_trapped_ns",
			       bench_json_num(vb_trapped_median(v, qemu), 1));
		bench_json_set(&side, "msi_ns", bench_json_num(vb_guest_median(v, qemu, 1), 1));
		bench_json_set(&side, "msi_min_ns", bench_json_num(vb_guest_median(v, qemu, 2), 1));
	}
	for (unsigned c = 0; c < v->nr_cases; c++) {
		const struct vb_case *k = &v->cases[c];
		const struct vb_boot *b = qemu ? k->qemu : k->vmm;

		bench_json_set(&dma, k->name, json_pack("{s:o, s:o, s:o, s:I}",
			"map_ms", bench_json_num(vb_dma_median(b, v->o->runs, VB_MAP), 1),
			"alloc_ms", bench_json_num(vb_dma_median(b, v->o->runs, VB_ALLOC), 1),
			"ready_ms", bench_json_num(vb_dma_median(b, v->o->runs, VB_READY), 1),
			"map_calls", (json_int_t)b[0].maps));
	}
	for (unsigned m = 0; m < v->nr_methods; m++) {
		const struct vb_method *k = &v->methods[m];
		unsigned count;
		double ms = vb_reset_median(qemu ? k->qemu : k->vmm, v->o->runs, &count);

		bench_json_set(&reset, k->name, json_pack("{s:o, s:I}", "ms", bench_json_num(ms, 1),
							  "resets", (json_int_t)count));
	}
	bench_json_set(&side, "dma", dma);
	bench_json_set(&side, "reset_ms", reset);
	return side;
}

static int vb_print(const struct vb *v)
{
	struct vb_ratio ratio[3 + VB_MAX_CASES + VB_MAX_METHODS];
	json_t *touch = json_object(), *over = json_object(), *ratios = json_object();
	unsigned nr = 0, count;
	double worst = -1;

	for (unsigned c = 0; c < v->nr_cases; c++) {
		const struct vb_case *k = &v->cases[c];
		double vmm_ready = vb_dma_median(k->vmm, v->o->runs, VB_READY);
		double qemu_ready = vb_dma_median(k->qemu, v->o->runs, VB_READY);

		bench_json_set(&touch, k->name, bench_json_num(k->touch_ms, 1));
		bench_json_set(&over, k->name, json_pack("{s:o, s:o}",
			       "vmm", bench_json_num(vmm_ready / k->touch_ms, 2),
			       "qemu", bench_json_num(qemu_ready / k->touch_ms, 2)));
	}

	/* ratio: QEMU's time / ours, so 1 or more means ours is no slower. */
	if (v->edu) {
		snprintf(ratio[nr].name, sizeof(ratio[0].name), "bar_read_direct");
		ratio[nr++].r = vb_guest_median(v, true, 0) / vb_guest_median(v, false, 0);
		snprintf(ratio[nr].name, sizeof(ratio[0].name), "bar_read_trapped");
		ratio[nr++].r = vb_trapped_median(v, true) / vb_trapped_median(v, false);
		snprintf(ratio[nr].name, sizeof(ratio[0].name), "msi");
		ratio[nr++].r = vb_guest_median(v, true, 1) / vb_guest_median(v, false, 1);
	}
	for (unsigned c = 0; c < v->nr_cases; c++) {
		const struct vb_case *k = &v->cases[c];

		snprintf(ratio[nr].name, sizeof(ratio[0].name), "dma_ready_%s", k->name);
		ratio[nr++].r = vb_dma_median(k->qemu, v->o->runs, VB_READY) /
				vb_dma_median(k->vmm, v->o->runs, VB_READY);
	}
	for (unsigned m = 0; m < v->nr_methods; m++) {
		const struct vb_method *k = &v->methods[m];
		double q = vb_reset_median(k->qemu, v->o->runs, &count);
		double us = vb_reset_median(k->vmm, v->o->runs, &count);

		snprintf(ratio[nr].name, sizeof(ratio[0].name), "reset_%s", k->name);
		ratio[nr++].r = q > 0 && us > 0 ? q / us : 0;
	}
	for (unsigned i = 0; i < nr; i++) {
		bench_json_set(&ratios, ratio[i].name, bench_json_num(ratio[i].r, 3));
		if (worst < 0 || ratio[i].r < worst)
			worst = ratio[i].r;
	}
	return bench_json_print(json_pack("{s:s, s:s, s:b, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
					  "bench", "vfio", "device", v->bdf, "edu", v->edu,
					  "runs", (json_int_t)v->o->runs,
					  "cpus", bench_json_cpus(v->o->cpus),
					  "vmm", vb_side_json(v, false), "qemu", vb_side_json(v, true),
					  "touch_once_ms", touch, "map_over_touch", over,
					  "ratio", ratios, "ratio_min", bench_json_num(worst, 3)));
}

int bench_vfio_main(const struct bench_opts *o)
{
	static struct vb v;
	const char *dir = getenv("TMPDIR");
	ssize_t n;
	int fd, ret = 0;
	bool methods_written = false;

	v = (struct vb){ .o = o };
	/* strace runs the vmm, so /proc/self/exe would then be strace. */
	n = readlink("/proc/self/exe", v.self, sizeof(v.self) - 1);
	if (n <= 0) {
		pr_err("bench: cannot find this program's path: %s", strerror(errno));
		return 1;
	}
	v.self[n] = '\0';
	/* Bad usage exits 2, as for every other command, before anything is touched. */
	if (vb_cases(&v))
		return 2;
	/* Checked here: the address goes on both VMMs' command lines. */
	if (host_parse_bdf(o->vfio, v.bdf)) {
		pr_err("bench: --vfio %s: expected a PCI address like 0000:01:00.0 (lspci -D)", o->vfio);
		return 2;
	}
	if (vb_device(&v))
		return 1;
	snprintf(v.trace, sizeof(v.trace), "%s/vmm-bench-strace.XXXXXX",
		 dir && dir[0] ? dir : "/tmp");
	fd = mkstemp(v.trace);
	if (fd < 0) {
		pr_err("bench: cannot make %s: %s", v.trace, strerror(errno));
		return 1;
	}
	close(fd);

	for (unsigned c = 0; c < v.nr_cases && !ret; c++) {
		struct vb_case *k = &v.cases[c];

		ret = vb_touch(k, &k->touch_ms);
		if (!ret)
			ret = vb_boots(&v, k->mib, k->page_kib, false, k->vmm, k->qemu);
	}
	/* edu: BAR reads that exit to the VMM, at the first case's size and pages. */
	if (v.edu && !ret)
		ret = vb_boots(&v, v.cases[0].mib, v.cases[0].page_kib, true, v.trapped_vmm,
			       v.trapped_qemu);
	/* Each method alone in reset_method, at the first case's size and pages. */
	for (unsigned m = 0; m < v.nr_methods && !ret; m++) {
		struct vb_method *k = &v.methods[m];

		methods_written = true;
		ret = vb_write_methods(&v, k->name);
		if (!ret)
			ret = vb_boots(&v, v.cases[0].mib, v.cases[0].page_kib, false, k->vmm,
				       k->qemu);
	}
	/* Put the kernel's list back, whatever became of the boots. */
	if (methods_written && vb_write_methods(&v, v.saved_methods))
		ret = -EIO;
	unlink(v.trace);
	if (ret || vb_print(&v))
		return 1;
	return 0;
}
