// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>

#include "../api/ctl.h"
#include "../bench/bench.h"
#include "cli.h"
#include "../core/log.h"
#include "run.h"
#include "vm.h"
#include "../host/host.h"

static int cmd_run(int argc, char **argv)
{
	struct vm_config cfg;
	int done, ret = cli_parse_run(argc, argv, &cfg, &done);

	if (ret || done)
		return ret;
	return vm_run_linux(&cfg);
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		cli_usage_main();
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("vmm %s\n", VMM_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "bench"))
		return bench_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "host"))
		return host_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "ctl"))
		return ctl_main(argc - 1, argv + 1);
	pr_err("unknown command '%s' (vmm --help lists them)", argv[1]);
	return 2;
}
