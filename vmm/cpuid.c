// SPDX-License-Identifier: MIT
#include "cpuid.h"

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CPUID1_ECX_MONITOR      (1u << 3)
#define CPUID1_ECX_HYPERVISOR   (1u << 31)
#define CPUID1_EDX_HTT          (1u << 28)
#define CPUID_EXT1_ECX_CMP_LEGACY (1u << 1)

/* Leaves 0xB / 0x1F, ECX[15:8]. */
#define TOPO_LEVEL_INVALID 0
#define TOPO_LEVEL_SMT     1
#define TOPO_LEVEL_CORE    2

/* Deterministic cache parameters (leaf 4, AMD 0x8000_001D), EAX. */
#define CACHE_TYPE(eax)      ((eax) & 0x1f) /* 0: no more caches */
#define CACHE_LEVEL(eax)     (((eax) >> 5) & 0x7)
#define CACHE_SHARING_SHIFT  14
#define CACHE_SHARING_MASK   (0xfffu << CACHE_SHARING_SHIFT)
#define CACHE_CORES_SHIFT    26 /* leaf 4 only */
#define CACHE_CORES_MASK     (0x3fu << CACHE_CORES_SHIFT)

/* What every fixer needs to know about the vCPU. */
struct vcpu_topo {
	struct kvm_cpuid2 *cpuid; /* the whole list, for leaves that depend on others */
	unsigned apic_id;
	unsigned ncpus;
	bool amd; /* AMD or Hygon: the 0x8000_00xx topology leaves mean something */
};

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *cpuid, uint32_t function,
				    uint32_t index)
{
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function != function)
			continue;
		if (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index)
			return e;
	}
	return NULL;
}

static bool vendor_is_amd(struct kvm_cpuid2 *cpuid)
{
	const struct kvm_cpuid_entry2 *e = cpuid_find(cpuid, 0, 0);
	char v[12];

	if (!e)
		return false;
	memcpy(v, &e->ebx, 4);
	memcpy(v + 4, &e->edx, 4);
	memcpy(v + 8, &e->ecx, 4);
	return !memcmp(v, "AuthenticAMD", 12) || !memcmp(v, "HygonGenuine", 12);
}

/* Bits needed to number n cores: the core-level shift of the APIC ID. */
static unsigned id_bits(unsigned n)
{
	unsigned b = 0;

	while (b < 32 && (1ULL << b) < n)
		b++;
	return b;
}

static unsigned min_u(unsigned a, unsigned b)
{
	return a < b ? a : b;
}

/*
 * EBX[23:16] is the number of addressable logical-processor IDs in the
 * package; Linux (like the SDM) takes the next power of two as the ID
 * field width, so give it that power of two: the same width as the core
 * level of leaf 0xB. Above 128 it no longer fits; 255 still yields the
 * right 8-bit width and x2APIC guests use leaf 0xB anyway.
 */
static uint32_t leaf1_id_count(unsigned ncpus)
{
	unsigned bits = id_bits(ncpus);

	return bits > 7 ? 0xff : 1u << bits;
}

/*
 * MONITOR goes: KVM traps MWAIT and runs it as a NOP unless mwait exits
 * are disabled (KVM_CAP_X86_DISABLE_EXITS, which we do not use), so a
 * guest idling in MWAIT would spin. TSC-deadline (ECX[24]) stays as KVM
 * reports it: our in-kernel LAPIC emulates the deadline MSR (api.rst,
 * "Local APIC features").
 */
static void fix_leaf1(struct kvm_cpuid_entry2 *e, const struct vcpu_topo *t)
{
	e->ebx = (e->ebx & 0xffff) | (t->apic_id & 0xff) << 24 | leaf1_id_count(t->ncpus) << 16;
	e->ecx |= CPUID1_ECX_HYPERVISOR;
	e->ecx &= ~CPUID1_ECX_MONITOR;
	/* HTT says EBX[23:16] is valid, i.e. more than one logical CPU. */
	if (t->ncpus > 1)
		e->edx |= CPUID1_EDX_HTT;
	else
		e->edx &= ~CPUID1_EDX_HTT;
}

/* One thread per core: L1 and L2 are private, L3 belongs to the package. */
static uint32_t cache_sharing_field(uint32_t eax, unsigned ncpus)
{
	unsigned sharing = CACHE_LEVEL(eax) >= 3 ? min_u(ncpus, 0x1000) : 1;

	return (uint32_t)(sharing - 1) << CACHE_SHARING_SHIFT;
}

static void fix_leaf4(struct kvm_cpuid_entry2 *e, const struct vcpu_topo *t)
{
	uint32_t cores = min_u(t->ncpus, 64) - 1;

	if (!CACHE_TYPE(e->eax))
		return;
	e->eax &= ~(CACHE_SHARING_MASK | CACHE_CORES_MASK);
	e->eax |= cache_sharing_field(e->eax, t->ncpus) | cores << CACHE_CORES_SHIFT;
}

/* AMD's leaf 4: same sharing field, EAX[31:26] reserved. */
static void fix_leaf_8000001d(struct kvm_cpuid_entry2 *e, const struct vcpu_topo *t)
{
	if (!CACHE_TYPE(e->eax))
		return;
	e->eax = (e->eax & ~CACHE_SHARING_MASK) | cache_sharing_field(e->eax, t->ncpus);
}

/*
 * 0xB and 0x1F, one entry per subleaf: SMT (1 thread, shift 0), then
 * core (all vCPUs, shift wide enough to number them), then the invalid
 * level that ends the enumeration, in place of whatever module/die
 * levels the host had. EDX is the x2APIC ID on every subleaf.
 *
 * Without a subleaf 1 in the list (hosts, often nested ones, whose leaf
 * 0xB is empty: KVM then lists only subleaf 0) the core level cannot be
 * described, and an SMT level alone would tell Linux each vCPU is a
 * package of its own. So the leaf then reads as not implemented (EBX 0)
 * and Linux falls back to leaves 1/4 or 0x8000_00xx, which are right.
 */
static void fix_ext_topology(struct kvm_cpuid_entry2 *e, const struct vcpu_topo *t)
{
	uint32_t level = cpuid_find(t->cpuid, e->function, 1) ? e->index : UINT32_MAX;

	switch (level) {
	case 0:
		e->eax = 0;
		e->ebx = 1;
		e->ecx = TOPO_LEVEL_SMT << 8;
		break;
	case 1:
		e->eax = id_bits(t->ncpus);
		e->ebx = min_u(t->ncpus, 0xffff);
		e->ecx = TOPO_LEVEL_CORE << 8 | 1;
		break;
	default:
		e->eax = 0;
		e->ebx = 0;
		e->ecx = TOPO_LEVEL_INVALID << 8 | (e->index & 0xff);
		break;
	}
	e->edx = t->apic_id;
}

/*
 * CmpLegacy with HTT: leaf 1's logical count is a core count, which is
 * exactly our one-thread-per-core package.
 */
static void fix_leaf_80000001(struct kvm_cpuid_entry2 *e, const struct vcpu_topo *t)
{
	if (t->ncpus > 1)
		e->ecx |= CPUID_EXT1_ECX_CMP_LEGACY;
	else
		e->ecx &= ~CPUID_EXT1_ECX_CMP_LEGACY;
}

/* ECX[7:0] NC (cores - 1), ECX[15:12] ApicIdSize (core bits of the APIC ID). */
static void fix_leaf_80000008(struct kvm_cpuid_entry2 *e, const struct vcpu_topo *t)
{
	uint32_t nc = min_u(t->ncpus, 256) - 1;

	e->ecx = (e->ecx & ~0xf0ffu) | nc | min_u(id_bits(t->ncpus), 15) << 12;
}

/* Extended APIC ID; core ID = APIC ID, 1 thread per core, 1 node. */
static void fix_leaf_8000001e(struct kvm_cpuid_entry2 *e, const struct vcpu_topo *t)
{
	e->eax = t->apic_id;
	e->ebx = (e->ebx & ~0xffffu) | (t->apic_id & 0xff);
	e->ecx &= ~0x7ffu;
}

static const struct {
	uint32_t function;
	bool amd_only; /* reserved or meaning something else on Intel */
	void (*fix)(struct kvm_cpuid_entry2 *e, const struct vcpu_topo *t);
} fixers[] = {
	{ 0x1, false, fix_leaf1 },
	{ 0x4, false, fix_leaf4 },
	{ 0xb, false, fix_ext_topology },
	{ 0x1f, false, fix_ext_topology },
	{ 0x80000001, true, fix_leaf_80000001 },
	{ 0x80000008, true, fix_leaf_80000008 },
	{ 0x8000001d, true, fix_leaf_8000001d },
	{ 0x8000001e, true, fix_leaf_8000001e },
};

/*
 * Entry by entry, so that index-significant leaves (4, 0xB, 0x1F,
 * 0x8000_001D) get each subleaf fixed by its own index. Everything
 * else, KVM's paravirt leaves 0x4000_00xx included, is left alone.
 */
void cpuid_fixup(struct kvm_cpuid2 *cpuid, unsigned apic_id, const struct cpu_topology *topo)
{
	struct vcpu_topo t = { .cpuid = cpuid, .apic_id = apic_id, .ncpus = 1 };

	if (!cpuid)
		return;
	if (topo && topo->ncpus)
		t.ncpus = topo->ncpus;
	t.amd = vendor_is_amd(cpuid);
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		for (size_t f = 0; f < sizeof(fixers) / sizeof(fixers[0]); f++) {
			if (fixers[f].function == e->function && (t.amd || !fixers[f].amd_only))
				fixers[f].fix(e, &t);
		}
	}
}

#define HV_BASE 0x40000000u
#define HV_KVM_MOVED 0x40000100u

static void drop_entry(struct kvm_cpuid2 *cpuid, uint32_t i)
{
	memmove(&cpuid->entries[i], &cpuid->entries[i + 1],
		(cpuid->nent - i - 1) * sizeof(cpuid->entries[0]));
	cpuid->nent--;
}

void cpuid_hv_apply(struct kvm_cpuid2 *cpuid, const struct cpuid_hv *hv)
{
	struct kvm_cpuid_entry2 *v;
	char sig[12] = { 0 };

	if (!cpuid || !hv || (!hv->hide_kvm && !hv->vendor))
		return;
	for (uint32_t i = 0; i < cpuid->nent;) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function != HV_BASE && e->function != HV_BASE + 1) {
			i++;
			continue;
		}
		if (hv->hide_kvm) {
			drop_entry(cpuid, i);
			continue;
		}
		/* Kept beside the vendor's leaf: where a hypervisor's second set goes. */
		e->function += HV_KVM_MOVED - HV_BASE;
		if (e->function == HV_KVM_MOVED)
			e->eax = HV_KVM_MOVED + 1;
		i++;
	}
	if (!hv->vendor)
		return;
	memcpy(sig, hv->vendor, strnlen(hv->vendor, sizeof(sig)));
	v = &cpuid->entries[cpuid->nent++];
	*v = (struct kvm_cpuid_entry2){ .function = HV_BASE, .eax = HV_BASE };
	memcpy(&v->ebx, sig, 4);
	memcpy(&v->ecx, sig + 4, 4);
	memcpy(&v->edx, sig + 8, 4);
}
