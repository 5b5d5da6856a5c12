// SPDX-License-Identifier: MIT
/* `vmm host COMMAND`: the command line of the host-preparation commands. */
#include "host.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/size.h"

static void usage(FILE *f)
{
	fputs(
"Usage: vmm host COMMAND [options]\n"
"\n"
"Prepares this host for PCI passthrough, safely and reversibly.\n"
"\n"
"Commands:\n"
"  check [--memory SIZE]     is the host ready: CPU virtualization, /dev/kvm, the\n"
"                            IOMMU, iommu=pt, interrupt remapping, vfio modules,\n"
"                            /dev/vfio, the locked-memory limit against a guest of\n"
"                            SIZE, huge pages, ACS override; each with its fix\n"
"  groups                    every IOMMU group, its devices and a verdict: safe,\n"
"                            together (all its functions at once) or unsafe\n"
"  show BDF                  one card: its functions, reset methods, link, NUMA\n"
"                            node, BARs and ROM, identical cards elsewhere\n"
"  bind BDF... [--all-functions] [--force] [--user NAME|UID[:GID]]\n"
"                            hands the functions to vfio-pci through each one's\n"
"                            driver_override (never an ID rule); refuses the boot\n"
"                            VGA device, devices the host needs and groups that\n"
"                            cannot be used, unless --force. --user gives their\n"
"                            /dev/vfio nodes to that user, who can then run\n"
"                            vmm run --vfio without root\n"
"  unbind BDF...             gives those functions back to their previous driver\n"
"  restore                   gives back every function the state file records\n"
"  persist [BDF...] [--write] [--rollback]\n"
"                            the boot-time configuration (kernel parameters, early\n"
"                            per-BDF binding, initramfs) with each step's rollback;\n"
"                            only prints without --write. BDFs default to those\n"
"                            bound now. --rollback --write undoes a --write.\n"
"\n"
"Options:\n"
"  --sysroot DIR   read and write DIR/sys, DIR/proc, DIR/etc... (default /)\n"
"  --json          machine-readable output on stdout\n"
"  --dry-run       bind/unbind/restore: print each sysfs write, make none\n"
"  --state FILE    where bind records each function's previous driver and\n"
"                  driver_override for restore (default\n"
"                  /var/lib/vmm/host-state.json, under --sysroot when given)\n"
"  -h, --help      this text\n"
"\n"
"BDF is a PCI address such as 0000:01:00.0 (or 01:00.0). Every sysfs write is\n"
"logged on stderr before it is made. Exit status: 0 ok, 1 a finding failed or\n"
"an action was refused or failed, 2 bad usage.\n",
	f);
}

/* The length of the UTF-8 sequence at p (RFC 3629: no overlong forms, no surrogates), or 0. */
static size_t utf8_len(const unsigned char *p)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

json_t *host_json_text(const char *s)
{
	if (!s)
		return json_null();
	json_t *j = json_string(s);

	if (j)
		return j;
	/* Not UTF-8 (or out of memory, and then so is this). */
	char *fixed = malloc(strlen(s) * 3 + 1), *o = fixed;

	if (!fixed)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = utf8_len(p);

		if (n) {
			memcpy(o, p, n);
			o += n;
			p += n;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3); /* U+FFFD */
			o += 3;
			p++;
		}
	}
	*o = '\0';
	j = json_string(fixed);
	free(fixed);
	return j;
}

void host_json_push(json_t **array, json_t *v)
{
	/* With *array NULL, jansson drops v. */
	if (json_array_append_new(*array, v)) {
		json_decref(*array);
		*array = NULL;
	}
}

int host_json_print(FILE *out, json_t *root)
{
	char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;

	json_decref(root);
	if (!s) {
		pr_err("host: out of memory for the JSON output");
		return -ENOMEM;
	}
	fputs(s, out);
	fputc('\n', out);
	free(s);
	return 0;
}

struct opts {
	const char *sysroot, *state, *memory;
	bool json, write, rollback, help;
	struct host_bind_opts bind;
};

enum { OPT_SYSROOT = 256, OPT_JSON, OPT_DRY_RUN, OPT_FORCE, OPT_ALL, OPT_STATE, OPT_MEMORY,
       OPT_WRITE, OPT_ROLLBACK, OPT_USER };

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "sysroot", required_argument, NULL, OPT_SYSROOT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "all-functions", no_argument, NULL, OPT_ALL },
		{ "state", required_argument, NULL, OPT_STATE },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "write", no_argument, NULL, OPT_WRITE },
		{ "rollback", no_argument, NULL, OPT_ROLLBACK },
		{ "user", required_argument, NULL, OPT_USER },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	optind = 0; /* GNU getopt: start afresh, the tests parse many command lines */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SYSROOT: o->sysroot = optarg; break;
		case OPT_JSON: o->json = o->bind.json = true; break;
		case OPT_DRY_RUN: o->bind.dry_run = true; break;
		case OPT_FORCE: o->bind.force = true; break;
		case OPT_ALL: o->bind.all_functions = true; break;
		case OPT_STATE: o->state = optarg; break;
		case OPT_MEMORY: o->memory = optarg; break;
		case OPT_WRITE: o->write = true; break;
		case OPT_ROLLBACK: o->rollback = true; break;
		case OPT_USER: o->bind.user = optarg; break;
		case 'h': o->help = true; break;
		default:
			pr_err("host %s: unknown option '%s' (see vmm host --help)", argv[0],
			       argv[optind - 1]);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Checks the BDFs' shape up front, so a typo is named before anything is
 * read, and writes them back in the kernel's form ("01:00.0" becomes
 * "0000:01:00.0", which is no longer: norm holds them).
 */
static int check_bdfs(char **bdfs, int n, char (*norm)[HOST_BDF_LEN])
{
	for (int i = 0; i < n; i++) {
		if (host_parse_bdf(bdfs[i], norm[i])) {
			pr_err("%s: not a PCI address (want DOMAIN:BUS:DEV.FN, e.g. 0000:01:00.0)", bdfs[i]);
			return -EINVAL;
		}
		bdfs[i] = norm[i];
	}
	return 0;
}

static int show(const struct host *h, const char *bdf, bool json, FILE *out)
{
	int ret = host_cmd_show(h, bdf, json, out);

	if (ret == -ENODEV)
		pr_err("%s: no such PCI device under %s/sys/bus/pci/devices", bdf, h->root);
	return ret ? 1 : 0;
}

static int run(const char *cmd, struct opts *o, char **args, int n, const struct host_io *io)
{
	struct host h;
	char state[4096];
	uint64_t mem = 0;
	int ret;

	if (o->memory && size_parse(o->memory, &mem)) {
		pr_err("--memory %s: not a size (e.g. 16G)", o->memory);
		return 2;
	}
	char (*norm)[HOST_BDF_LEN] = calloc(n ? (size_t)n : 1, HOST_BDF_LEN);

	if (!norm || check_bdfs(args, n, norm)) {
		free(norm);
		return norm ? 2 : 1;
	}
	if (host_load(&h, o->sysroot ? o->sysroot : "/")) {
		free(norm);
		return 1;
	}
	if (!o->state && host_default_state(&h, state, sizeof(state)) == 0)
		o->state = state;
	o->bind.state = o->state;
	if (!strcmp(cmd, "groups"))
		ret = host_cmd_groups(&h, o->json, io->out);
	else if (!strcmp(cmd, "check"))
		ret = host_cmd_check(&h, mem, o->json, io->out);
	else if (!strcmp(cmd, "show"))
		ret = show(&h, args[0], o->json, io->out);
	else if (!strcmp(cmd, "bind"))
		ret = host_cmd_bind(&h, &o->bind, args, n, io);
	else if (!strcmp(cmd, "unbind") || !strcmp(cmd, "restore"))
		ret = host_cmd_unbind(&h, &o->bind, args, n, io);
	else
		ret = host_cmd_persist(&h, &(struct host_persist_opts){ .write = o->write,
				       .rollback = o->rollback, .json = o->json, .state = o->state },
				       args, n, io);
	host_free(&h);
	free(norm);
	return ret;
}

/* How many BDFs each command takes: min, max (-1: any). */
static int arity(const char *cmd, int n)
{
	static const struct { const char *cmd; int min, max; } cmds[] = {
		{ "check", 0, 0 }, { "groups", 0, 0 }, { "show", 1, 1 }, { "bind", 1, -1 },
		{ "unbind", 1, -1 }, { "restore", 0, 0 }, { "persist", 0, -1 },
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmd, cmds[i].cmd))
			continue;
		if (n < cmds[i].min || (cmds[i].max >= 0 && n > cmds[i].max)) {
			pr_err("host %s: %s (see vmm host --help)", cmd, n < cmds[i].min ?
			       "which device? give a BDF" : "too many arguments");
			return -EINVAL;
		}
		return 0;
	}
	pr_err("host: unknown command '%s' (vmm host --help lists them)", cmd);
	return -EINVAL;
}

int host_cmd(int argc, char **argv, const struct host_io *io)
{
	struct opts o = { 0 };

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : io->out);
		return argc < 2 ? 2 : 0;
	}
	if (parse(argc - 1, argv + 1, &o))
		return 2;
	if (o.help) {
		usage(io->out);
		return 0;
	}
	int n = argc - 1 - optind;
	char **args = argv + 1 + optind;

	if (arity(argv[1], n))
		return 2;
	return run(argv[1], &o, args, n, io);
}

int host_main(int argc, char **argv)
{
	struct host_io io = { .out = stdout, .log = stderr };

	return host_cmd(argc, argv, &io);
}
