/* SPDX-License-Identifier: MIT */
#ifndef VMM_CLI_H
#define VMM_CLI_H

#include <stddef.h>
#include <stdint.h>

struct vm_config;
struct vm_config_args;

/*
 * Parses `vmm run` arguments (argv[0] is "run") into cfg. Prints one line
 * naming the offending option on error and returns 2 (usage error); prints
 * help and returns 0 with *done set for --help.
 */
int cli_parse_run(int argc, char **argv, struct vm_config *cfg, int *done);

/*
 * A VmConfig JSON text (vm.create's body) into cfg, as `vmm run --config`
 * reads a file, with nothing from the command line: the same defaults and
 * checks. 0, or 2 with why (one line, no newline) naming the field at
 * fault. cfg's strings point into args, which the caller frees
 * (vm_config_args_free) once cfg is no longer used, also after an error.
 */
int cli_parse_vm_config(const char *text, size_t len, struct vm_config *cfg,
			struct vm_config_args *args, char *why, size_t why_len);

void cli_usage_main(void);

#endif
