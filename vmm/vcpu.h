/* SPDX-License-Identifier: MIT */
#ifndef VMM_VCPU_H
#define VMM_VCPU_H

#include <stdint.h>

struct boot_regs;
struct vcpu;
struct vm;

/* A vCPU thread and its exit loop (vcpu.c); struct vcpu is in vm.h. */
int vcpu_init(struct vm *vm, struct vcpu *vcpu, unsigned id) __attribute__((warn_unused_result));
int vcpu_set_boot_regs(struct vcpu *vcpu, const struct boot_regs *regs)
	__attribute__((warn_unused_result));
/* Real-mode start at cs:ip = seg:ip, for the tiny test payloads. */
int vcpu_set_real_mode(struct vcpu *vcpu, uint16_t seg, uint16_t ip)
	__attribute__((warn_unused_result));
/* The exit loop; returns when the machine stops. */
void vcpu_loop(struct vcpu *vcpu);
int vcpu_start(struct vcpu *vcpu) __attribute__((warn_unused_result));
void vcpu_kick(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu);
/* Installs the no-op signal handler used to kick vCPUs; once per process. */
void vcpu_signals_init(void);

#endif
