/* SPDX-License-Identifier: MIT */
#ifndef VMM_CONFIG_JSON_H
#define VMM_CONFIG_JSON_H

#include <jansson.h>
#include <stddef.h>

struct vm_config;

/*
 * Cloud Hypervisor's VmConfig (../shared/ref's OpenAPI description names
 * its fields), for the parts this vmm has: cpus, memory, payload, disks,
 * net, devices, serial, console, and our own vmm_options (docs/api.md).
 *
 * Decoding turns the JSON into the `vmm run` options it means ("--cpus",
 * "2", "--disk", "path=root.img,readonly", ...), and those go through the
 * command line's own parser: one set of checks for both, and options given
 * on the command line after them layer over the file's.
 */
struct vm_config_args {
	char **argv;           /* options and their values, each malloc'd */
	const char **field;    /* per entry: the JSON field it came from ("disks[1]") */
	unsigned argc, cap;
};

/*
 * Decodes a VmConfig text of len bytes, appending its options to out.
 * 0, or -EINVAL with why (one line) naming the field at fault and what it
 * should be: "disks[1].readonly: expected true or false, got a string".
 * A field outside the subset is refused unless it asks for nothing
 * (absent, null, false, 0, "", [], {}, or Cloud Hypervisor's default).
 */
int vm_config_json_decode(const char *text, size_t len, struct vm_config_args *out,
			  char *why, size_t why_len) __attribute__((warn_unused_result));
void vm_config_args_free(struct vm_config_args *a);
/* Control characters (from the input, echoed in a message) become '?'. */
void vm_config_one_line(char *s);

/* cfg as a VmConfig object (vm.info's "config"); NULL on ENOMEM. */
json_t *vm_config_json(const struct vm_config *cfg);

/*
 * cfg as a VmConfig (pretty-printed, a newline at the end), which decodes
 * back to the same configuration; relative paths are made
 * absolute, so the file works from any directory. malloc'd; NULL on ENOMEM.
 */
char *vm_config_json_encode(const struct vm_config *cfg);

#endif
