/* SPDX-License-Identifier: MIT */
#ifndef VMM_RUN_H
#define VMM_RUN_H

/* run.c: `vmm run`, from a vm_config to a stopped guest. */

struct vm_config;

/*
 * Copies a file (a VARS template) so that the copy is whole or
 * absent: written to to.tmp, synced, renamed over to. 0 or -errno.
 */
int copy_file_durably(const char *from, const char *to) __attribute__((warn_unused_result));

/* Boots a Linux bzImage per cfg and runs until the guest stops; returns the exit status. */
int vm_run_linux(const struct vm_config *cfg);

#endif
