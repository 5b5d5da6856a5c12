// SPDX-License-Identifier: MIT
#include "cli.h"
#include "config_json.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/layout.h"
#include "../core/log.h"
#include "../core/pci_addr.h"
#include "../core/size.h"
#include "vm.h"

/* --config: a VmConfig file is small; this bounds a mistaken one. */
#define CONFIG_MAX (1 << 20)
#define MAX_CPUS 255 /* xAPIC IDs in the MADT; 255 is the broadcast ID */

static void usage_run(FILE *f)
{
	fputs(
"Usage: vmm run --kernel FILE [options]\n"
"       vmm run --firmware CODE.fd [--vars VARS.fd] [--kernel FILE] [options]\n"
"       vmm run --config vm.json [options]\n"
"\n"
"Boots a Linux kernel (a bzImage) directly, without firmware, or UEFI\n"
"firmware (Debian's stock OVMF_CODE_4M.fd) on a Q35 platform: PCIe host\n"
"bridge with ECAM, ICH9 LPC, PCIe root ports, fw_cfg, CFI flash. With\n"
"--kernel too, the firmware boots that kernel (QEMU's -kernel, through\n"
"fw_cfg; it needs an EFI stub, as distribution kernels have). The serial\n"
"console is COM1 (ttyS0). The run ends when the guest powers off\n"
"(exit status 0) or on a fatal error (non-zero status, one line on stderr).\n"
"A guest reset (reboot, triple fault) boots the guest again on a fresh\n"
"machine, as a power cycle would, unless --no-reboot.\n"
"\n"
"Options:\n"
"  --cpus N              vCPUs, one thread each (default 1, at most 255)\n"
"  --memory SIZE[,hugepages=2M|1G][,prefault]\n"
"                        guest RAM (default 512M). SIZE takes K, M, G or T;\n"
"                        no suffix means MiB. hugepages= backs RAM with huge\n"
"                        pages from the host's pool (reserved at start, so a\n"
"                        short pool is an error now, not a crash later);\n"
"                        prefault touches all of it before the guest starts.\n"
"                        RAM beyond 2 GiB goes above 4 GiB, past the PCI hole.\n"
"  --kernel FILE         the bzImage to boot (64-bit boot protocol, 2.06+)\n"
"  --initrd FILE         an initramfs to load with it\n"
"  --cmdline STR         kernel command line (default: console=ttyS0)\n"
"  --firmware FILE       UEFI firmware CODE image, mapped read-only below 4 GiB\n"
"  --vars FILE           the firmware's variable store (writable flash; every\n"
"                        write is on disk before the firmware sees it done).\n"
"                        Default: a private copy of the VARS image next to\n"
"                        CODE (OVMF_CODE_4M.fd -> OVMF_VARS_4M.fd), kept in\n"
"                        $XDG_STATE_HOME/vmm/NAME/ (~/.local/state) across runs\n"
"  --name NAME           the VM's name (default guest): its private VARS copy\n"
"                        and its NICs' default MACs\n"
"  --disk path=FILE[,readonly][,direct][,serial=ID][,queues=N]\n"
"                        a virtio-blk disk on a raw image (repeatable, up to\n"
"                        8). The image is locked: no two VMs write one image.\n"
"                        readonly: the device refuses writes; direct: O_DIRECT;\n"
"                        serial: what the guest reads as its ID (20 chars)\n"
"  --net tap=NAME[,mac=MAC][,queues=N]\n"
"                        a virtio-net NIC on TAP device NAME (created if it\n"
"                        does not exist and this user may; up to 4). The vmm\n"
"                        holds the TAP from start to end: guest reboots leave\n"
"                        it as the host set it up (up, addresses, bridge);\n"
"                        one the vmm created goes away when the vmm ends. The\n"
"                        default MAC is derived from --name, so it is stable\n"
"  --vfio BDF[,rom=FILE|off][,reset=auto|flr|pm|bus|none][,mmap=off][,error=stop|log]\n"
"                        pass host PCI function BDF (0000:01:00.0 as lspci -D\n"
"                        shows it) through to the guest (repeatable, up to 8;\n"
"                        needs --firmware). It must be bound to vfio-pci with\n"
"                        the rest of its IOMMU group (vmm host bind BDF);\n"
"                        functions of one slot (a GPU and its audio) go\n"
"                        together behind one PCIe root port. All guest RAM is\n"
"                        pinned for its DMA: see ulimit -l.\n"
"                        rom=FILE: the guest reads FILE as the option ROM (a\n"
"                        GPU whose own ROM is missing or only for the host's\n"
"                        boot); rom=off: no ROM BAR.\n"
"                        reset: how the device is reset at start and exit\n"
"                        (the guest's reboot is a new start); auto: the\n"
"                        kernel's first choice; flr, pm, bus: that one, if\n"
"                        the device's reset_method in sysfs lists it (root);\n"
"                        none: never. Each reset is timed; -v shows it.\n"
"                        mmap=off: no BAR is mapped into the guest; every\n"
"                        access exits to the vmm, which forwards it (slow:\n"
"                        for measuring and debugging; QEMU's x-no-mmap)\n"
"                        error: what an error the device reports (AER, VFIO's\n"
"                        error interrupt) does, its AER status logged either\n"
"                        way; stop (default): the VM stops, as QEMU's does, so\n"
"                        no corrupt data reaches the guest; log: it runs on\n"
"  --vfio-iommu auto|type1|iommufd\n"
"                        how --vfio devices are held and their DMA mapped:\n"
"                        type1, the container and group nodes in /dev/vfio;\n"
"                        or iommufd, /dev/iommu and each device's cdev\n"
"                        (/dev/vfio/devices/vfioN: Linux 6.6+ built with\n"
"                        CONFIG_IOMMUFD). auto (default): iommufd when\n"
"                        /dev/iommu and every device's cdev exist, else type1\n"
"  --hide-kvm            hide KVM's CPUID signature and paravirt leaves\n"
"  --hv-vendor-id ID     CPUID 0x40000000 says vendor ID (1-12 characters);\n"
"                        KVM's leaves, unless hidden, move to 0x40000100.\n"
"                        Both are for GPU drivers that refuse to start under\n"
"                        a hypervisor (older NVIDIA drivers: error 43): use\n"
"                        them only when such a failure is reproducible, since\n"
"                        --hide-kvm also takes kvmclock and PV features away\n"
"  --pci-mmio64 SIZE     the 64-bit PCI window for BARs, asked of the\n"
"                        firmware (default: a quarter of the guest's physical\n"
"                        address space, 32G to 1T, or more if the --vfio\n"
"                        devices' BARs need it; OVMF may make it larger).\n"
"                        A window too small for those BARs is refused\n"
"  --hotplug-reserve [io=SIZE][,mem=SIZE][,pref64=SIZE]\n"
"                        room the firmware keeps behind each root port that\n"
"                        no --vfio slot takes, for a device added later with\n"
"                        vm.add-device: the guest cannot place a BAR that\n"
"                        does not fit its port's windows. pref64: the 64-bit\n"
"                        prefetchable window, at least the device's largest\n"
"                        BAR (a GPU: pref64=64G or more; the 64-bit PCI window\n"
"                        grows to hold every free port's); mem: the 32-bit\n"
"                        window, for BARs that must stay below 4 GiB; io: I/O\n"
"                        ports, which PCIe devices seldom need. Each is 0\n"
"                        (none) or a power of two (the firmware would round\n"
"                        it up to one): io 4K or 8K, mem 1M to 128M, pref64\n"
"                        1M to 64T. Keys not given keep their default:\n"
"                        io=0,mem=16M,pref64=256M. With --firmware only\n"
"  --serial stdio|file=PATH|none\n"
"                        where COM1 goes (default stdio). With stdio on a\n"
"                        terminal, input goes to the guest; Ctrl-A x quits.\n"
"  --no-reboot           end the run when the guest resets, instead of\n"
"                        booting it again\n"
"  --api-socket PATH|fd=N\n"
"                        serve Cloud Hypervisor's REST API (the subset in\n"
"                        docs/api.md) on a UNIX socket: made at PATH with\n"
"                        mode 0600, or fd N, a listening socket a supervisor\n"
"                        made. Only this user's processes (and root's) are\n"
"                        served. vmm ctl is its client; so is curl\n"
"                        --unix-socket\n"
"  --user NAME|UID[:GID]\n"
"                        started as root: open what needs root (KVM, VFIO,\n"
"                        the TAPs, the API socket), then run the guest as\n"
"                        this user (from /etc/passwd, its groups from\n"
"                        /etc/group) with no capabilities left. A reboot\n"
"                        makes the machine anew as that user: it needs\n"
"                        /dev/kvm, its VFIO nodes (vmm host bind --user),\n"
"                        its disks and --vars. docs/passthrough.md\n"
"  --shutdown-timeout SECONDS\n"
"                        how long SIGTERM waits for the guest to power off\n"
"                        after pressing its ACPI power button, before it\n"
"                        stops the guest hard (default 60; 0: at once)\n"
"  --config FILE         read the VM from FILE, a Cloud Hypervisor VmConfig in\n"
"                        JSON (cpus, memory, payload, disks, net, devices,\n"
"                        serial; ours under vmm_options: docs/api.md). Options\n"
"                        given on the command line too layer over the file's:\n"
"                        one-value options replace it, --disk/--net/--vfio add\n"
"  --print-config        print the VM these options describe as such a file\n"
"                        (paths made absolute) and exit, without starting it:\n"
"                        vmm run ... --print-config > vm.json\n"
"  -v, --verbose         more messages (repeat for debug)\n"
"  -h, --help            this text\n"
"\n"
"Examples:\n"
"  vmm run --cpus 2 --memory 1G --kernel /boot/vmlinuz-$(uname -r) \\\n"
"          --initrd initrd.img --cmdline 'console=ttyS0 root=/dev/vda1' \\\n"
"          --disk path=root.img --net tap=tap0\n"
"  vmm run --cpus 2 --memory 2G --firmware /usr/share/OVMF/OVMF_CODE_4M.fd \\\n"
"          --kernel /boot/vmlinuz-$(uname -r) --initrd initrd.img\n"
"  vmm run --cpus 4 --memory 8G --firmware ... --vfio 0000:01:00.0 \\\n"
"          --print-config > gpu.json;  vmm run --config gpu.json --cpus 8\n"
"\n"
"SIGTERM presses the guest's ACPI power button, as virsh shutdown does: a\n"
"guest that handles it (systemd-logind, acpid) shuts down cleanly, and the\n"
"run ends when it powers off, or after --shutdown-timeout with a hard stop.\n"
"One line says which, and how long it took; a second SIGTERM stops it at\n"
"once. SIGINT and SIGHUP stop the guest at once. Each ends the run with 0.\n"
"SIGUSR2 prints each virtio device's queues and interrupts to stderr and\n"
"runs on: where to look when a guest's disk or network I/O stops.\n",
	f);
}

void cli_usage_main(void)
{
	fputs(
"Usage: vmm COMMAND [options]\n"
"\n"
"A virtual machine monitor for KVM.\n"
"\n"
"Commands:\n"
"  run      boot a guest (vmm run --help)\n"
"  bench    measure against QEMU in the same run (vmm bench --help)\n"
"  host     prepare this host for passthrough (vmm host --help)\n"
"  ctl      drive a running vmm through its API socket (vmm ctl --help)\n"
"  version  print the version\n"
"\n"
"vmm COMMAND --help tells more.\n",
	stdout);
}

/* While the options from --config FILE are parsed: "--config FILE: disks[1]: ". */
static char bad_ctx[PATH_MAX + 128];

/* Where bad() writes instead of stderr: cli_parse_vm_config()'s caller wants the line. */
static char *bad_buf;
static size_t bad_len;

static int bad(const char *opt, const char *val, const char *why)
{
	if (bad_buf) {
		snprintf(bad_buf, bad_len, "%s%s %s: %s", bad_ctx, opt, val, why);
		vm_config_one_line(bad_buf);
	} else
		pr_err("%s%s %s: %s (see vmm run --help)", bad_ctx, opt, val, why);
	return 2;
}

static int parse_memory(const char *arg, struct mem_options *m)
{
	char *copy = strdup(arg), *save = NULL;
	int ret = 0;

	if (!copy)
		return 2;
	for (char *tok = strtok_r(copy, ",", &save); tok && !ret;
	     tok = strtok_r(NULL, ",", &save)) {
		if (tok == copy) {
			if (size_parse(tok, &m->size))
				ret = bad("--memory", arg, "not a size (try 512M or 2G)");
		} else if (!strcmp(tok, "prefault")) {
			m->prefault = 1;
		} else if (!strcmp(tok, "hugepages=2M")) {
			m->hugepage_size = 2 * SZ_1M;
		} else if (!strcmp(tok, "hugepages=1G")) {
			m->hugepage_size = SZ_1G;
		} else {
			ret = bad("--memory", arg, "unknown option (hugepages=2M|1G, prefault)");
		}
	}
	free(copy);
	return ret;
}

static int check_memory(const char *arg, const struct mem_options *m)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	uint64_t host = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : 0;
	char why[128];

	if (m->size == 0)
		return bad("--memory", arg, "guest RAM must be larger than zero");
	if (m->size % 4096)
		return bad("--memory", arg, "must be a multiple of 4 KiB");
	if (host && m->size > host) {
		snprintf(why, sizeof(why), "more than this host's %.1f GiB of RAM",
			 (double)host / (double)SZ_1G);
		return bad("--memory", arg, why);
	}
	return 0;
}

static int parse_serial(const char *arg, struct vm_config *cfg)
{
	if (!strcmp(arg, "stdio")) {
		cfg->serial = SERIAL_STDIO;
	} else if (!strcmp(arg, "none")) {
		cfg->serial = SERIAL_NONE;
	} else if (!strncmp(arg, "file=", 5) && arg[5]) {
		cfg->serial = SERIAL_FILE;
		cfg->serial_path = arg + 5;
	} else {
		return bad("--serial", arg, "expected stdio, file=PATH or none");
	}
	return 0;
}

static int parse_cpus(const char *arg, unsigned *cpus)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || !isdigit((unsigned char)*arg) || v == 0 || v > MAX_CPUS)
		return bad("--cpus", arg, "must be a number from 1 to 255");
	*cpus = (unsigned)v;
	return 0;
}

/* A name becomes a directory name: letters, digits, '-', '_' and '.', not first. */
static int parse_name(const char *arg, struct vm_config *cfg)
{
	size_t n = strlen(arg);

	if (n == 0 || n > 64 || arg[0] == '.')
		return bad("--name", arg, "1 to 64 characters, not starting with '.'");
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)arg[i]) && !strchr("-_.", arg[i]))
			return bad("--name", arg, "only letters, digits, '-', '_' and '.'");
	cfg->name = arg;
	return 0;
}

/*
 * The largest window any guest can address: the firmware aligns the window
 * to the largest power of two not above its size, so one of more than 2^51
 * starts at 2^51 or above and ends past 2^52, x86-64's widest physical
 * address. The guest's own width, known later, may allow less (q35.c).
 */
#define MMIO64_MAX (1ULL << 51)

static int parse_mmio64(const char *arg, struct vm_config *cfg)
{
	uint64_t v;

	if (size_parse(arg, &v))
		return bad("--pci-mmio64", arg, "not a size (try 64G or 1T)");
	if (v < SZ_1G || v % SZ_1M)
		return bad("--pci-mmio64", arg, "at least 1G, in whole MiB");
	if (v > MMIO64_MAX)
		return bad("--pci-mmio64", arg, "at most 2048T, the largest window below x86-64's "
			   "52-bit physical addresses");
	cfg->pci_mmio64_size = v;
	return 0;
}

/* N in 1..max for a queues= key. */
static int parse_queues(const char *opt, const char *arg, const char *v, unsigned max,
			unsigned *out)
{
	char *end;
	unsigned long n;
	char why[64];

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || end == v || !isdigit((unsigned char)*v) || n == 0 || n > max) {
		snprintf(why, sizeof(why), "queues= must be a number from 1 to %u", max);
		return bad(opt, arg, why);
	}
	*out = (unsigned)n;
	return 0;
}

/*
 * Cuts a copy of "key=value,flag,..." into items; each call to next_item
 * returns the next one, with *value set after its '=' (or NULL).
 */
static char *next_item(char **cursor, char **value)
{
	char *item = *cursor, *comma, *eq;

	if (!item || !*item)
		return NULL;
	comma = strchr(item, ',');
	*cursor = comma ? comma + 1 : NULL;
	if (comma)
		*comma = '\0';
	eq = strchr(item, '=');
	*value = eq ? eq + 1 : NULL;
	if (eq)
		*eq = '\0';
	return item;
}

/*
 * --hotplug-reserve's keys. OVMF rounds a reservation up to a power of two
 * and aligns it to that, so only powers of two are taken: what is asked is
 * what the guest gets, and what the 64-bit window is sized for (q35.c).
 * The bounds let all VM_ROOT_PORTS ports be free at once: OVMF's Q35 I/O
 * space is 0x6000-0xffff (40 KiB, so 4 x 8 KiB), its 32-bit window
 * 0xc0000000-0xfc000000 (960 MiB, so 4 x 128 MiB with room left for bus
 * 0's BARs); 64 TiB of pref64 is a 46-bit guest's whole address space, and
 * 4 of it still sum without overflow.
 */
static const struct {
	const char *key;
	uint64_t min, max;
	const char *range, *why_max;
} reserve_keys[] = {
	{ "io", 4 * SZ_1K, 8 * SZ_1K, "0, 4K or 8K",
	  "4 root ports' worth must fit the firmware's 40 KiB of I/O space" },
	{ "mem", SZ_1M, 128 * SZ_1M, "0 or a power of two from 1M to 128M",
	  "4 root ports' worth must fit the firmware's 960 MiB 32-bit window" },
	{ "pref64", SZ_1M, 1ULL << 46, "0 or a power of two from 1M to 64T",
	  "64T is a 46-bit guest's whole address space" },
};

#define NR_RESERVE_KEYS (sizeof(reserve_keys) / sizeof(reserve_keys[0]))

/* One key=SIZE of --hotplug-reserve into *r. */
static int parse_reserve_key(const char *arg, const char *key, const char *val,
			     struct vm_hotplug_reserve *r)
{
	uint64_t *field[NR_RESERVE_KEYS] = { &r->io, &r->mem, &r->pref64 };
	unsigned k;
	uint64_t v;
	char why[256];

	for (k = 0; k < NR_RESERVE_KEYS && strcmp(key, reserve_keys[k].key); k++)
		;
	if (k == NR_RESERVE_KEYS || !val) {
		snprintf(why, sizeof(why), "%s: %s (expected [io=SIZE][,mem=SIZE][,pref64=SIZE])",
			 key, k < NR_RESERVE_KEYS ? "needs =SIZE" : "not a key");
		return bad("--hotplug-reserve", arg, why);
	}
	if (size_parse(val, &v)) {
		snprintf(why, sizeof(why), "%s=%s is not a size (try %s=%s)", key, val, key,
			 k ? "64M" : "4K");
		return bad("--hotplug-reserve", arg, why);
	}
	if (v && (v < reserve_keys[k].min || v > reserve_keys[k].max || (v & (v - 1)))) {
		snprintf(why, sizeof(why), "%s=%s: not %s (%s)", key, val, reserve_keys[k].range,
			 v > reserve_keys[k].max ? reserve_keys[k].why_max :
			 v < reserve_keys[k].min ? "less than a bridge window's granule" :
			 "the firmware would round it up to a power of two");
		return bad("--hotplug-reserve", arg, why);
	}
	*field[k] = v;
	return 0;
}

static int parse_hotplug_reserve(const char *arg, struct vm_config *cfg)
{
	struct vm_hotplug_reserve r = cfg->hotplug_reserve;
	char copy[VM_SPEC_MAX], *cursor = copy, *key, *val;

	if (!*arg)
		return bad("--hotplug-reserve", "\"\"", "expected [io=SIZE][,mem=SIZE][,pref64=SIZE]");
	if (strlen(arg) >= sizeof(copy))
		return bad("--hotplug-reserve", arg, "too long");
	strcpy(copy, arg);
	while ((key = next_item(&cursor, &val)))
		if (parse_reserve_key(arg, key, val, &r))
			return 2;
	cfg->hotplug_reserve = r;
	return 0;
}

static int parse_disk(const char *arg, struct vm_config *cfg)
{
	struct vm_disk *d;
	char *cursor, *key, *val;

	if (cfg->nr_disks == VM_MAX_DISKS)
		return bad("--disk", arg, "too many disks (at most 8)");
	d = &cfg->disk[cfg->nr_disks];
	*d = (struct vm_disk){ .queues = 1 };
	if (strlen(arg) >= sizeof(d->spec))
		return bad("--disk", arg, "too long");
	strcpy(d->spec, arg);
	cursor = d->spec;
	while ((key = next_item(&cursor, &val))) {
		if (!strcmp(key, "path") && val && *val)
			d->path = val;
		else if (!strcmp(key, "readonly") && !val)
			d->readonly = true;
		else if (!strcmp(key, "direct") && !val)
			d->direct = true;
		else if (!strcmp(key, "serial") && val && *val && strlen(val) <= 20)
			d->serial = val;
		else if (!strcmp(key, "serial"))
			return bad("--disk", arg, "serial= takes 1 to 20 characters");
		else if (!strcmp(key, "queues") && val) {
			if (parse_queues("--disk", arg, val, 16, &d->queues))
				return 2;
		} else
			return bad("--disk", arg, "expected path=FILE[,readonly][,direct][,serial=ID]"
				   "[,queues=N]");
	}
	if (!d->path)
		return bad("--disk", arg, "path=FILE is required");
	cfg->nr_disks++;
	return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &tail) != 6 || strlen(s) != 17)
		return -EINVAL;
	for (unsigned i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	/* Unicast only: a multicast bit would make every peer drop our frames. */
	return mac[0] & 1 ? -EINVAL : 0;
}

static const char *const vfio_resets[] = {
	[VM_VFIO_RESET_AUTO] = "auto", [VM_VFIO_RESET_FLR] = "flr", [VM_VFIO_RESET_PM] = "pm",
	[VM_VFIO_RESET_BUS] = "bus", [VM_VFIO_RESET_NONE] = "none",
};

#define NR_VFIO_RESETS (sizeof(vfio_resets) / sizeof(vfio_resets[0]))

static int parse_vfio(const char *arg, struct vm_config *cfg)
{
	struct vm_vfio_fn_cfg *f;
	char bdf[HOST_BDF_LEN], *cursor, *key, *val;

	if (cfg->nr_vfio == VM_MAX_VFIO)
		return bad("--vfio", arg, "too many functions (at most 8)");
	f = &cfg->vfio[cfg->nr_vfio];
	*f = (struct vm_vfio_fn_cfg){ .reset = VM_VFIO_RESET_AUTO };
	if (strlen(arg) >= sizeof(f->spec))
		return bad("--vfio", arg, "too long");
	strcpy(f->spec, arg);
	cursor = f->spec;
	f->bdf = next_item(&cursor, &val);
	/* The only parse of the address: the plan, the slot and the guest's devfn use its numbers. */
	if (!f->bdf || val || host_parse_bdf(f->bdf, bdf) ||
	    sscanf(bdf, "%4hx:%2hhx:%2hhx.%1hhx", &f->domain, &f->bus, &f->dev, &f->fn) != 4)
		return bad("--vfio", arg, "expected a PCI address like 0000:01:00.0 (lspci -D), "
			   "then ,rom=FILE|off, ,reset=auto|flr|pm|bus|none and ,mmap=off if need be");
	while ((key = next_item(&cursor, &val))) {
		unsigned r;

		if (!strcmp(key, "rom") && val && !strcmp(val, "off")) {
			f->rom_off = true;
			f->rom = NULL;
		} else if (!strcmp(key, "rom") && val && *val) {
			f->rom = val;
			f->rom_off = false;
		} else if (!strcmp(key, "reset") && val) {
			for (r = 0; r < NR_VFIO_RESETS && strcmp(val, vfio_resets[r]); r++)
				;
			if (r == NR_VFIO_RESETS)
				return bad("--vfio", arg, "reset= takes auto, flr, pm, bus or none");
			f->reset = (enum vm_vfio_reset)r;
		} else if (!strcmp(key, "mmap") && val && (!strcmp(val, "off") || !strcmp(val, "on"))) {
			f->no_mmap = !strcmp(val, "off");
		} else if (!strcmp(key, "error") && val &&
			   (!strcmp(val, "stop") || !strcmp(val, "log"))) {
			f->error_log = !strcmp(val, "log");
		} else {
			return bad("--vfio", arg, "expected BDF[,rom=FILE|off][,reset=auto|flr|pm|"
				   "bus|none][,mmap=off][,error=stop|log]");
		}
	}
	cfg->nr_vfio++;
	return 0;
}

static int parse_net(const char *arg, struct vm_config *cfg)
{
	struct vm_nic *n;
	char *cursor, *key, *val;

	if (cfg->nr_nics == VM_MAX_NICS)
		return bad("--net", arg, "too many NICs (at most 4)");
	n = &cfg->nic[cfg->nr_nics];
	*n = (struct vm_nic){ .queues = 1 };
	if (strlen(arg) >= sizeof(n->spec))
		return bad("--net", arg, "too long");
	strcpy(n->spec, arg);
	cursor = n->spec;
	while ((key = next_item(&cursor, &val))) {
		if (!strcmp(key, "tap") && val && *val && strlen(val) < 16)
			n->tap = val;
		else if (!strcmp(key, "tap"))
			return bad("--net", arg, "tap= takes an interface name of 1 to 15 characters");
		else if (!strcmp(key, "mac") && val) {
			if (parse_mac(val, n->mac))
				return bad("--net", arg, "mac= must be a unicast MAC like 52:54:00:12:34:56");
			n->has_mac = true;
		} else if (!strcmp(key, "queues") && val) {
			if (parse_queues("--net", arg, val, 8, &n->queues))
				return 2;
		} else
			return bad("--net", arg, "expected tap=NAME[,mac=MAC][,queues=N]");
	}
	if (!n->tap)
		return bad("--net", arg, "tap=NAME is required");
	cfg->nr_nics++;
	return 0;
}

/* --hv-vendor-id: what CPUID 0x40000000's EBX, ECX and EDX spell, 12 bytes at most. */
static int parse_vfio_iommu(const char *arg, struct vm_config *cfg)
{
	static const char *const names[] = {
		[VM_VFIO_IOMMU_AUTO] = "auto", [VM_VFIO_IOMMU_TYPE1] = "type1",
		[VM_VFIO_IOMMU_IOMMUFD] = "iommufd",
	};

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(arg, names[i])) {
			cfg->vfio_iommu = (enum vm_vfio_iommu)i;
			return 0;
		}
	}
	return bad("--vfio-iommu", arg, "is auto, type1 or iommufd");
}

static int parse_hv_vendor(const char *arg, struct vm_config *cfg)
{
	size_t n = strlen(arg);

	if (n < 1 || n > 12)
		return bad("--hv-vendor-id", arg, "takes 1 to 12 printable ASCII characters");
	for (size_t i = 0; i < n; i++)
		if (arg[i] < 0x20 || arg[i] > 0x7e)
			return bad("--hv-vendor-id", arg, "takes 1 to 12 printable ASCII characters");
	cfg->hv_vendor = arg;
	return 0;
}

static int parse_shutdown_timeout(const char *arg, struct vm_config *cfg)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (!*arg || *end || errno || arg[0] == '-' || v > 86400)
		return bad("--shutdown-timeout", arg, "takes whole seconds, 0 to 86400");
	cfg->shutdown_timeout_s = (unsigned)v;
	return 0;
}

enum { OPT_CPUS = 256, OPT_MEMORY, OPT_KERNEL, OPT_INITRD, OPT_CMDLINE, OPT_SERIAL,
       OPT_NO_REBOOT, OPT_FIRMWARE, OPT_VARS, OPT_NAME, OPT_MMIO64, OPT_DISK, OPT_NET,
       OPT_VFIO, OPT_VFIO_IOMMU, OPT_HIDE_KVM, OPT_HV_VENDOR, OPT_SHUTDOWN_TIMEOUT,
       OPT_API_SOCKET, OPT_CONFIG, OPT_PRINT_CONFIG, OPT_HOTPLUG_RESERVE, OPT_USER };

static const struct option run_opts[] = {
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "no-reboot", no_argument, NULL, OPT_NO_REBOOT },
	{ "shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN_TIMEOUT },
	{ "api-socket", required_argument, NULL, OPT_API_SOCKET },
	{ "user", required_argument, NULL, OPT_USER },
	{ "firmware", required_argument, NULL, OPT_FIRMWARE },
	{ "vars", required_argument, NULL, OPT_VARS },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "pci-mmio64", required_argument, NULL, OPT_MMIO64 },
	{ "hotplug-reserve", required_argument, NULL, OPT_HOTPLUG_RESERVE },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "net", required_argument, NULL, OPT_NET },
	{ "vfio", required_argument, NULL, OPT_VFIO },
	{ "vfio-iommu", required_argument, NULL, OPT_VFIO_IOMMU },
	{ "hide-kvm", no_argument, NULL, OPT_HIDE_KVM },
	{ "hv-vendor-id", required_argument, NULL, OPT_HV_VENDOR },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "print-config", no_argument, NULL, OPT_PRINT_CONFIG },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static int parse_one(int c, const char *arg, struct vm_config *cfg, const char **mem_arg)
{
	switch (c) {
	case OPT_CPUS: return parse_cpus(arg, &cfg->cpus);
	case OPT_MEMORY: *mem_arg = arg; return parse_memory(arg, &cfg->mem);
	case OPT_KERNEL: cfg->kernel = arg; return 0;
	case OPT_INITRD: cfg->initrd = arg; return 0;
	case OPT_CMDLINE: cfg->cmdline = arg; return 0;
	case OPT_SERIAL: return parse_serial(arg, cfg);
	case OPT_NO_REBOOT: cfg->no_reboot = true; return 0;
	case OPT_SHUTDOWN_TIMEOUT: return parse_shutdown_timeout(arg, cfg);
	case OPT_API_SOCKET:
		if (!*arg)
			return bad("--api-socket", "\"\"", "takes a path, or fd=N");
		cfg->api_socket = arg;
		return 0;
	case OPT_USER:
		if (!*arg)
			return bad("--user", "\"\"", "takes a user name, or UID[:GID]");
		cfg->user = arg;
		return 0;
	case OPT_FIRMWARE: cfg->firmware = arg; return 0;
	case OPT_VARS: cfg->vars = arg; return 0;
	case OPT_NAME: return parse_name(arg, cfg);
	case OPT_MMIO64: return parse_mmio64(arg, cfg);
	case OPT_HOTPLUG_RESERVE: return parse_hotplug_reserve(arg, cfg);
	case OPT_DISK: return parse_disk(arg, cfg);
	case OPT_NET: return parse_net(arg, cfg);
	case OPT_VFIO: return parse_vfio(arg, cfg);
	case OPT_VFIO_IOMMU: return parse_vfio_iommu(arg, cfg);
	case OPT_HIDE_KVM: cfg->hide_kvm = true; return 0;
	case OPT_HV_VENDOR: return parse_hv_vendor(arg, cfg);
	case 'v': if (log_threshold < LOG_DEBUG) log_threshold++; return 0;
	default: return 2;
	}
}

/* The options --config's file means; cfg's strings point into them for the whole run. */
static struct vm_config_args config_args;

/* Reads --config's file (1 MiB at most) and decodes it into config_args. */
static int read_config(const char *path)
{
	char why[512], *text;
	FILE *f = fopen(path, "re");
	size_t n;
	int ret;

	if (!f)
		return bad("--config", path, strerror(errno));
	text = malloc(CONFIG_MAX + 1);
	n = text ? fread(text, 1, CONFIG_MAX + 1, f) : 0;
	ret = text && !ferror(f) ? 0 : -errno;
	fclose(f);
	if (ret || n > CONFIG_MAX) {
		free(text);
		return bad("--config", path, ret ? strerror(-ret) : "larger than 1 MiB");
	}
	ret = vm_config_json_decode(text, n, &config_args, why, sizeof(why));
	free(text);
	return ret ? bad("--config", path, why) : 0;
}

/*
 * The file's options first, each with the field it came from (after
 * prefix), then the command line's.
 */
static int parse_config_args(const struct vm_config_args *args, struct vm_config *cfg,
			     const char *prefix, const char **mem_arg)
{
	for (unsigned i = 0; i < args->argc; i++) {
		const struct option *o;
		int ret;

		for (o = run_opts; o->name && strcmp(args->argv[i] + 2, o->name); o++)
			;
		snprintf(bad_ctx, sizeof(bad_ctx), "%s%s: ", prefix, args->field[i]);
		ret = parse_one(o->val, o->has_arg ? args->argv[i + 1] : NULL, cfg, mem_arg);
		bad_ctx[0] = '\0';
		if (ret)
			return ret;
		i += o->has_arg ? 1 : 0;
	}
	return 0;
}

/*
 * --config FILE, wherever it stands, is read before any other option: a
 * first pass of getopt finds it (so "--cmdline --config" is a command line).
 */
static int find_config(int argc, char **argv, const char **path)
{
	int c;

	*path = NULL;
	optind = 0; /* glibc: start afresh */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":vh", run_opts, NULL)) != -1)
		if (c == OPT_CONFIG)
			*path = optarg;
	if (!*path)
		return 0;
	vm_config_args_free(&config_args);
	return read_config(*path);
}

/* "--cpus" for OPT_CPUS. */
static const char *option_name(int c)
{
	static char name[32];

	for (const struct option *o = run_opts; o->name; o++)
		if (o->val == c) {
			snprintf(name, sizeof(name), "--%s", o->name);
			return name;
		}
	return "an option";
}

/*
 * --hotplug-reserve's default: a NIC or an NVMe drive added later fits in
 * 16 MiB of 32-bit window and 256 MiB of 64-bit prefetchable window; no
 * I/O window, since PCIe functions hardly need one and OVMF's 40 KiB of
 * I/O space would not go far.
 */
static const struct vm_hotplug_reserve hotplug_reserve_default = {
	.io = 0, .mem = 16 * SZ_1M, .pref64 = 256 * SZ_1M,
};

static void config_defaults(struct vm_config *cfg)
{
	*cfg = (struct vm_config){ .cpus = 1, .mem.size = 512 * SZ_1M, .cmdline = "console=ttyS0",
				   .name = "guest", .shutdown_timeout_s = 60,
				   .hotplug_reserve = hotplug_reserve_default };
}

static int check_run(const struct vm_config *cfg, const char *mem_arg);
static int cli_print_config(const struct vm_config *cfg, int *done);

int cli_parse_run(int argc, char **argv, struct vm_config *cfg, int *done)
{
	const char *mem_arg = "512M", *config, *vm_option = NULL;
	bool print_config = false;
	int c, ret;

	*done = 0;
	config_defaults(cfg);
	ret = find_config(argc, argv, &config);
	if (!ret && config) {
		char prefix[PATH_MAX + 16];

		snprintf(prefix, sizeof(prefix), "--config %s: ", config);
		ret = parse_config_args(&config_args, cfg, prefix, &mem_arg);
	}
	if (ret)
		return ret;
	optind = 0;
	opterr = 0; /* our own message, in the same form as every other */
	while ((c = getopt_long(argc, argv, ":vh", run_opts, NULL)) != -1) {
		if (c == '?' || c == ':') {
			pr_err("run: %s %s (see vmm run --help)", argv[optind - 1],
			       c == ':' ? "needs a value" : "is not an option");
			return 2;
		}
		if (c == 'h') {
			usage_run(stdout);
			*done = 1;
			return 0;
		}
		if (c == OPT_CONFIG)
			continue;
		if (c == OPT_PRINT_CONFIG) {
			print_config = true;
			continue;
		}
		if (c != OPT_API_SOCKET && c != OPT_SHUTDOWN_TIMEOUT && c != OPT_USER && c != 'v')
			vm_option = option_name(c);
		ret = parse_one(c, optarg, cfg, &mem_arg);
		if (ret)
			return ret;
	}
	if (optind < argc)
		return bad("run", argv[optind], "unexpected argument");
	/* --api-socket alone: the VM comes whole from vm.create (docs/api.md). */
	if (!cfg->kernel && !cfg->firmware && cfg->api_socket && (vm_option || config))
		return bad("run:", config ? "--config" : vm_option, "with --api-socket and no "
			   "--kernel or --firmware, the VM comes from vm.create: give it there");
	ret = check_run(cfg, mem_arg);
	if (ret || !print_config)
		return ret;
	return cli_print_config(cfg, done);
}

int cli_parse_vm_config(const char *text, size_t len, struct vm_config *cfg,
			struct vm_config_args *args, char *why, size_t why_len)
{
	const char *mem_arg = "512M";
	int ret;

	config_defaults(cfg);
	if (vm_config_json_decode(text, len, args, why, why_len))
		return 2;
	bad_buf = why;
	bad_len = why_len;
	ret = parse_config_args(args, cfg, "", &mem_arg);
	if (!ret)
		ret = check_run(cfg, mem_arg);
	bad_buf = NULL;
	return ret;
}

static int cli_print_config(const struct vm_config *cfg, int *done)
{
	char *text = vm_config_json_encode(cfg);

	if (!text) {
		pr_err("--print-config: out of memory");
		return 1;
	}
	fputs(text, stdout);
	free(text);
	*done = 1;
	return fflush(stdout) ? 1 : 0;
}

/* What holds between options, whichever way they came. */
static int check_run(const struct vm_config *cfg, const char *mem_arg)
{
	if (!cfg->kernel && !cfg->firmware && (!cfg->api_socket || bad_buf))
		return bad("run:", "--kernel FILE or --firmware FILE", "one is required (or "
			   "--api-socket alone, and the VM from vm.create)");
	if (cfg->vars && !cfg->firmware)
		return bad("--vars", cfg->vars, "only with --firmware");
	if (cfg->pci_mmio64_size && !cfg->firmware)
		return bad("run:", "--pci-mmio64", "only with --firmware");
	if (!cfg->firmware && memcmp(&cfg->hotplug_reserve, &hotplug_reserve_default,
				     sizeof(hotplug_reserve_default)))
		return bad("run:", "--hotplug-reserve", "only with --firmware (the root ports are "
			   "the Q35 machine's)");
	if (cfg->initrd && !cfg->kernel)
		return bad("--initrd", cfg->initrd, "only with --kernel");
	if (cfg->nr_vfio && !cfg->firmware)
		return bad("--vfio", cfg->vfio[0].bdf, "needs --firmware: a passed-through device sits "
			   "behind a PCIe root port of the Q35 machine, which the firmware sets up");
	return check_memory(mem_arg, &cfg->mem);
}
