// SPDX-License-Identifier: MIT
/*
 * One thread per vCPU. Each loops on KVM_RUN and turns port and MMIO
 * exits into bus accesses; everything else that can end a run (shutdown,
 * entry failure, internal error) stops the machine with a reason.
 */
#include "vcpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpuid.h"
#include "../core/layout.h"
#include "../core/log.h"
#include "../firmware/firmware.h"
#include "vm.h"

#define VCPU_KICK_SIGNAL SIGUSR1

static void kick_handler(int sig)
{
	(void)sig; /* only here to make KVM_RUN return EINTR */
}

void vcpu_signals_init(void)
{
	struct sigaction sa = { .sa_handler = kick_handler };

	sigemptyset(&sa.sa_mask);
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
}

static int set_cpuid(struct vcpu *vcpu)
{
	const struct kvm_cpuid2 *sup = vcpu->vm->supported_cpuid;
	size_t sz = sizeof(*sup) + sup->nent * sizeof(sup->entries[0]);
	struct cpu_topology topo = { .ncpus = vcpu->vm->cfg->cpus };
	struct cpuid_hv hv = { .hide_kvm = vcpu->vm->cfg->hide_kvm,
			       .vendor = vcpu->vm->cfg->hv_vendor };
	struct kvm_cpuid2 *c = malloc(sz + CPUID_HV_EXTRA * sizeof(sup->entries[0]));
	int ret = 0;

	if (!c)
		return -ENOMEM;
	memcpy(c, sup, sz);
	cpuid_fixup(c, vcpu->id, &topo);
	cpuid_hv_apply(c, &hv);
	/*
	 * KVM emulates the TSC-deadline timer in its LAPIC but older kernels
	 * (Debian's 6.1 among them) leave the bit out of the supported list.
	 */
	struct kvm_cpuid_entry2 *leaf1 = cpuid_find(c, 1, 0);

	if (leaf1 && ioctl(vcpu->vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0)
		leaf1->ecx |= 1u << 24;
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, c) < 0) {
		ret = -errno;
		pr_err("vcpu%u: KVM_SET_CPUID2: %s", vcpu->id, strerror(errno));
	}
	free(c);
	return ret;
}

enum {
	MSR_IA32_SYSENTER_CS = 0x174,
	MSR_IA32_SYSENTER_ESP = 0x175,
	MSR_IA32_SYSENTER_EIP = 0x176,
	MSR_IA32_MISC_ENABLE = 0x1a0,
	MSR_MTRR_DEF_TYPE = 0x2ff,
	MSR_STAR = 0xc0000081,
	MSR_LSTAR = 0xc0000082,
	MSR_CSTAR = 0xc0000083,
	MSR_SYSCALL_MASK = 0xc0000084,
	MSR_KERNEL_GS_BASE = 0xc0000102,
};

/*
 * What firmware would have left in the MSRs Linux reads before writing:
 * fast strings on, and MTRRs enabled with write-back as the default type
 * (all vCPUs alike, or Linux complains the MTRRs are inconsistent).
 */
static int set_msrs(struct vcpu *vcpu)
{
	static const struct { uint32_t index; uint64_t data; } init[] = {
		{ MSR_IA32_SYSENTER_CS, 0 }, { MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 }, { MSR_STAR, 0 }, { MSR_LSTAR, 0 },
		{ MSR_CSTAR, 0 }, { MSR_SYSCALL_MASK, 0 }, { MSR_KERNEL_GS_BASE, 0 },
		{ MSR_IA32_MISC_ENABLE, 1 /* fast strings */ },
		/* Last: firmware sets up MTRRs itself, from their reset state. */
		{ MSR_MTRR_DEF_TYPE, (1 << 11) | 6 /* enabled, write-back */ },
	};
	enum { N = sizeof(init) / sizeof(init[0]) };
	/* kvm_msrs ends in a flexible array: give it room without a GNU extension. */
	union {
		struct kvm_msrs hdr;
		uint8_t room[sizeof(struct kvm_msrs) + N * sizeof(struct kvm_msr_entry)];
	} msrs;

	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = vcpu->vm->cfg->firmware ? N - 1 : N;
	for (unsigned i = 0; i < N; i++) {
		msrs.hdr.entries[i].index = init[i].index;
		msrs.hdr.entries[i].data = init[i].data;
	}
	int n = ioctl(vcpu->fd, KVM_SET_MSRS, &msrs);

	if (n < 0)
		return -errno;
	if ((unsigned)n != msrs.hdr.nmsrs)
		pr_warn("vcpu%u: KVM refused MSR 0x%x", vcpu->id, init[n].index);
	return 0;
}

/* LINT0 as ExtINT and LINT1 as NMI: the wiring of a PC, which Linux assumes. */
static int set_lapic_lints(struct vcpu *vcpu)
{
	enum { APIC_LVT0 = 0x350, APIC_LVT1 = 0x360, MODE_EXTINT = 7 << 8, MODE_NMI = 4 << 8 };
	struct kvm_lapic_state lapic;

	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	uint32_t lvt0 = MODE_EXTINT, lvt1 = MODE_NMI;

	memcpy(&lapic.regs[APIC_LVT0], &lvt0, 4);
	memcpy(&lapic.regs[APIC_LVT1], &lvt1, 4);
	if (ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic) < 0)
		return -errno;
	return 0;
}

int vcpu_init(struct vm *vm, struct vcpu *vcpu, unsigned id)
{
	int ret, mmap_size;

	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (vcpu->fd < 0) {
		ret = -errno; /* pr_err's stdio may change errno */
		pr_err("vcpu%u: KVM_CREATE_VCPU: %s", id, strerror(-ret));
		return ret;
	}
	mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size < (int)sizeof(struct kvm_run))
		return -EINVAL;
	vcpu->run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		vcpu->run = NULL;
		return -errno;
	}
	vcpu->run_size = (size_t)mmap_size;
	ret = set_cpuid(vcpu);
	if (ret == 0 && (ret = set_msrs(vcpu)))
		pr_err("vcpu%u: KVM_SET_MSRS: %s", id, strerror(-ret));
	if (ret == 0 && (ret = set_lapic_lints(vcpu)))
		pr_err("vcpu%u: local APIC setup: %s", id, strerror(-ret));
	return ret;
}

static void set_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code64)
{
	*s = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
		.present = 1, .dpl = 0, .db = code64 ? 0 : 1, .s = 1, .l = code64, .g = 1,
	};
}

int vcpu_set_boot_regs(struct vcpu *vcpu, const struct boot_regs *b)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = b->rip, .rsi = b->rsi, .rsp = b->rsp, .rflags = 2 };
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	set_seg(&sregs.cs, b->cs_selector, 0xb /* execute/read, accessed */, true);
	set_seg(&sregs.ds, b->ds_selector, 0x3 /* read/write, accessed */, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gdt.base = b->gdt_base;
	sregs.gdt.limit = b->gdt_limit;
	sregs.idt.base = b->idt_base;
	sregs.idt.limit = b->idt_limit;
	sregs.cr0 = b->cr0;
	sregs.cr3 = b->cr3;
	sregs.cr4 = b->cr4;
	sregs.efer = b->efer;
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_FPU, &fpu) < 0)
		return -errno;
	return 0;
}

int vcpu_set_real_mode(struct vcpu *vcpu, uint16_t seg, uint16_t ip)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = ip, .rflags = 2, .rsp = 0xfff0 };

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	sregs.cs.selector = seg;
	sregs.cs.base = (uint64_t)seg << 4;
	sregs.ds = sregs.es = sregs.ss = sregs.cs;
	sregs.ds.type = sregs.es.type = sregs.ss.type = 0x3;
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

static void handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	unsigned size = run->io.size;

	/* String I/O (rep ins/outs) arrives as count back-to-back items. */
	for (uint32_t i = 0; i < run->io.count; i++, data += size) {
		if (run->io.direction == KVM_EXIT_IO_OUT)
			bus_write(&vcpu->vm->pio, run->io.port, data, size);
		else
			bus_read(&vcpu->vm->pio, run->io.port, data, size);
	}
}

/* The machine's, shared by its vCPUs: one machine per process, so one here. */
static struct log_ratelimit unassigned_mmio_rl;

static void handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	if (run->mmio.is_write) {
		if (!bus_write(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, run->mmio.len))
			dev_warn_rl(&unassigned_mmio_rl, "mmio",
				    "write of %u bytes to unassigned address 0x%llx",
				    run->mmio.len, (unsigned long long)run->mmio.phys_addr);
	} else {
		bus_read(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, run->mmio.len);
	}
}

static void handle_system_event(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(vm, VM_STOP_POWEROFF, NULL);
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_stop(vm, VM_STOP_RESET, NULL);
		break;
	default:
		vm_request_stop(vm, VM_STOP_ERROR, "vcpu%u: system event %u", vcpu->id,
				vcpu->run->system_event.type);
	}
}

/* Returns false when the loop must end. */
static bool handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct vm *vm = vcpu->vm;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(vcpu);
		return true;
	case KVM_EXIT_MMIO:
		handle_mmio(vcpu);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC; ours has one. Treat as a stop. */
		vm_request_stop(vm, VM_STOP_ERROR, "vcpu%u: halted with interrupts off", vcpu->id);
		return false;
	case KVM_EXIT_SHUTDOWN:
		/* A triple fault: on a PC that resets the machine. */
		vm_request_stop(vm, VM_STOP_RESET, "vcpu%u: triple fault", vcpu->id);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		handle_system_event(vcpu);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		vm_request_stop(vm, VM_STOP_ERROR, "vcpu%u: entry failed, hardware reason 0x%llx",
				vcpu->id,
				(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		vm_request_stop(vm, VM_STOP_ERROR, "vcpu%u: KVM internal error, suberror %u",
				vcpu->id, run->internal.suberror);
		return false;
	default:
		vm_request_stop(vm, VM_STOP_ERROR, "vcpu%u: unhandled exit reason %u", vcpu->id,
				run->exit_reason);
		return false;
	}
}

void vcpu_loop(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	while (atomic_load(&vm->stop) == VM_RUNNING) {
		if (atomic_load(&vm->pause_req)) {
			vm_vcpu_park(vm);
			continue;
		}
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				vcpu->run->immediate_exit = 0;
				continue;
			}
			vm_request_stop(vm, VM_STOP_ERROR, "vcpu%u: KVM_RUN: %s", vcpu->id,
					strerror(errno));
			break;
		}
		if (!handle_exit(vcpu))
			break;
	}
}

static void *vcpu_thread(void *arg)
{
	sigset_t set;

	/* Only the kick signal; everything else is for the main thread. */
	sigfillset(&set);
	sigdelset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	atomic_store(&((struct vcpu *)arg)->tid, (int)gettid());
	vcpu_loop(arg);
	return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
	int ret = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
	char name[16];

	if (ret)
		return -ret;
	vcpu->started = true;
	/* "vcpu0" in ps -T, top -H and /proc/PID/task/TID/comm: what a supervisor pins. */
	snprintf(name, sizeof(name), "vcpu%u", vcpu->id);
	pthread_setname_np(vcpu->thread, name);
	return 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
	/*
	 * immediate_exit covers the window where the thread is about to
	 * enter KVM_RUN and would otherwise sleep through the signal.
	 */
	if (vcpu->run)
		vcpu->run->immediate_exit = 1;
	if (vcpu->started)
		pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (vcpu->started) {
		vcpu_kick(vcpu);
		pthread_join(vcpu->thread, NULL);
		vcpu->started = false;
	}
	if (vcpu->run)
		munmap(vcpu->run, vcpu->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}
