// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the VmConfig decoder (vm.create's body, vmm run
 * --config's file). The input is the JSON text. It is decoded and parsed
 * as vm.create does (cli_parse_vm_config); a refusal must say why in one
 * printable line. What is accepted must round-trip: encoded again
 * (--print-config), it parses to a configuration that encodes to exactly
 * the same text.
 */
#include <stdlib.h>
#include <string.h>

#include "vmm/cli.h"
#include "vmm/config_json.h"
#include "vmm/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_why(const char *why)
{
	if (!*why)
		abort(); /* a refusal says why */
	for (const char *p = why; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			abort(); /* one line, printable */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_config_args a1 = { 0 }, a2 = { 0 };
	struct vm_config c1, c2;
	char why[512] = "", *t1, *t2;

	if (size > (1 << 16))
		return 0;
	if (cli_parse_vm_config((const char *)data, size, &c1, &a1, why, sizeof(why))) {
		check_why(why);
		vm_config_args_free(&a1);
		return 0;
	}
	t1 = vm_config_json_encode(&c1);
	if (!t1)
		abort();
	why[0] = '\0';
	if (cli_parse_vm_config(t1, strlen(t1), &c2, &a2, why, sizeof(why)))
		abort(); /* what we print, we read back */
	t2 = vm_config_json_encode(&c2);
	if (!t2 || strcmp(t1, t2))
		abort(); /* and it means the same */
	free(t1);
	free(t2);
	vm_config_args_free(&a1);
	vm_config_args_free(&a2);
	return 0;
}
