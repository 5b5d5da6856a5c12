/* SPDX-License-Identifier: MIT */
#ifndef VMM_CLI_H
#define VMM_CLI_H

#include <stdint.h>

struct vm_config;

/*
 * Parses a size such as 512M, 2G, 1024K or 4096 (no suffix: MiB, as in
 * QEMU's -m). Returns 0 or -EINVAL; -ERANGE on overflow.
 */
int cli_parse_size(const char *s, uint64_t *out);

/*
 * Parses `vmm run` arguments (argv[0] is "run") into cfg. Prints one line
 * naming the offending option on error and returns 2 (usage error); prints
 * help and returns 0 with *done set for --help.
 */
int cli_parse_run(int argc, char **argv, struct vm_config *cfg, int *done);

void cli_usage_main(void);

#endif
