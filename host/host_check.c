// SPDX-License-Identifier: MIT
/*
 * `vmm host check`: is this host ready for passthrough? Each finding says
 * ok, warn or fail, what was seen, and the exact fix for this host's
 * bootloader. Everything is read under the sysroot, so the findings are
 * those of the tree tests build as much as of the real host.
 */
#include "host.h"

#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum verdict { OK, WARN, FAIL };

struct finding {
	const char *name;
	enum verdict v;
	char detail[256];
	char fix[512];
};

#define MAX_FINDINGS 16

struct check {
	const struct host *h;
	char cmdline[4096];
	char cpuinfo_flags[8192];
	char vendor[32];
	uint64_t guest_memory;
	struct finding f[MAX_FINDINGS];
	unsigned n;
};

static struct finding *add(struct check *c, const char *name, enum verdict v, const char *detail)
{
	struct finding *f = &c->f[c->n < MAX_FINDINGS - 1 ? c->n++ : c->n];

	f->name = name;
	f->v = v;
	snprintf(f->detail, sizeof(f->detail), "%s", detail);
	f->fix[0] = '\0';
	return f;
}

/*
 * The kernel parameters that turn the IOMMU on, for the IOMMU the firmware
 * describes (DMAR: Intel VT-d, IVRS: AMD-Vi), else for the CPU's vendor.
 * AMD-Vi is on by default once the firmware enables it; VT-d often is not.
 */
const char *host_iommu_params(const struct host *h)
{
	char path[PATH_MAX], line[256];
	bool amd = false;

	if (host_exists(h, "sys/firmware/acpi/tables/DMAR"))
		return "intel_iommu=on iommu=pt";
	if (host_exists(h, "sys/firmware/acpi/tables/IVRS"))
		return "iommu=pt";
	if (host_path(h, path, sizeof(path), "proc/cpuinfo"))
		return "intel_iommu=on iommu=pt";
	FILE *f = fopen(path, "re");

	while (f && fgets(line, sizeof(line), f))
		amd |= !strncmp(line, "vendor_id", 9) && (strstr(line, "AuthenticAMD") || strstr(line, "HygonGenuine"));
	if (f)
		fclose(f);
	return amd ? "iommu=pt" : "intel_iommu=on iommu=pt";
}

enum host_boot host_bootloader(const struct host *h)
{
	if (host_exists(h, "etc/default/grub"))
		return HOST_BOOT_GRUB;
	if (host_exists(h, "etc/kernel/cmdline") || host_exists(h, "boot/loader/entries") ||
	    host_exists(h, "boot/efi/loader/entries") || host_exists(h, "efi/loader/entries"))
		return HOST_BOOT_SDBOOT;
	return HOST_BOOT_UNKNOWN;
}

/* The fix for missing kernel parameters, for the bootloader this host uses. */
static void fix_params(const struct check *c, struct finding *f, const char *params)
{
	switch (host_bootloader(c->h)) {
	case HOST_BOOT_GRUB:
		snprintf(f->fix, sizeof(f->fix), "add '%s' to GRUB_CMDLINE_LINUX_DEFAULT in "
			 "/etc/default/grub, run update-grub (grub-mkconfig -o /boot/grub/grub.cfg "
			 "elsewhere), reboot; vmm host persist --write does the first two", params);
		break;
	case HOST_BOOT_SDBOOT:
		snprintf(f->fix, sizeof(f->fix), "add '%s' to /etc/kernel/cmdline and run kernel-install "
			 "add $(uname -r) /boot/vmlinuz-$(uname -r) (or to the options line of "
			 "/boot/loader/entries/*.conf), reboot", params);
		break;
	default:
		snprintf(f->fix, sizeof(f->fix), "add '%s' to the kernel command line in your "
			 "bootloader's configuration (no GRUB or systemd-boot found), reboot", params);
	}
}

static bool has_param(const struct check *c, const char *p)
{
	size_t len = strlen(p);

	for (const char *s = c->cmdline; (s = strstr(s, p)); s += len) {
		if ((s == c->cmdline || s[-1] == ' ') && (p[len - 1] == '=' || !s[len] || s[len] == ' '))
			return true;
	}
	return false;
}

static bool is_intel(const struct check *c)
{
	return strcmp(c->vendor, "AuthenticAMD") && strcmp(c->vendor, "HygonGenuine");
}

static void read_cpuinfo(struct check *c)
{
	char path[PATH_MAX], line[8192];

	if (host_path(c->h, path, sizeof(path), "proc/cpuinfo"))
		return;
	FILE *f = fopen(path, "re");

	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "flags", 5) && !c->cpuinfo_flags[0])
			snprintf(c->cpuinfo_flags, sizeof(c->cpuinfo_flags), " %s ", strchr(line, ':') ?
				 strchr(line, ':') + 1 : "");
		else if (!strncmp(line, "vendor_id", 9) && strchr(line, ':'))
			sscanf(strchr(line, ':') + 1, "%31s", c->vendor);
	}
	if (f)
		fclose(f);
	for (char *p = c->cpuinfo_flags; *p; p++)
		*p = *p == '\n' || *p == '\t' ? ' ' : *p;
}

/* The CPU flag a hypervisor sets for its guests: this host is itself a virtual machine. */
static bool in_vm(const struct check *c)
{
	return strstr(c->cpuinfo_flags, " hypervisor ") != NULL;
}

/*
 * Returns what the virtualization fix is, in a few words the kvm finding
 * can name, or NULL when VT-x or AMD-V is there.
 */
static const char *check_virt(struct check *c)
{
	bool intel = is_intel(c);
	struct finding *f;

	if (strstr(c->cpuinfo_flags, " vmx ")) {
		add(c, "virtualization", OK, "vmx (Intel VT-x) in /proc/cpuinfo");
		return NULL;
	}
	if (strstr(c->cpuinfo_flags, " svm ")) {
		add(c, "virtualization", OK, "svm (AMD-V) in /proc/cpuinfo");
		return NULL;
	}
	if (in_vm(c)) {
		f = add(c, "virtualization", FAIL, "neither vmx nor svm in /proc/cpuinfo's flags, and this "
			"host is itself a virtual machine (the hypervisor flag)");
		snprintf(f->fix, sizeof(f->fix), "the hypervisor below must pass %s through (nested "
			 "virtualization: on a KVM host, %s nested=1 and a CPU model with %s, e.g. -cpu "
			 "host; in a cloud, an instance type that offers nested virtualization)",
			 intel ? "VT-x" : "AMD-V", intel ? "kvm_intel" : "kvm_amd", intel ? "vmx" : "svm");
		return "nested virtualization from the hypervisor below";
	}
	f = add(c, "virtualization", FAIL, "neither vmx nor svm in /proc/cpuinfo's flags");
	snprintf(f->fix, sizeof(f->fix), "turn on %s in the firmware (BIOS/UEFI) setup",
		 intel ? "Intel VT-x (Virtualization Technology)" : "AMD-V (SVM mode)");
	return intel ? "VT-x turned on in the firmware setup" : "AMD-V turned on in the firmware setup";
}

/*
 * virt_fix: the virtualization fix still to do (check_virt), or NULL. Until
 * it is done, kvm_intel and kvm_amd refuse to load, so the fix here must
 * not be a modprobe of them but that fix.
 */
static void check_kvm(struct check *c, const char *virt_fix)
{
	const char *mod = is_intel(c) ? "kvm_intel" : "kvm_amd";
	char path[PATH_MAX];
	struct finding *f;

	if (host_path(c->h, path, sizeof(path), "dev/kvm"))
		return;
	if (access(path, F_OK)) {
		f = add(c, "kvm", FAIL, "no /dev/kvm");
		if (virt_fix)
			snprintf(f->fix, sizeof(f->fix), "none of its own: %s cannot load without %s; "
				 "/dev/kvm follows once the virtualization fix above is done (%s) and "
				 "this host has booted with it", mod, is_intel(c) ? "VT-x" : "AMD-V",
				 virt_fix);
		else
			snprintf(f->fix, sizeof(f->fix), "modprobe %s", mod);
		return;
	}
	if (access(path, R_OK | W_OK)) {
		f = add(c, "kvm", FAIL, "/dev/kvm is not readable and writable by this user");
		snprintf(f->fix, sizeof(f->fix), "add the user to the kvm group (usermod -aG kvm USER), "
			 "or run as root");
		return;
	}
	/*
	 * PVM runs guests without VT-x or AMD-V, but only kernels built for it:
	 * neither OVMF, which --vfio needs, nor a stock kernel. Only one vendor
	 * module holds /dev/kvm at a time, hence the rmmod.
	 */
	if (host_exists(c->h, "sys/module/kvm_pvm") && !host_exists(c->h, "sys/module/kvm_intel") &&
	    !host_exists(c->h, "sys/module/kvm_amd")) {
		f = add(c, "kvm", FAIL, "/dev/kvm is PVM (kvm_pvm), a software KVM: it runs only "
			"guests built for it, not the firmware (OVMF) that vmm run --vfio boots");
		if (virt_fix)
			snprintf(f->fix, sizeof(f->fix), "the virtualization fix above first (%s), then "
				 "rmmod kvm_pvm; modprobe %s", virt_fix, mod);
		else
			snprintf(f->fix, sizeof(f->fix), "rmmod kvm_pvm; modprobe %s", mod);
		return;
	}
	add(c, "kvm", OK, "/dev/kvm is there and this user can open it");
}

static unsigned count_groups(const struct host *h)
{
	char path[PATH_MAX];
	unsigned n = 0;

	if (host_path(h, path, sizeof(path), "sys/kernel/iommu_groups"))
		return 0;
	DIR *d = opendir(path);

	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* The IOMMU-related parameters in force, for the report. */
static void params_in_force(const struct check *c, char *buf, size_t len)
{
	static const char *const names[] = { "intel_iommu=", "amd_iommu=", "iommu=", "iommu.passthrough=",
					     "iommu.strict=", "intremap=", "pcie_acs_override=",
					     "vfio-pci.ids=", "vfio_iommu_type1.", "video=" };
	size_t used = 0;

	buf[0] = '\0';
	for (char *save = NULL, copy[4096], *tok = (snprintf(copy, sizeof(copy), "%s", c->cmdline),
	     strtok_r(copy, " ", &save)); tok; tok = strtok_r(NULL, " ", &save)) {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			if (!strncmp(tok, names[i], strlen(names[i])) && used + strlen(tok) + 2 < len)
				used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? " " : "", tok);
		}
	}
}

/* What a virtual machine needs from the hypervisor below to pass a device on. */
#define VIRTUAL_IOMMU "the hypervisor below must give this virtual machine the card behind a " \
	"virtual IOMMU with interrupt remapping (QEMU: -machine q35,kernel-irqchip=split -device " \
	"intel-iommu,intremap=on,caching-mode=on)"

static void check_iommu(struct check *c)
{
	bool dmar = host_exists(c->h, "sys/firmware/acpi/tables/DMAR");
	bool ivrs = host_exists(c->h, "sys/firmware/acpi/tables/IVRS");
	unsigned groups = count_groups(c->h);
	char params[512], detail[256];
	const char *want = host_iommu_params(c->h);
	struct finding *f;

	params_in_force(c, params, sizeof(params));
	snprintf(detail, sizeof(detail), "%s%s, %u IOMMU groups; kernel parameters: %s",
		 dmar ? "DMAR table (Intel VT-d)" : ivrs ? "IVRS table (AMD-Vi)" : "no DMAR or IVRS table",
		 dmar || ivrs ? " present" : "", groups, params[0] ? params : "none about the IOMMU");
	if (groups && (dmar || ivrs)) {
		add(c, "iommu", OK, detail);
		return;
	}
	struct finding params_fix = { 0 };

	fix_params(c, &params_fix, want);
	f = add(c, "iommu", FAIL, detail);
	const char *first = dmar || ivrs ? "" : in_vm(c) ? VIRTUAL_IOMMU "; then " :
			    strstr(want, "intel") ? "turn on VT-d in the firmware setup; then " :
			    "turn on the IOMMU (AMD-Vi) in the firmware setup; then ";

	snprintf(f->fix, sizeof(f->fix), "%s%.*s", first, (int)(sizeof(f->fix) - 1 - strlen(first)),
		 params_fix.fix);
}

/* Whether host devices skip translation: a group's type says what is in force. */
static void check_pt(struct check *c)
{
	char type[32] = "";
	struct finding *f;

	for (unsigned g = 0; g < 4096 && !type[0]; g++) {
		if (host_read(c->h, type, sizeof(type), "sys/kernel/iommu_groups/%u/type", g) < 0)
			type[0] = '\0';
	}
	if (!strcmp(type, "identity") || has_param(c, "iommu=pt") || has_param(c, "iommu.passthrough=1")) {
		add(c, "iommu_pt", OK, "host devices bypass translation (iommu=pt)");
		return;
	}
	f = add(c, "iommu_pt", WARN, type[0] ? "host devices go through DMA translation (group type "
		"is not identity): a cost for host I/O, not needed for passthrough" :
		"no iommu=pt (no group type to tell what is in force)");
	fix_params(c, f, "iommu=pt");
}

static bool file_has(const struct host *h, const char *rel, const char *needle)
{
	char path[PATH_MAX], line[4096];
	bool found = false;

	if (host_path(h, path, sizeof(path), "%s", rel))
		return false;
	FILE *f = fopen(path, "re");

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return found;
}

/* Remapped interrupt chips are named "IR-PCI-MSI", "IR-IO-APIC" in /proc/interrupts. */
static void check_ir(struct check *c)
{
	char unsafe[8] = "";
	struct finding *f;

	if (file_has(c->h, "proc/interrupts", "IR-")) {
		add(c, "interrupt_remapping", OK, "on (IR- interrupt chips in /proc/interrupts)");
		return;
	}
	host_read(c->h, unsafe, sizeof(unsafe),
		  "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts");
	if (unsafe[0] == 'Y' || unsafe[0] == '1') {
		f = add(c, "interrupt_remapping", WARN, "off, and vfio_iommu_type1.allow_unsafe_interrupts "
			"is set: a guest can send the host interrupts it forges");
		snprintf(f->fix, sizeof(f->fix), "turn on interrupt remapping (x2APIC and VT-d/AMD-Vi in the "
			 "firmware setup; no intremap=off) and drop allow_unsafe_interrupts");
		return;
	}
	f = add(c, "interrupt_remapping", FAIL, "off (no IR- interrupt chips in /proc/interrupts): "
		"vfio refuses to attach a group without it");
	snprintf(f->fix, sizeof(f->fix), "%s; remove intremap=off or nointremap from the kernel "
		 "command line", in_vm(c) ? VIRTUAL_IOMMU : "turn on the IOMMU and interrupt remapping "
		 "(x2APIC in the firmware setup)");
}

static bool module_loaded(const struct host *h, const char *m)
{
	return host_exists(h, "sys/module/%s", m);
}

static void check_modules(struct check *c)
{
	static const char *const mods[] = { "vfio", "vfio_pci", "vfio_iommu_type1" };
	char missing[128] = "";
	struct finding *f;

	for (size_t i = 0; i < 3; i++) {
		if (!module_loaded(c->h, mods[i]))
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s",
				 missing[0] ? " " : "", mods[i]);
	}
	if (!missing[0]) {
		add(c, "vfio_modules", OK, "vfio, vfio_pci and vfio_iommu_type1 loaded");
	} else {
		char detail[192];

		snprintf(detail, sizeof(detail), "not loaded: %s", missing);
		f = add(c, "vfio_modules", FAIL, detail);
		snprintf(f->fix, sizeof(f->fix), "modprobe -a vfio-pci vfio_iommu_type1 "
			 "(vmm host persist makes it load at boot)");
	}
	if (module_loaded(c->h, "iommufd") || host_exists(c->h, "dev/iommu")) {
		add(c, "iommufd", OK, "iommufd loaded (/dev/iommu)");
	} else {
		f = add(c, "iommufd", WARN, "iommufd not loaded: vmm run uses the type1 VFIO container");
		snprintf(f->fix, sizeof(f->fix), "none needed; for iommufd: modprobe iommufd (a kernel "
			 "built with CONFIG_IOMMUFD and CONFIG_VFIO_DEVICE_CDEV; Debian's are not)");
	}
	if (host_exists(c->h, "dev/vfio/vfio")) {
		add(c, "dev_vfio", OK, "/dev/vfio/vfio present");
	} else {
		f = add(c, "dev_vfio", FAIL, "no /dev/vfio/vfio");
		snprintf(f->fix, sizeof(f->fix), "modprobe vfio (and check that devtmpfs is on /dev)");
	}
}

/* "Max locked memory  SOFT  HARD  bytes": VFIO pins all guest RAM against the soft limit. */
static void check_memlock(struct check *c)
{
	char path[PATH_MAX], line[256], soft[32] = "", caps[64] = "";
	struct finding *f;

	if (!host_path(c->h, path, sizeof(path), "proc/self/limits")) {
		FILE *fp = fopen(path, "re");

		while (fp && fgets(line, sizeof(line), fp))
			if (!strncmp(line, "Max locked memory", 17))
				sscanf(line + 17, "%31s", soft);
		if (fp)
			fclose(fp);
	}
	if (!host_path(c->h, path, sizeof(path), "proc/self/status")) {
		FILE *fp = fopen(path, "re");

		while (fp && fgets(line, sizeof(line), fp))
			if (!strncmp(line, "CapEff:", 7))
				sscanf(line + 7, "%63s", caps);
		if (fp)
			fclose(fp);
	}
	bool ipc_lock = strtoull(caps, NULL, 16) & (1ull << 14);
	bool unlimited = !strcmp(soft, "unlimited");
	unsigned long long limit = strtoull(soft, NULL, 10);
	char detail[256];

	snprintf(detail, sizeof(detail), "locked-memory limit %s%s%s", soft[0] ? soft : "unknown",
		 unlimited || !soft[0] ? "" : " bytes", ipc_lock ? ", but CAP_IPC_LOCK lifts it" : "");
	if (unlimited || ipc_lock || (c->guest_memory && limit >= c->guest_memory)) {
		add(c, "memlock", OK, detail);
		return;
	}
	f = add(c, "memlock", c->guest_memory ? FAIL : WARN, detail);
	snprintf(f->fix, sizeof(f->fix), "%sraise it to at least the guest's RAM: ulimit -l unlimited "
		 "in the shell, LimitMEMLOCK=infinity in a systemd unit, or a memlock line in "
		 "/etc/security/limits.conf", c->guest_memory ? "" :
		 "name the guest's size with --memory SIZE to compare; ");
	if (c->guest_memory)
		snprintf(f->detail + strlen(f->detail), sizeof(f->detail) - strlen(f->detail),
			 ", below the guest's %llu MiB", (unsigned long long)(c->guest_memory >> 20));
}

static unsigned long meminfo(const struct host *h, const char *key)
{
	char path[PATH_MAX], line[256];
	unsigned long v = 0;
	size_t len = strlen(key);

	if (host_path(h, path, sizeof(path), "proc/meminfo"))
		return 0;
	FILE *f = fopen(path, "re");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, len) && line[len] == ':')
			v = strtoul(line + len + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static void check_hugepages(struct check *c)
{
	unsigned long total = meminfo(c->h, "HugePages_Total"), freep = meminfo(c->h, "HugePages_Free");
	unsigned long size_kb = meminfo(c->h, "Hugepagesize");
	unsigned long long free_bytes = (unsigned long long)freep * size_kb * 1024;
	char detail[256];
	struct finding *f;

	snprintf(detail, sizeof(detail), "%lu huge pages of %lu KiB, %lu free", total, size_kb, freep);
	if (total && (!c->guest_memory || free_bytes >= c->guest_memory)) {
		add(c, "hugepages", OK, detail);
		return;
	}
	f = add(c, "hugepages", WARN, detail);
	snprintf(f->fix, sizeof(f->fix), "optional, for speed: reserve pages for the guest's RAM, e.g. "
		 "sysctl vm.nr_hugepages=N (2 MiB pages), or 'hugepagesz=1G hugepages=N' on the kernel "
		 "command line; then vmm run --memory SIZE,hugepages=2M|1G");
}

static void check_acs(struct check *c)
{
	struct finding *f;

	if (!has_param(c, "pcie_acs_override=")) {
		add(c, "acs_override", OK, "no pcie_acs_override: groups reflect the hardware's isolation");
		return;
	}
	f = add(c, "acs_override", WARN, "pcie_acs_override is in force: the kernel splits groups the "
		"hardware does not isolate, so a passed device can still reach its former group mates "
		"by peer-to-peer DMA, host devices included");
	snprintf(f->fix, sizeof(f->fix), "drop pcie_acs_override= from the kernel command line, and "
		 "move the card to a slot with its own group (vmm host groups)");
}

static void print_text(const struct check *c, FILE *out)
{
	static const char *const tag[] = { "ok  ", "warn", "FAIL" };

	for (unsigned i = 0; i < c->n; i++) {
		fprintf(out, "%s  %-20s %s\n", tag[c->f[i].v], c->f[i].name, c->f[i].detail);
		if (c->f[i].fix[0] && c->f[i].v != OK)
			fprintf(out, "      %-20s fix: %s\n", "", c->f[i].fix);
	}
}

static json_t *finding_json(const struct finding *f)
{
	static const char *const tag[] = { "ok", "warn", "fail" };

	return json_pack("{s:s, s:s, s:o, s:o}", "name", f->name, "verdict", tag[f->v],
			 "detail", host_json_text(f->detail),
			 "fix", host_json_text(f->fix[0] && f->v != OK ? f->fix : NULL));
}

static int print_json(const struct check *c, FILE *out)
{
	static const char *const boot[] = { "unknown", "grub", "systemd-boot" };
	json_t *findings = json_array();

	for (unsigned i = 0; i < c->n; i++)
		host_json_push(&findings, finding_json(&c->f[i]));
	return host_json_print(out, json_pack("{s:s, s:o, s:o}",
					      "bootloader", boot[host_bootloader(c->h)],
					      "cmdline", host_json_text(c->cmdline),
					      "findings", findings));
}

int host_cmd_check(const struct host *h, uint64_t guest_memory, bool json, FILE *out)
{
	struct check *c = calloc(1, sizeof(*c));
	int fails = 0;

	if (!c)
		return 1;
	c->h = h;
	c->guest_memory = guest_memory;
	if (host_read(h, c->cmdline, sizeof(c->cmdline), "proc/cmdline") < 0)
		c->cmdline[0] = '\0';
	read_cpuinfo(c);
	check_kvm(c, check_virt(c));
	check_iommu(c);
	check_pt(c);
	check_ir(c);
	check_modules(c);
	check_memlock(c);
	check_hugepages(c);
	check_acs(c);
	if (json)
		fails = print_json(c, out) ? 1 : 0;
	else
		print_text(c, out);
	for (unsigned i = 0; i < c->n; i++)
		fails += c->f[i].v == FAIL;
	free(c);
	return fails ? 1 : 0;
}
