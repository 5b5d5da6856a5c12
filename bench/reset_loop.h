/* SPDX-License-Identifier: MIT */
#ifndef BENCH_RESET_LOOP_H
#define BENCH_RESET_LOOP_H

/*
 * "vmm bench reset": the reset loop itself (reset_loop.c), apart from its
 * command line and its report (bench_reset.c), so that the tests can run it
 * on a fake kernel (struct vfio_sys) and a fake sysfs tree.
 *
 * The functions (BDFs) are opened through VFIO as `vmm run` opens them;
 * then, method by method, each cycle resets them with that method alone
 * and polls their config space (through the VFIO config region) and the
 * probes until they are back as before the first reset, or the wait is
 * over. A cycle whose functions do not come back ends the method.
 */

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pci_addr.h"
#include "vfio/vfio.h"

#define BENCH_RESET_MAX_DEVS    8
#define BENCH_RESET_MAX_PROBES  8
#define BENCH_RESET_MAX_METHODS 8
#define BENCH_RESET_MAX_CYCLES  100000

enum bench_reset_iommu { BENCH_RESET_IOMMU_AUTO, BENCH_RESET_IOMMU_TYPE1, BENCH_RESET_IOMMU_IOMMUFD };

/*
 * --probe: a 32-bit register of the first function's BAR, after each cycle.
 * "barN+OFF=VALUE" reads it and wants VALUE; "barN+OFF:w=VALUE,r=EXPECT"
 * writes VALUE, then reads it and wants EXPECT.
 */
struct bench_reset_probe {
	char spec[64];
	unsigned bar;
	uint64_t off;
	bool write;
	uint32_t value, expect;
};

/* 0, or -EINVAL with one line in why that names what in spec is wrong. */
int bench_reset_probe_parse(const char *spec, struct bench_reset_probe *p, char *why, size_t len);

struct bench_reset_stats {
	unsigned n;
	double min, median, p99, max; /* p99: nearest rank; all -1 when n is 0 */
};

/* Of v[0..n), which stays as it is. */
void bench_reset_stats_of(const double *v, unsigned n, struct bench_reset_stats *s);

/* What one read of a function's config space showed. */
struct bench_reset_look {
	int err;                   /* the read itself failed: -errno; the rest is unset */
	uint16_t vendor, command;
	uint32_t class_rev;        /* read from the device: vfio-pci keeps its own vendor ID */
	uint32_t bar[6];
	uint16_t lnksta;           /* with a link */
	uint32_t aer_uncor, aer_cor; /* with AER */
};

struct bench_reset_dev {
	char bdf[HOST_BDF_LEN];
	int group;
	struct vfio_group *g;
	struct vfio_device d;
	char methods[128];         /* reset_method as found; "" when empty */
	int methods_err;           /* reading it failed (no such file before Linux 5.15) */
	uint16_t pcie;             /* the PCI Express capability; 0: none */
	bool has_link;             /* PCIe, and not integrated in the root complex */
	bool dllla;                /* its link reports Data Link Layer Link Active */
	uint16_t aer;              /* the AER extended capability; 0: none */
	struct bench_reset_look before;
};

struct bench_reset_method {
	char name[16];             /* as the kernel spells it: flr, af_flr, pm, bus... */
	bool hot;                  /* bus: VFIO_DEVICE_PCI_HOT_RESET, not VFIO_DEVICE_RESET */
	double *ioctl_ms, *back_ms; /* per cycle that came back */
	unsigned done;             /* cycles that came back */
	unsigned failed_cycle;     /* 0: none failed */
	bool interrupted;          /* stopped by SIGINT */
	char failure[1024];        /* the failed cycle: what was read, the state left */
	struct bench_reset_stats ioctl, back;
};

struct bench_reset {
	/* Given */
	const struct vfio_sys *sys;
	const char *root;          /* "" for the real / (tests: a fake tree) */
	enum bench_reset_iommu iommu;
	unsigned cycles;
	double wait_ms;            /* after the ioctl, how long a function may take to be back */
	struct bench_reset_probe probe[BENCH_RESET_MAX_PROBES];
	unsigned nr_probes;
	unsigned nr_devs;
	const volatile sig_atomic_t *stop; /* set: end the method after this cycle (may be NULL) */
	/* Opened */
	struct vfio_container c;
	struct vfio_group groups[BENCH_RESET_MAX_DEVS];
	unsigned nr_groups;
	struct bench_reset_dev dev[BENCH_RESET_MAX_DEVS]; /* bdf given; the rest opened */
	struct bench_reset_method m[BENCH_RESET_MAX_METHODS];
	unsigned nr_methods;
};

/*
 * Opens the functions whose bdf is set in b->dev (type1 or iommufd as
 * b->iommu says; auto: iommufd when there and every function has a cdev),
 * reads their reset_method and what their config space shows before any
 * reset, and checks the probes against the BARs. 0, or -errno with why.
 */
int bench_reset_open(struct bench_reset *b, char *why, size_t len)
	__attribute__((warn_unused_result));

/*
 * b->m from want: "flr" (flr or af_flr), "pm", "bus", or "all" (every method
 * that each function's reset_method lists, bus as a hot reset when VFIO can
 * do one). -ENOTSUP with why: nothing to measure, naming what the kernel
 * offers and what to do.
 */
int bench_reset_choose(struct bench_reset *b, const char *want, char *why, size_t len)
	__attribute__((warn_unused_result));

/*
 * All cycles of m: narrows reset_method to m alone (not for a hot reset,
 * which the kernel does whatever the list), resets, times, checks, and
 * puts each function's list back, whatever happened. 0; -EIO when a cycle
 * failed (m->failure says it); -EINTR when stopped; other -errno with why
 * (setting up the method, putting reset_method back).
 */
int bench_reset_run(struct bench_reset *b, struct bench_reset_method *m, char *why, size_t len)
	__attribute__((warn_unused_result));

void bench_reset_close(struct bench_reset *b);

#endif
