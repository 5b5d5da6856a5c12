// SPDX-License-Identifier: MIT
/*
 * cpuid_fixup on fake KVM_GET_SUPPORTED_CPUID lists shaped like an Intel
 * and an AMD host's: the host's topology (APIC ID 0x2a, 64 cores, SMT)
 * must not leak through, and nothing outside topology may change.
 */
#include <criterion/criterion.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/cpuid.h"

#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX

#define ECX_MONITOR      (1u << 3)
#define ECX_TSC_DEADLINE (1u << 24)
#define ECX_HYPERVISOR   (1u << 31)
#define EDX_HTT          (1u << 28)

static const struct kvm_cpuid_entry2 intel_host[] = {
	/* "GenuineIntel" */
	{ .function = 0, .eax = 0x1f, .ebx = 0x756e6547, .edx = 0x49656e69, .ecx = 0x6c65746e },
	{ .function = 1, .eax = 0x000806f8, .ebx = 0x2a400800, .ecx = 0x7ffafbff,
	  .edx = 0xbfebfbff },
	/* leaf 4: L1d, L1i, L2 shared by 2 threads, L3 by 128; 64 cores */
	{ .function = 4, .index = 0, .flags = SIG, .eax = 0xfc004121, .ebx = 0x02c0003f,
	  .ecx = 0x3f },
	{ .function = 4, .index = 1, .flags = SIG, .eax = 0xfc004122, .ebx = 0x01c0003f,
	  .ecx = 0x3f },
	{ .function = 4, .index = 2, .flags = SIG, .eax = 0xfc004143, .ebx = 0x03c0003f,
	  .ecx = 0x7ff },
	{ .function = 4, .index = 3, .flags = SIG, .eax = 0xfc1fc163, .ebx = 0x03c0003f,
	  .ecx = 0xbfff, .edx = 0x4 },
	{ .function = 4, .index = 4, .flags = SIG },
	{ .function = 0xb, .index = 0, .flags = SIG, .eax = 1, .ebx = 2, .ecx = 0x100,
	  .edx = 0x2a },
	{ .function = 0xb, .index = 1, .flags = SIG, .eax = 7, .ebx = 0x80, .ecx = 0x201,
	  .edx = 0x2a },
	{ .function = 0xb, .index = 2, .flags = SIG, .ecx = 0x2, .edx = 0x2a },
	/* 0x1F adds a die level (type 5) */
	{ .function = 0x1f, .index = 0, .flags = SIG, .eax = 1, .ebx = 2, .ecx = 0x100,
	  .edx = 0x2a },
	{ .function = 0x1f, .index = 1, .flags = SIG, .eax = 7, .ebx = 0x80, .ecx = 0x201,
	  .edx = 0x2a },
	{ .function = 0x1f, .index = 2, .flags = SIG, .eax = 8, .ebx = 0x100, .ecx = 0x502,
	  .edx = 0x2a },
	{ .function = 0x1f, .index = 3, .flags = SIG, .ecx = 0x3, .edx = 0x2a },
	/* "KVMKVMKVM" */
	{ .function = 0x40000000, .eax = 0x40000001, .ebx = 0x4b4d564b, .ecx = 0x564b4d56,
	  .edx = 0x4d },
	{ .function = 0x40000001, .eax = 0x01007afb },
	{ .function = 0x80000000, .eax = 0x80000008 },
	{ .function = 0x80000001, .ecx = 0x121, .edx = 0x2c100800 },
	{ .function = 0x80000008, .eax = 0x3027, .ebx = 0x200 },
};

static const struct kvm_cpuid_entry2 amd_host[] = {
	/* "AuthenticAMD" */
	{ .function = 0, .eax = 0x10, .ebx = 0x68747541, .edx = 0x69746e65, .ecx = 0x444d4163 },
	{ .function = 1, .eax = 0x00a00f11, .ebx = 0x2a800800, .ecx = 0x7ed8320b,
	  .edx = 0x178bfbff },
	{ .function = 0xb, .index = 0, .flags = SIG, .eax = 1, .ebx = 2, .ecx = 0x100,
	  .edx = 0x2a },
	{ .function = 0xb, .index = 1, .flags = SIG, .eax = 7, .ebx = 0x80, .ecx = 0x201,
	  .edx = 0x2a },
	{ .function = 0xb, .index = 2, .flags = SIG, .ecx = 0x2, .edx = 0x2a },
	{ .function = 0x40000000, .eax = 0x40000001, .ebx = 0x4b4d564b, .ecx = 0x564b4d56,
	  .edx = 0x4d },
	{ .function = 0x80000000, .eax = 0x80000021 },
	{ .function = 0x80000001, .eax = 0x00a00f11, .ecx = 0x75c237ff, .edx = 0x2fd3fbff },
	/* PerfTscSize 1, ApicIdSize 7, NC 63 */
	{ .function = 0x80000008, .eax = 0x3030, .ebx = 0x791ef257, .ecx = 0x0001703f },
	/* L1d (2 threads), L3 (16 threads) */
	{ .function = 0x8000001d, .index = 0, .flags = SIG, .eax = 0x00004121, .ebx = 0x01c0003f,
	  .ecx = 0x3f },
	{ .function = 0x8000001d, .index = 1, .flags = SIG, .eax = 0x0003c163, .ebx = 0x03c0003f,
	  .ecx = 0x7fff, .edx = 0x1 },
	{ .function = 0x8000001d, .index = 2, .flags = SIG },
	{ .function = 0x8000001e, .eax = 0x2a, .ebx = 0x00000115, .ecx = 0x00000300 },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A fresh copy of a host list, as KVM_GET_SUPPORTED_CPUID would return it. */
static struct kvm_cpuid2 *host_copy(const struct kvm_cpuid_entry2 *e, unsigned n)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(*e));

	cr_assert_not_null(c);
	c->nent = n;
	memcpy(c->entries, e, n * sizeof(*e));
	return c;
}

static struct kvm_cpuid2 *fixed(const struct kvm_cpuid_entry2 *e, unsigned n, unsigned apic_id,
				unsigned ncpus)
{
	struct kvm_cpuid2 *c = host_copy(e, n);
	struct cpu_topology topo = { .ncpus = ncpus };

	cpuid_fixup(c, apic_id, &topo);
	return c;
}

static struct kvm_cpuid_entry2 *get(struct kvm_cpuid2 *c, uint32_t fn, uint32_t index)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(c, fn, index);

	cr_assert_not_null(e, "leaf 0x%x.%u missing", fn, index);
	return e;
}

/* The entry of the host list at the same position. */
static const struct kvm_cpuid_entry2 *orig(const struct kvm_cpuid_entry2 *host,
					   struct kvm_cpuid2 *c, struct kvm_cpuid_entry2 *e)
{
	return &host[e - c->entries];
}

Test(cpuid, find_respects_significant_index)
{
	struct kvm_cpuid2 *c = host_copy(intel_host, N(intel_host));

	cr_assert_eq(get(c, 4, 3)->eax, 0xfc1fc163);
	cr_assert_eq(get(c, 0xb, 1)->ecx, 0x201);
	cr_assert_null(cpuid_find(c, 0xb, 7));
	/* leaf 1 is not index-significant: any index hits it */
	cr_assert_eq(get(c, 1, 5)->eax, 0x000806f8);
	cr_assert_null(cpuid_find(c, 0x8000001e, 0));
	free(c);
}

Test(cpuid, leaf1_per_vcpu_apic_id)
{
	for (unsigned apic = 0; apic < 4; apic += 3) {
		struct kvm_cpuid2 *c = fixed(intel_host, N(intel_host), apic, 4);
		struct kvm_cpuid_entry2 *e = get(c, 1, 0);
		const struct kvm_cpuid_entry2 *h = orig(intel_host, c, e);

		cr_assert_eq(e->ebx >> 24, apic);
		cr_assert_eq((e->ebx >> 16) & 0xff, 4);
		cr_assert_eq(e->ebx & 0xffff, h->ebx & 0xffff, "brand/CLFLUSH untouched");
		cr_assert_eq(e->eax, h->eax);
		cr_assert(e->ecx & ECX_HYPERVISOR);
		cr_assert_eq(e->ecx & ECX_MONITOR, 0);
		cr_assert(e->ecx & ECX_TSC_DEADLINE, "KVM reported it; in-kernel LAPIC has it");
		cr_assert_eq(e->ecx ^ h->ecx, ECX_HYPERVISOR | ECX_MONITOR,
			     "only hypervisor and monitor change");
		cr_assert(e->edx & EDX_HTT);
		cr_assert_eq(e->edx, h->edx);
		free(c);
	}
}

Test(cpuid, leaf1_logical_count_and_htt)
{
	static const struct { unsigned ncpus, count; } cases[] = {
		{ 1, 1 }, { 2, 2 }, { 3, 4 }, { 5, 8 }, { 64, 64 }, { 65, 128 }, { 200, 255 },
	};

	for (unsigned i = 0; i < N(cases); i++) {
		struct kvm_cpuid2 *c = fixed(intel_host, N(intel_host), 0, cases[i].ncpus);
		struct kvm_cpuid_entry2 *e = get(c, 1, 0);

		cr_assert_eq((e->ebx >> 16) & 0xff, cases[i].count, "ncpus %u", cases[i].ncpus);
		cr_assert_eq(!!(e->edx & EDX_HTT), cases[i].ncpus > 1, "ncpus %u", cases[i].ncpus);
		free(c);
	}
}

Test(cpuid, leaf1_apic_id_above_255)
{
	struct kvm_cpuid2 *c = fixed(intel_host, N(intel_host), 300, 512);

	cr_assert_eq(get(c, 1, 0)->ebx >> 24, 300 & 0xff);
	cr_assert_eq(get(c, 0xb, 0)->edx, 300);
	cr_assert_eq(get(c, 0xb, 1)->eax, 9);
	free(c);
}

static void check_ext_topology(struct kvm_cpuid2 *c, uint32_t leaf, unsigned apic,
			       unsigned ncpus, unsigned shift)
{
	struct kvm_cpuid_entry2 *smt = get(c, leaf, 0);
	struct kvm_cpuid_entry2 *core = get(c, leaf, 1);

	cr_assert_eq(smt->eax, 0, "leaf 0x%x ncpus %u: one thread, no SMT bits", leaf, ncpus);
	cr_assert_eq(smt->ebx, 1);
	cr_assert_eq(smt->ecx, 0x100, "subleaf 0, level type SMT");
	cr_assert_eq(smt->edx, apic);
	cr_assert_eq(core->eax, shift, "leaf 0x%x ncpus %u: core shift", leaf, ncpus);
	cr_assert_eq(core->ebx, ncpus);
	cr_assert_eq(core->ecx, 0x201, "subleaf 1, level type core");
	cr_assert_eq(core->edx, apic);
	/* every later subleaf ends the enumeration */
	for (unsigned i = 2; cpuid_find(c, leaf, i); i++) {
		struct kvm_cpuid_entry2 *e = get(c, leaf, i);

		cr_assert_eq(e->ecx, i, "leaf 0x%x.%u: invalid level, index in CL", leaf, i);
		cr_assert_eq(e->eax, 0);
		cr_assert_eq(e->ebx, 0);
		cr_assert_eq(e->edx, apic);
	}
}

Test(cpuid, extended_topology_shifts)
{
	static const struct { unsigned ncpus, shift; } cases[] = {
		{ 1, 0 }, { 2, 1 }, { 3, 2 }, { 4, 2 }, { 64, 6 }, { 65, 7 },
	};

	for (unsigned i = 0; i < N(cases); i++) {
		unsigned apic = cases[i].ncpus - 1;
		struct kvm_cpuid2 *c = fixed(intel_host, N(intel_host), apic, cases[i].ncpus);

		check_ext_topology(c, 0xb, apic, cases[i].ncpus, cases[i].shift);
		check_ext_topology(c, 0x1f, apic, cases[i].ncpus, cases[i].shift);
		free(c);
	}
}

Test(cpuid, extended_topology_per_vcpu)
{
	struct kvm_cpuid2 *c0 = fixed(intel_host, N(intel_host), 0, 4);
	struct kvm_cpuid2 *c3 = fixed(intel_host, N(intel_host), 3, 4);

	check_ext_topology(c0, 0xb, 0, 4, 2);
	check_ext_topology(c3, 0xb, 3, 4, 2);
	check_ext_topology(c3, 0x1f, 3, 4, 2);
	free(c0);
	free(c3);
}

Test(cpuid, leaf4_cache_topology)
{
	static const unsigned ncpus[] = { 1, 4, 64, 100 };

	for (unsigned i = 0; i < N(ncpus); i++) {
		unsigned n = ncpus[i];
		unsigned cores = n > 64 ? 64 : n;
		struct kvm_cpuid2 *c = fixed(intel_host, N(intel_host), 0, n);

		for (unsigned sub = 0; sub < 4; sub++) {
			struct kvm_cpuid_entry2 *e = get(c, 4, sub);
			const struct kvm_cpuid_entry2 *h = orig(intel_host, c, e);
			unsigned sharing = sub == 3 ? n : 1;

			cr_assert_eq(e->eax >> 26, cores - 1, "ncpus %u subleaf %u", n, sub);
			cr_assert_eq((e->eax >> 14) & 0xfff, sharing - 1, "ncpus %u subleaf %u", n,
				     sub);
			cr_assert_eq(e->eax & 0x3fff, h->eax & 0x3fff, "type/level untouched");
			cr_assert_eq(e->ebx, h->ebx);
			cr_assert_eq(e->ecx, h->ecx);
			cr_assert_eq(e->edx, h->edx);
		}
		cr_assert_eq(get(c, 4, 4)->eax, 0, "the terminator stays a terminator");
		free(c);
	}
}

Test(cpuid, other_leaves_untouched_on_intel)
{
	static const uint32_t same[] = { 0, 0x40000000, 0x40000001, 0x80000000, 0x80000001,
					 0x80000008 };
	struct kvm_cpuid2 *c = fixed(intel_host, N(intel_host), 3, 4);

	for (unsigned i = 0; i < N(same); i++) {
		struct kvm_cpuid_entry2 *e = get(c, same[i], 0);

		cr_assert_eq(memcmp(e, orig(intel_host, c, e), sizeof(*e)), 0, "leaf 0x%x",
			     same[i]);
	}
	cr_assert_eq(c->nent, N(intel_host));
	free(c);
}

Test(cpuid, refixing_matches_a_fresh_copy)
{
	struct kvm_cpuid2 *fresh = fixed(intel_host, N(intel_host), 3, 4);
	struct kvm_cpuid2 *reused = fixed(intel_host, N(intel_host), 0, 4);
	struct cpu_topology topo = { .ncpus = 4 };

	cpuid_fixup(reused, 3, &topo);
	cr_assert_eq(memcmp(fresh->entries, reused->entries, N(intel_host) * sizeof(fresh->entries[0])),
		     0);
	free(fresh);
	free(reused);
}

Test(cpuid, amd_topology_leaves)
{
	static const struct { unsigned ncpus, bits; } cases[] = {
		{ 1, 0 }, { 2, 1 }, { 3, 2 }, { 4, 2 }, { 64, 6 },
	};

	for (unsigned i = 0; i < N(cases); i++) {
		unsigned n = cases[i].ncpus, apic = n - 1;
		struct kvm_cpuid2 *c = fixed(amd_host, N(amd_host), apic, n);
		struct kvm_cpuid_entry2 *e8 = get(c, 0x80000008, 0);
		struct kvm_cpuid_entry2 *e1 = get(c, 0x80000001, 0);
		struct kvm_cpuid_entry2 *e1e = get(c, 0x8000001e, 0);

		cr_assert_eq(e8->ecx & 0xff, n - 1, "ncpus %u: NC", n);
		cr_assert_eq((e8->ecx >> 12) & 0xf, cases[i].bits, "ncpus %u: ApicIdSize", n);
		cr_assert_eq(e8->ecx & ~0xf0ffu, 0x00010000, "PerfTscSize untouched");
		cr_assert_eq(e8->eax, 0x3030);
		cr_assert_eq(!!(e1->ecx & 2), n > 1, "ncpus %u: CmpLegacy", n);
		cr_assert_eq(e1->ecx | 2, 0x75c237ff, "other 0x8000_0001 bits untouched");
		cr_assert_eq(e1->edx, 0x2fd3fbff);
		cr_assert_eq(e1e->eax, apic, "extended APIC ID");
		cr_assert_eq(e1e->ebx & 0xffff, apic, "core id, 1 thread per core");
		cr_assert_eq(e1e->ecx & 0x7ff, 0, "node 0 of 1");
		cr_assert_eq((get(c, 0x8000001d, 0)->eax >> 14) & 0xfff, 0, "L1d private");
		cr_assert_eq((get(c, 0x8000001d, 1)->eax >> 14) & 0xfff, n - 1, "L3 shared");
		cr_assert_eq(get(c, 0x8000001d, 1)->eax & ~0x03ffc000u, 0x163);
		cr_assert_eq(get(c, 1, 0)->ebx >> 24, apic);
		check_ext_topology(c, 0xb, apic, n, cases[i].bits);
		free(c);
	}
}

/* What KVM lists when the host's leaf 0xB is empty (seen on a nested AMD host). */
Test(cpuid, ext_topology_without_core_subleaf_reads_unimplemented)
{
	static const struct kvm_cpuid_entry2 empty_b[] = {
		{ .function = 1, .ebx = 0x2a400800, .edx = EDX_HTT },
		{ .function = 0xb, .index = 0, .flags = SIG },
		{ .function = 0x1f, .index = 0, .flags = SIG, .eax = 1, .ebx = 2, .ecx = 0x100 },
		{ .function = 0x1f, .index = 1, .flags = SIG, .eax = 7, .ebx = 0x80, .ecx = 0x201 },
	};
	struct kvm_cpuid2 *c = fixed(empty_b, N(empty_b), 3, 4);
	struct kvm_cpuid_entry2 *b0 = get(c, 0xb, 0);

	cr_assert_eq(b0->ebx, 0, "no logical processors: Linux won't use the leaf");
	cr_assert_eq(b0->ecx & 0xff00, 0, "invalid level type");
	cr_assert_eq(b0->eax, 0);
	cr_assert_eq(b0->edx, 3);
	/* a leaf that has its core subleaf is still described */
	check_ext_topology(c, 0x1f, 3, 4, 2);
	free(c);
}

Test(cpuid, missing_leaves_and_bad_arguments)
{
	static const struct kvm_cpuid_entry2 only_leaf1[] = {
		{ .function = 1, .ebx = 0x2a400800, .edx = EDX_HTT },
	};
	struct kvm_cpuid2 *c = host_copy(only_leaf1, 1);
	struct cpu_topology zero = { .ncpus = 0 };

	cpuid_fixup(NULL, 0, &zero);
	cpuid_fixup(c, 0, NULL);
	/* no topology means one vCPU */
	cr_assert_eq(c->entries[0].ebx, 0x00010800);
	cr_assert_eq(c->entries[0].edx & EDX_HTT, 0);
	cpuid_fixup(c, 0, &zero);
	cr_assert_eq(c->entries[0].ebx, 0x00010800);
	c->nent = 0;
	cpuid_fixup(c, 0, &zero);
	cr_assert_null(cpuid_find(c, 1, 0));
	free(c);

	/* ncpus 0 must not underflow into the core counts */
	c = fixed(intel_host, N(intel_host), 0, 0);
	check_ext_topology(c, 0xb, 0, 1, 0);
	cr_assert_eq(get(c, 4, 3)->eax >> 14, 0, "one core, L3 shared by one");
	free(c);
}

/* A host list with room for what cpuid_hv_apply may add. */
static struct kvm_cpuid2 *hv_copy(const struct kvm_cpuid_entry2 *e, unsigned n)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (n + CPUID_HV_EXTRA) * sizeof(*e));

	cr_assert_not_null(c);
	c->nent = n;
	memcpy(c->entries, e, n * sizeof(*e));
	return c;
}

static void assert_vendor(struct kvm_cpuid_entry2 *e, const char *want)
{
	char got[13] = { 0 };

	memcpy(got, &e->ebx, 4);
	memcpy(got + 4, &e->ecx, 4);
	memcpy(got + 8, &e->edx, 4);
	cr_assert_str_eq(got, want);
}

Test(cpuid, neither_hv_option_changes_nothing)
{
	struct kvm_cpuid2 *c = hv_copy(intel_host, N(intel_host));
	struct cpuid_hv hv = { 0 };

	cpuid_hv_apply(c, &hv);
	cr_assert_eq(c->nent, N(intel_host));
	cr_assert_eq(memcmp(c->entries, intel_host, sizeof(intel_host)), 0);
	free(c);
}

Test(cpuid, hide_kvm_takes_the_kvm_leaves_away)
{
	struct kvm_cpuid2 *c = hv_copy(intel_host, N(intel_host));
	struct cpuid_hv hv = { .hide_kvm = true };
	struct cpu_topology topo = { .ncpus = 1 };

	cpuid_fixup(c, 0, &topo);
	cpuid_hv_apply(c, &hv);
	cr_assert_eq(c->nent, N(intel_host) - 2);
	cr_assert_null(cpuid_find(c, 0x40000000, 0), "no KVMKVMKVM signature");
	cr_assert_null(cpuid_find(c, 0x40000001, 0), "no PV feature leaf");
	cr_assert_not_null(cpuid_find(c, 0x80000008, 0), "the leaves after them stay");
	cr_assert(get(c, 1, 0)->ecx & (1u << 31), "still says it is a VM (hypervisor bit)");
	free(c);
}

Test(cpuid, a_vendor_id_takes_the_first_leaf_and_kvm_moves_up)
{
	struct kvm_cpuid2 *c = hv_copy(intel_host, N(intel_host));
	struct cpuid_hv hv = { .vendor = "1234567890ab" };
	struct kvm_cpuid_entry2 *kvm;

	cpuid_hv_apply(c, &hv);
	cr_assert_eq(c->nent, N(intel_host) + 1);
	assert_vendor(get(c, 0x40000000, 0), "1234567890ab");
	kvm = get(c, 0x40000100, 0);
	assert_vendor(kvm, "KVMKVMKVM");
	cr_assert_eq(kvm->eax, 0x40000101, "its own last leaf");
	cr_assert_eq(get(c, 0x40000101, 0)->eax, 0x01007afb, "the PV features, moved as they were");
	cr_assert_null(cpuid_find(c, 0x40000001, 0));
	free(c);
}

Test(cpuid, a_vendor_id_with_kvm_hidden_is_all_there_is)
{
	struct kvm_cpuid2 *c = hv_copy(intel_host, N(intel_host));
	struct cpuid_hv hv = { .hide_kvm = true, .vendor = "Microsoft Hv" };

	cpuid_hv_apply(c, &hv);
	cr_assert_eq(c->nent, N(intel_host) - 1);
	assert_vendor(get(c, 0x40000000, 0), "Microsoft Hv");
	cr_assert_null(cpuid_find(c, 0x40000001, 0));
	cr_assert_null(cpuid_find(c, 0x40000100, 0));
	free(c);
}
