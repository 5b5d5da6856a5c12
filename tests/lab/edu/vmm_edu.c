// SPDX-License-Identifier: GPL-2.0
/*
 * vmm_edu: a test driver for QEMU's "edu" PCI device (1234:11e8), for the
 * lab's guests (tests/lab/edu/edu.sh loads it).
 *
 * The guest has no IOMMU and Debian's kernel has no VFIO no-IOMMU mode, so
 * userspace cannot do DMA or take MSI; this module does, in its probe:
 *
 *   - BAR0: the ID register (0x00) and the liveness register (0x04, reads
 *     back the bitwise NOT of what was written), the factorial (0x08, 0x20);
 *   - interrupts: MSI (INTx only if MSI cannot be had, reported as such),
 *     raised through 0x60, acknowledged through 0x64 by the handler, which
 *     counts them; the IRQ is named "vmm_edu" in /proc/interrupts;
 *   - DMA: a random pattern in a coherent buffer goes to the device's
 *     buffer (0x40000, 4 KiB) and back into a second buffer, in two
 *     transfers each way, each with its completion interrupt (cmd bit 2);
 *     the CRC-32 of both buffers is reported.
 *
 * With bench=N (vmm bench vfio), the probe then also times, with the
 * guest's TSC: 32-bit reads of the ID register through the BAR (the median
 * of 16 batches of 256 reads), and N interrupts raised one at a time
 * through 0x60, each from just before that write to the first instruction
 * of the handler (median and minimum). It does so whenever BAR0 reads as
 * edu's, even if a check failed: with the BAR trapped (the benchmark's
 * mmap=off boots), VFIO's region read and write on the lab host's Linux
 * 6.1 split each 8-byte access into two 4-byte ones, and edu ignores a
 * 4-byte write to the upper half of a 64-bit DMA register, so the DMA
 * check fails there under any VMM; the timings use 4-byte accesses only.
 *
 * Every result is a "VMM-AGENT: key=value" line on the console (pr_info)
 * and a "key=value" line in /sys/bus/pci/devices/BDF/vmm_edu_result, which
 * the shell check prints without the printk prefix. Every wait has a time
 * limit; nothing here waits for the device forever.
 *
 * With dma_loop=1, once the checks passed, a kernel thread keeps the DMA
 * engine busy (RAM -> device, device -> RAM, each with its interrupt) until
 * the module is removed, saying "edu_dma_loop=running" after its first
 * round trip: the lab kills the vmm under a guest doing DMA (vfio-edu).
 *
 * The module loads only if it bound at least one edu device; without one
 * its init returns -ENODEV (insmod: "No such device"), unless hotplug=1:
 * then it stays, and probes (and checks) each edu device hot-added later.
 *
 * The device's register map is QEMU's docs/specs/edu.rst and
 * hw/misc/edu.c. QEMU 7.2 (Debian 12's, and the lab's emulator built from
 * it) aborts the whole VM with "hw_error: EDU: DMA range ... out of bounds"
 * on a transfer that ends exactly at the end of the device's buffer (an
 * off-by-one in edu_check_range, fixed in later QEMU): so the transfers
 * here cover the buffer but its last byte, 4095 bytes in two pieces.
 */
#include <linux/atomic.h>
#include <linux/crc32.h>
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/jiffies.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/random.h>
#include <linux/string.h>
#include <linux/sort.h>
#include <linux/wait.h>
#include <asm/tsc.h>

#define EDU_VENDOR		0x1234
#define EDU_DEVICE		0x11e8

#define EDU_REG_ID		0x00
#define EDU_REG_LIVE		0x04
#define EDU_REG_FACT		0x08
#define EDU_REG_STATUS		0x20
#define EDU_REG_IRQ_STATUS	0x24
#define EDU_REG_IRQ_RAISE	0x60
#define EDU_REG_IRQ_ACK		0x64
#define EDU_REG_DMA_SRC		0x80
#define EDU_REG_DMA_DST		0x88
#define EDU_REG_DMA_CNT		0x90
#define EDU_REG_DMA_CMD		0x98

#define EDU_ID_VALUE		0x010000edu	/* version 1.0 */
#define EDU_STATUS_COMPUTING	0x01
#define EDU_STATUS_IRQFACT	0x80

#define EDU_IRQ_FACT		0x00000001u
#define EDU_IRQ_DMA		0x00000100u
#define EDU_IRQ_TEST		0x00010000u	/* any other bit: ours */

#define EDU_DMA_RUN		0x1
#define EDU_DMA_TO_RAM		0x2
#define EDU_DMA_IRQ		0x4

#define EDU_BUF_ADDR		0x40000
#define EDU_BUF_SIZE		4096
#define EDU_DMA_LEN		(EDU_BUF_SIZE - 1)	/* see above */
#define EDU_DMA_CHUNK		(EDU_BUF_SIZE / 2)	/* the last is 1 short */
#define EDU_DMA_CHUNKS		DIV_ROUND_UP(EDU_DMA_LEN, EDU_DMA_CHUNK)

static unsigned int raises = 8;
module_param(raises, uint, 0444);
MODULE_PARM_DESC(raises, "interrupts to raise through register 0x60 (default 8)");

static unsigned int dma_bits = 28;
module_param(dma_bits, uint, 0444);
MODULE_PARM_DESC(dma_bits, "DMA mask width; edu's own default mask is 28 bits");

static unsigned int timeout_ms = 10000;
module_param(timeout_ms, uint, 0444);
MODULE_PARM_DESC(timeout_ms, "limit on each wait for the device (default 10000)");

static bool allow_intx = true;
module_param(allow_intx, bool, 0444);
MODULE_PARM_DESC(allow_intx, "fall back to INTx when MSI cannot be enabled (reported as edu_irq_mode=intx)");

static bool hotplug;
module_param(hotplug, bool, 0444);
MODULE_PARM_DESC(hotplug, "stay loaded with no edu device: one hot-added later is probed then");

static unsigned int bench;
module_param(bench, uint, 0444);
MODULE_PARM_DESC(bench, "after the checks, time BAR reads and this many MSIs (0: no timing)");

/*
 * The lab host's 6.1 kernel forwards an 8-byte read or write of a trapped
 * BAR (mmap=off) to the device as two 4-byte ones, and edu takes its DMA
 * registers whole or not at all: with narrow, they are written and read
 * with 4-byte accesses (the addresses fit: dma_bits).
 */
static bool narrow;
module_param(narrow, bool, 0444);
MODULE_PARM_DESC(narrow, "4-byte accesses to the DMA registers (for a trapped BAR)");

static bool dma_loop;
module_param(dma_loop, bool, 0444);
MODULE_PARM_DESC(dma_loop, "after the checks passed, DMA on and on until removed");

static int probed;
module_param(probed, int, 0444);
MODULE_PARM_DESC(probed, "(read-only) edu devices this module bound");

struct edu {
	struct pci_dev *pdev;
	void __iomem *bar;
	int irq;
	bool msi;
	wait_queue_head_t wq;
	atomic_t irqs;		/* handler calls */
	atomic_t irqs_empty;	/* ... that found irq_status 0 */
	atomic_t raise_irqs;	/* ... that found EDU_IRQ_TEST */
	atomic_t dma_irqs;	/* ... that found EDU_IRQ_DMA */
	atomic_t fact_irqs;	/* ... that found EDU_IRQ_FACT */
	u64 irq_tsc;		/* the TSC as the handler began */
	struct task_struct *loop;	/* dma_loop's thread, or NULL */
	size_t len;
	char result[2048];
};

static __printf(3, 4) void edu_report(struct edu *e, const char *key,
				      const char *fmt, ...)
{
	char val[160];
	va_list ap;

	va_start(ap, fmt);
	vscnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	pr_info("VMM-AGENT: %s=%s\n", key, val);
	e->len += scnprintf(e->result + e->len, sizeof(e->result) - e->len,
			    "%s=%s\n", key, val);
}

static irqreturn_t edu_irq(int irq, void *data)
{
	struct edu *e = data;
	u64 tsc = rdtsc_ordered();
	u32 st;

	WRITE_ONCE(e->irq_tsc, tsc);
	st = readl(e->bar + EDU_REG_IRQ_STATUS);

	atomic_inc(&e->irqs);
	if (!st) {
		atomic_inc(&e->irqs_empty);
		/* INTx may be shared; an MSI is ours whatever the status. */
		return e->msi ? IRQ_HANDLED : IRQ_NONE;
	}
	writel(st, e->bar + EDU_REG_IRQ_ACK);
	if (st & EDU_IRQ_TEST)
		atomic_inc(&e->raise_irqs);
	if (st & EDU_IRQ_DMA)
		atomic_inc(&e->dma_irqs);
	if (st & EDU_IRQ_FACT)
		atomic_inc(&e->fact_irqs);
	wake_up(&e->wq);
	return IRQ_HANDLED;
}

/* Polls until (reg & mask) == 0, at most timeout_ms. */
static bool edu_poll_clear(struct edu *e, unsigned int reg, u64 mask, bool wide)
{
	unsigned long end = jiffies + msecs_to_jiffies(timeout_ms);

	for (;;) {
		u64 v = wide ? readq(e->bar + reg) : readl(e->bar + reg);

		if (!(v & mask))
			return true;
		if (time_after(jiffies, end))
			return false;
		usleep_range(200, 1000);
	}
}

static bool edu_check_live(struct edu *e)
{
	u32 vals[] = { 0x12345678, 0, 0xffffffff, 0xa5a5a5a5, get_random_u32() };
	bool ok = true;
	int i;

	for (i = 0; i < ARRAY_SIZE(vals); i++) {
		u32 got;

		writel(vals[i], e->bar + EDU_REG_LIVE);
		got = readl(e->bar + EDU_REG_LIVE);
		if (got != ~vals[i]) {
			edu_report(e, "edu_live_bad", "wrote 0x%08x read 0x%08x",
				   vals[i], got);
			ok = false;
		}
	}
	edu_report(e, "edu_live", "%d", ok);
	return ok;
}

static bool edu_check_fact(struct edu *e)
{
	u32 got;
	bool ok;

	writel(0, e->bar + EDU_REG_STATUS);	/* no interrupt for it */
	if (!edu_poll_clear(e, EDU_REG_STATUS, EDU_STATUS_COMPUTING, false))
		goto busy;
	writel(5, e->bar + EDU_REG_FACT);
	if (!edu_poll_clear(e, EDU_REG_STATUS, EDU_STATUS_COMPUTING, false))
		goto busy;
	got = readl(e->bar + EDU_REG_FACT);
	ok = got == 120;
	edu_report(e, "edu_fact", "%u", got);
	edu_report(e, "edu_fact_ok", "%d", ok);
	return ok;
busy:
	edu_report(e, "edu_fact_ok", "0");
	edu_report(e, "edu_error", "factorial still computing after %u ms", timeout_ms);
	return false;
}

/* Raises EDU_IRQ_TEST "raises" times, one at a time: each must be taken. */
static unsigned int edu_check_raise(struct edu *e)
{
	unsigned int i, n;

	for (i = 0; i < raises; i++) {
		n = atomic_read(&e->raise_irqs);
		writel(EDU_IRQ_TEST, e->bar + EDU_REG_IRQ_RAISE);
		if (!wait_event_timeout(e->wq, atomic_read(&e->raise_irqs) != n,
					msecs_to_jiffies(timeout_ms))) {
			edu_report(e, "edu_error",
				   "raise %u of %u: no interrupt in %u ms (irq_status 0x%08x)",
				   i + 1, raises, timeout_ms,
				   readl(e->bar + EDU_REG_IRQ_STATUS));
			/* Leave nothing pending for the DMA part. */
			writel(EDU_IRQ_TEST, e->bar + EDU_REG_IRQ_ACK);
			break;
		}
	}
	n = atomic_read(&e->raise_irqs);
	edu_report(e, "edu_raise_irqs", "%u", n);
	return n;
}

/*
 * One transfer; waits for its interrupt (when interrupts work), then for
 * the engine to be idle. Returns 0, or what failed.
 */
static const char *edu_dma_one(struct edu *e, u64 src, u64 dst, u32 cnt,
			       u32 cmd, bool want_irq, bool *irq_missed)
{
	int n;

	if (!edu_poll_clear(e, EDU_REG_DMA_CMD, EDU_DMA_RUN, !narrow))
		return "engine busy before the transfer";
	n = atomic_read(&e->dma_irqs);
	if (narrow) {
		writel((u32)src, e->bar + EDU_REG_DMA_SRC);
		writel((u32)dst, e->bar + EDU_REG_DMA_DST);
		writel(cnt, e->bar + EDU_REG_DMA_CNT);
		if (readl(e->bar + EDU_REG_DMA_SRC) != (u32)src ||
		    readl(e->bar + EDU_REG_DMA_DST) != (u32)dst ||
		    readl(e->bar + EDU_REG_DMA_CNT) != cnt)
			return "DMA registers do not read back";
		writel(cmd | EDU_DMA_RUN | EDU_DMA_IRQ, e->bar + EDU_REG_DMA_CMD);
	} else {
		writeq(src, e->bar + EDU_REG_DMA_SRC);
		writeq(dst, e->bar + EDU_REG_DMA_DST);
		writeq(cnt, e->bar + EDU_REG_DMA_CNT);
		if (readq(e->bar + EDU_REG_DMA_SRC) != src ||
		    readq(e->bar + EDU_REG_DMA_DST) != dst ||
		    readq(e->bar + EDU_REG_DMA_CNT) != cnt)
			return "DMA registers do not read back";
		writeq(cmd | EDU_DMA_RUN | EDU_DMA_IRQ, e->bar + EDU_REG_DMA_CMD);
	}
	if (want_irq &&
	    !wait_event_timeout(e->wq, atomic_read(&e->dma_irqs) != n,
				msecs_to_jiffies(timeout_ms)))
		*irq_missed = true;
	if (!edu_poll_clear(e, EDU_REG_DMA_CMD, EDU_DMA_RUN, !narrow))
		return "transfer not finished in time";
	return NULL;
}

static u32 edu_xorshift(u32 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static bool edu_check_dma(struct edu *e, bool irqs_work)
{
	struct device *dev = &e->pdev->dev;
	dma_addr_t out_dma, in_dma;
	u32 *out, *in, seed, sum_out, sum_in;
	const char *err = NULL;
	bool irq_missed = false, ok;
	unsigned int off, i;
	int rc, n0;

	rc = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(dma_bits));
	if (rc) {
		edu_report(e, "edu_dma_ok", "0");
		edu_report(e, "edu_error", "dma_set_mask_and_coherent(%u bits): %d",
			   dma_bits, rc);
		return false;
	}
	out = dma_alloc_coherent(dev, EDU_BUF_SIZE, &out_dma, GFP_KERNEL);
	in = dma_alloc_coherent(dev, EDU_BUF_SIZE, &in_dma, GFP_KERNEL);
	if (!out || !in) {
		edu_report(e, "edu_dma_ok", "0");
		edu_report(e, "edu_error", "dma_alloc_coherent failed");
		ok = false;
		goto free;
	}
	/* A new pattern each time: a stale device buffer cannot pass. */
	seed = get_random_u32() | 1;
	for (i = 0; i < EDU_BUF_SIZE / 4; i++)
		out[i] = edu_xorshift(&seed);
	memset(in, 0, EDU_BUF_SIZE);
	sum_out = crc32_le(~0, (u8 *)out, EDU_DMA_LEN) ^ ~0;
	n0 = atomic_read(&e->dma_irqs);

	/* RAM -> device buffer, then device buffer -> the other RAM buffer. */
	for (off = 0; !err && off < EDU_DMA_LEN; off += EDU_DMA_CHUNK)
		err = edu_dma_one(e, out_dma + off, EDU_BUF_ADDR + off,
				  min_t(u32, EDU_DMA_CHUNK, EDU_DMA_LEN - off), 0,
				  irqs_work, &irq_missed);
	for (off = 0; !err && off < EDU_DMA_LEN; off += EDU_DMA_CHUNK)
		err = edu_dma_one(e, EDU_BUF_ADDR + off, in_dma + off,
				  min_t(u32, EDU_DMA_CHUNK, EDU_DMA_LEN - off),
				  EDU_DMA_TO_RAM, irqs_work, &irq_missed);
	dma_rmb();
	sum_in = crc32_le(~0, (u8 *)in, EDU_DMA_LEN) ^ ~0;
	ok = !err && !memcmp(out, in, EDU_DMA_LEN);

	edu_report(e, "edu_dma_addr", "0x%llx,0x%llx",
		   (unsigned long long)out_dma, (unsigned long long)in_dma);
	edu_report(e, "edu_dma_bytes", "%u", EDU_DMA_LEN);
	edu_report(e, "edu_dma_sum", "0x%08x", sum_out);
	edu_report(e, "edu_dma_sum_back", "0x%08x", sum_in);
	edu_report(e, "edu_dma_irqs", "%d", atomic_read(&e->dma_irqs) - n0);
	if (err)
		edu_report(e, "edu_error", "DMA: %s", err);
	if (irq_missed)
		edu_report(e, "edu_error", "DMA: a completion interrupt did not come in %u ms",
			   timeout_ms);
	edu_report(e, "edu_dma_ok", "%d", ok);
free:
	if (in)
		dma_free_coherent(dev, EDU_BUF_SIZE, in, in_dma);
	if (out)
		dma_free_coherent(dev, EDU_BUF_SIZE, out, out_dma);
	return ok;
}

/*
 * dma_loop: round trips through the device's buffer until stopped; one
 * that fails ends the loop and says why. The buffer is the device's to
 * read and write the whole time: what the vmm is killed under.
 */
static int edu_dma_loop(void *data)
{
	struct edu *e = data;
	struct device *dev = &e->pdev->dev;
	unsigned long rounds = 0;
	const char *err = NULL;
	bool irq_missed = false;
	dma_addr_t buf_dma;
	u8 *buf;

	buf = dma_alloc_coherent(dev, EDU_BUF_SIZE, &buf_dma, GFP_KERNEL);
	if (!buf) {
		pr_info("VMM-AGENT: edu_dma_loop=no-buffer\n");
		goto wait;
	}
	memset(buf, 0x5a, EDU_BUF_SIZE);
	while (!kthread_should_stop() && !err) {
		err = edu_dma_one(e, buf_dma, EDU_BUF_ADDR, EDU_DMA_CHUNK, 0, true,
				  &irq_missed);
		if (!err)
			err = edu_dma_one(e, EDU_BUF_ADDR, buf_dma, EDU_DMA_CHUNK,
					  EDU_DMA_TO_RAM, true, &irq_missed);
		if (!err && irq_missed)
			err = "a completion interrupt did not come";
		if (!err && rounds++ == 0)
			pr_info("VMM-AGENT: edu_dma_loop=running\n");
	}
	if (err)
		pr_info("VMM-AGENT: edu_dma_loop=failed after %lu rounds: %s\n", rounds, err);
	dma_free_coherent(dev, EDU_BUF_SIZE, buf, buf_dma);
wait:
	/* kthread_stop() expects the thread alive until it asks. */
	while (!kthread_should_stop())
		msleep(100);
	return 0;
}

static void edu_run(struct edu *e)
{
	u32 id = readl(e->bar + EDU_REG_ID);
	bool ok, live, fact, dma;
	unsigned int raised;
	int dma_irqs;

	edu_report(e, "edu_id", "0x%08x", id);
	if ((id & 0xffff) != 0x00ed) {
		edu_report(e, "edu_error", "BAR0 does not read as edu (ID 0x%08x); no further checks", id);
		edu_report(e, "edu_ok", "0");
		return;
	}
	live = edu_check_live(e);
	fact = edu_check_fact(e);
	/* Nothing pending from before (the device has no reset). */
	writel(~0u, e->bar + EDU_REG_IRQ_ACK);
	raised = edu_check_raise(e);
	dma_irqs = atomic_read(&e->dma_irqs);
	dma = edu_check_dma(e, raised > 0);
	dma_irqs = atomic_read(&e->dma_irqs) - dma_irqs;
	edu_report(e, "edu_irqs", "%d", atomic_read(&e->irqs));
	edu_report(e, "edu_irqs_empty", "%d", atomic_read(&e->irqs_empty));
	ok = id == EDU_ID_VALUE && live && fact && dma && e->msi &&
	     raised == raises && dma_irqs == 2 * EDU_DMA_CHUNKS;
	edu_report(e, "edu_ok", "%d", ok);
	if (dma_loop && ok) {
		e->loop = kthread_run(edu_dma_loop, e, "vmm_edu_dma");
		if (IS_ERR(e->loop)) {
			edu_report(e, "edu_error", "dma_loop: kthread_run: %ld", PTR_ERR(e->loop));
			e->loop = NULL;
		}
	}
}

static int edu_cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return (x > y) - (x < y);
}

/* TSC cycles to tenths of a nanosecond. */
static u64 edu_tsc_dns(u64 cycles)
{
	return div_u64(cycles * 10000000ull, tsc_khz);
}

#define EDU_BENCH_BATCHES	16
#define EDU_BENCH_READS		256

/* vmm bench vfio's guest half; see the top of this file. */
static void edu_bench(struct edu *e)
{
	u64 batch[EDU_BENCH_BATCHES], *lat, t0, dns;
	unsigned int i, b, got = 0;

	if (!tsc_khz) {
		edu_report(e, "edu_bench_error", "the TSC frequency is unknown");
		return;
	}
	for (b = 0; b < EDU_BENCH_BATCHES; b++) {
		t0 = rdtsc_ordered();
		for (i = 0; i < EDU_BENCH_READS; i++)
			(void)readl(e->bar + EDU_REG_ID);
		batch[b] = rdtsc_ordered() - t0;
	}
	sort(batch, EDU_BENCH_BATCHES, sizeof(batch[0]), edu_cmp_u64, NULL);
	dns = div_u64(edu_tsc_dns(batch[EDU_BENCH_BATCHES / 2]), EDU_BENCH_READS);
	edu_report(e, "edu_bench_bar_read_ns", "%llu.%llu", dns / 10, dns % 10);

	lat = kcalloc(bench, sizeof(*lat), GFP_KERNEL);
	if (!lat) {
		edu_report(e, "edu_bench_error", "no memory for %u samples", bench);
		return;
	}
	writel(~0u, e->bar + EDU_REG_IRQ_ACK);
	for (i = 0; i < bench; i++) {
		unsigned long end = jiffies + msecs_to_jiffies(timeout_ms);
		int n = atomic_read(&e->raise_irqs);

		t0 = rdtsc_ordered();
		writel(EDU_IRQ_TEST, e->bar + EDU_REG_IRQ_RAISE);
		/* Interrupts stay on: the handler runs on this CPU, in this loop. */
		while (atomic_read(&e->raise_irqs) == n && time_before(jiffies, end))
			cpu_relax();
		if (atomic_read(&e->raise_irqs) == n) {
			edu_report(e, "edu_bench_error", "interrupt %u of %u: none in %u ms",
				   i + 1, bench, timeout_ms);
			writel(EDU_IRQ_TEST, e->bar + EDU_REG_IRQ_ACK);
			break;
		}
		lat[got++] = READ_ONCE(e->irq_tsc) - t0;
	}
	if (got) {
		sort(lat, got, sizeof(lat[0]), edu_cmp_u64, NULL);
		dns = edu_tsc_dns(lat[got / 2]);
		edu_report(e, "edu_bench_msi_ns", "%llu.%llu", dns / 10, dns % 10);
		dns = edu_tsc_dns(lat[0]);
		edu_report(e, "edu_bench_msi_min_ns", "%llu.%llu", dns / 10, dns % 10);
	}
	edu_report(e, "edu_bench_msis", "%u", got);
	kfree(lat);
}

static int edu_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct edu *e;
	int rc;

	e = devm_kzalloc(&pdev->dev, sizeof(*e), GFP_KERNEL);
	if (!e)
		return -ENOMEM;
	e->pdev = pdev;
	init_waitqueue_head(&e->wq);
	pci_set_drvdata(pdev, e);
	edu_report(e, "edu_bdf", "%s", pci_name(pdev));

	rc = pcim_enable_device(pdev);
	if (rc) {
		edu_report(e, "edu_error", "pci_enable_device: %d", rc);
		return rc;
	}
	if (!(pci_resource_flags(pdev, 0) & IORESOURCE_MEM) ||
	    pci_resource_len(pdev, 0) < EDU_BUF_ADDR + EDU_BUF_SIZE) {
		edu_report(e, "edu_error", "BAR0 is not a memory BAR of 1 MiB (%pR)",
			   &pdev->resource[0]);
		return -ENODEV;
	}
	rc = pcim_iomap_regions(pdev, BIT(0), "vmm_edu");
	if (rc) {
		edu_report(e, "edu_error", "cannot map BAR0 %pR: %d",
			   &pdev->resource[0], rc);
		return rc;
	}
	e->bar = pcim_iomap_table(pdev)[0];
	edu_report(e, "edu_bar0", "0x%llx",
		   (unsigned long long)pci_resource_start(pdev, 0));
	pci_set_master(pdev);

	rc = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSI);
	if (rc < 0 && allow_intx) {
		edu_report(e, "edu_msi_error", "%d", rc);
		rc = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_LEGACY);
	}
	if (rc < 0) {
		edu_report(e, "edu_error", "pci_alloc_irq_vectors: %d", rc);
		return rc;
	}
	e->msi = pdev->msi_enabled;
	e->irq = pci_irq_vector(pdev, 0);
	edu_report(e, "edu_irq_mode", "%s", e->msi ? "msi" : "intx");
	rc = devm_request_irq(&pdev->dev, e->irq, edu_irq,
			      e->msi ? 0 : IRQF_SHARED, "vmm_edu", e);
	if (rc) {
		edu_report(e, "edu_error", "request_irq(%d): %d", e->irq, rc);
		return rc;
	}
	edu_report(e, "edu_irq", "%d", e->irq);

	edu_run(e);
	/* Whatever the checks gave, as long as BAR0 is edu's: see the top. */
	if (bench && readl(e->bar + EDU_REG_ID) == EDU_ID_VALUE)
		edu_bench(e);
	probed++;
	return 0;
}

static void edu_remove(struct pci_dev *pdev)
{
	struct edu *e = pci_get_drvdata(pdev);

	if (e->loop)
		kthread_stop(e->loop);
	/* devres undoes the rest: IRQ, vectors, mapping, regions, enable. */
	pci_clear_master(pdev);
}

static ssize_t vmm_edu_result_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	struct edu *e = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%s", e->result);
}
static DEVICE_ATTR_RO(vmm_edu_result);

static struct attribute *edu_attrs[] = {
	&dev_attr_vmm_edu_result.attr,
	NULL,
};
ATTRIBUTE_GROUPS(edu);

static const struct pci_device_id edu_ids[] = {
	{ PCI_DEVICE(EDU_VENDOR, EDU_DEVICE) },
	{ }
};
MODULE_DEVICE_TABLE(pci, edu_ids);

static struct pci_driver edu_driver = {
	.name = "vmm_edu",
	.id_table = edu_ids,
	.probe = edu_probe,
	.remove = edu_remove,
	.dev_groups = edu_groups,	/* pci_register_driver copies it */
	.driver = {
		/* The checks run inside insmod, so it returns with the results. */
		.probe_type = PROBE_FORCE_SYNCHRONOUS,
	},
};

static int __init edu_init(void)
{
	int rc = pci_register_driver(&edu_driver);

	if (rc)
		return rc;
	if (!probed && !hotplug) {
		pci_unregister_driver(&edu_driver);
		pr_info("vmm_edu: no edu device (%04x:%04x) bound; not loading\n",
			EDU_VENDOR, EDU_DEVICE);
		return -ENODEV;
	}
	return 0;
}

static void __exit edu_exit(void)
{
	pci_unregister_driver(&edu_driver);
}

module_init(edu_init);
module_exit(edu_exit);

MODULE_DESCRIPTION("Test driver for QEMU's edu device, for the VMM's lab");
MODULE_LICENSE("GPL");
