/* SPDX-License-Identifier: MIT */
#ifndef VMM_CLI_H
#define VMM_CLI_H

#include <stdint.h>

struct vm_config;

/*
 * Parses `vmm run` arguments (argv[0] is "run") into cfg. Prints one line
 * naming the offending option on error and returns 2 (usage error); prints
 * help and returns 0 with *done set for --help.
 */
int cli_parse_run(int argc, char **argv, struct vm_config *cfg, int *done);

void cli_usage_main(void);

#endif
