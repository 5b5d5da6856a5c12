/* SPDX-License-Identifier: MIT */
#ifndef VMM_CPUID_H
#define VMM_CPUID_H

#include <stdbool.h>
#include <stdint.h>

struct kvm_cpuid2;
struct kvm_cpuid_entry2;

struct cpu_topology {
	unsigned ncpus; /* one core per socket thread; all in one package */
};

/*
 * Turns the host's KVM_GET_SUPPORTED_CPUID list into what vCPU apic_id
 * of ncpus sees: its APIC ID in leaf 1 and in the x2APIC leaves (0xB and
 * 0x1F), a consistent core count in leaves 1, 4 and 0x8000_0008, the
 * hypervisor bit set, and no feature the VMM does not provide (e.g. no
 * TSC-deadline without the in-kernel LAPIC timer, no monitor/mwait).
 * Edits the list in place.
 *
 * TSC-deadline is kept exactly as KVM reports it: the VMM always uses
 * the in-kernel LAPIC, which emulates it. Kernels older than KVM commit
 * 9be4ec35d668 (Dec 2024) leave it out of KVM_GET_SUPPORTED_CPUID; a
 * caller that finds KVM_CAP_TSC_DEADLINE_TIMER may set CPUID.1:ECX[24].
 */
void cpuid_fixup(struct kvm_cpuid2 *cpuid, unsigned apic_id, const struct cpu_topology *topo);

/* The hypervisor leaves, as --hide-kvm and --hv-vendor-id ask. */
struct cpuid_hv {
	bool hide_kvm;        /* no KVM signature or PV feature leaf */
	const char *vendor;   /* up to 12 chars for leaf 0x4000_0000, or NULL */
};

/* Room cpuid_hv_apply may need past the list's nent entries. */
#define CPUID_HV_EXTRA 1

/*
 * KVM's leaves (0x4000_0000 "KVMKVMKVM", 0x4000_0001 its paravirt
 * features) go with hide_kvm; with a vendor, leaf 0x4000_0000 says that
 * vendor instead and KVM's leaves, when kept, move to 0x4000_0100, where
 * Linux and KVM itself still find them. The list must have room for
 * CPUID_HV_EXTRA more entries. Nothing changes with neither.
 */
void cpuid_hv_apply(struct kvm_cpuid2 *cpuid, const struct cpuid_hv *hv);

/*
 * The entry the guest's CPUID(function, index) would hit, as KVM matches
 * it (index only counts for KVM_CPUID_FLAG_SIGNIFCANT_INDEX entries), or
 * NULL.
 */
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *cpuid, uint32_t function,
				    uint32_t index);

#endif
