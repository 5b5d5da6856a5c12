// SPDX-License-Identifier: MIT
/*
 * `vmm run` with a Linux kernel: load the files, build the machine, lay
 * out ACPI and the boot protocol, start the vCPUs, and pump the console
 * and signals on the main thread until the machine stops.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <limits.h>
#include <stdarg.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../api/api.h"
#include "../core/file.h"
#include "../core/layout.h"
#include "../core/log.h"
#include "../core/user.h"
#include "api_vm.h"
#include "q35.h"
#include "run.h"
#include "vcpu.h"
#include "vfio_devices.h"
#include "virtio_devices.h"
#include "vm.h"
#include "../core/memory.h"
#include "../devices/devices.h"
#include "../devices/virtio_net.h"
#include "../firmware/firmware.h"

/* A file given on the command line, kept open and read where it is needed. */
struct boot_file {
	const char *opt;  /* "--kernel", for messages */
	const char *path;
	int fd;
	size_t size;
};

/* Opens a regular file; prints one line naming the option and file on error. */
static int open_file(struct boot_file *f, const char *opt, const char *path)
{
	struct stat st;

	f->opt = opt;
	f->path = path;
	f->size = 0;
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0) {
		int err = errno;

		pr_err("%s %s: %s", opt, path, strerror(err));
		return -err;
	}
	if (fstat(f->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		pr_err("%s %s: not a regular file", opt, path);
		return -EINVAL;
	}
	f->size = (size_t)st.st_size;
	return 0;
}

static int pread_all(const struct boot_file *f, uint64_t off, void *dst, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = pread(f->fd, (uint8_t *)dst + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			pr_err("%s %s: %s", f->opt, f->path, n < 0 ? strerror(errno) : "file shrank");
			return n < 0 ? -errno : -EIO;
		}
		done += (size_t)n;
	}
	return 0;
}

struct boot_files {
	struct boot_file kernel, initrd;
	uint8_t header[BOOT_HEADER_BYTES];
	uint8_t *whole_kernel; /* firmware boots: the kernel for fw_cfg */
	/* --vfio: planned and placed once, before the first machine; every boot opens it. */
	struct vm_vfio_plan *vfio_plan;
	/* --net: the TAPs, opened once; every boot's NICs use them (bug: a reboot lost them). */
	struct virtio_net_tap *nic_tap[VM_MAX_NICS];
};

static int boot_files_read(void *ctx, enum boot_part part, uint64_t off, void *dst, size_t len)
{
	struct boot_files *bf = ctx;

	return pread_all(part == BOOT_KERNEL ? &bf->kernel : &bf->initrd, off, dst, len);
}

static int setup_acpi(struct vm *vm, uint64_t *rsdp)
{
	struct acpi_config acpi;
	int ret;

	vm_acpi_config(vm, &acpi);
	ret = acpi_build(&vm->mem, LAYOUT_ACPI, LAYOUT_ACPI_SIZE, &acpi, rsdp);

	if (ret)
		pr_err("ACPI tables do not fit in %llu KiB: %s",
		       (unsigned long long)(LAYOUT_ACPI_SIZE >> 10), strerror(-ret));
	return ret;
}

static int load_linux(struct vm *vm, struct boot_files *bf)
{
	struct boot_image img = {
		.kernel = bf->header, .kernel_size = bf->kernel.size,
		.initrd_size = bf->initrd.fd >= 0 ? bf->initrd.size : 0,
		.read = boot_files_read, .ctx = bf,
		.cmdline = vm->cfg->cmdline,
	};
	struct boot_regs regs;
	const char *why = NULL;
	int ret = setup_acpi(vm, &img.rsdp);

	if (ret)
		return ret;
	ret = linux_boot_load(&vm->mem, &img, &regs, &why);
	if (ret && why) /* without why, the read callback has said what went wrong */
		pr_err("--kernel %s: %s", vm->cfg->kernel, why);
	if (ret)
		return ret;
	ret = vcpu_set_boot_regs(&vm->vcpus[0], &regs);
	if (ret)
		pr_err("vcpu0: cannot set boot registers: %s", strerror(-ret));
	return ret;
}

static int initrd_read(void *ctx, uint64_t off, void *dst, size_t n)
{
	struct boot_files *bf = ctx;

	return pread_all(&bf->initrd, off, dst, n);
}

/* Firmware boots at the reset vector; the kernel, if any, waits in fw_cfg. */
static int load_firmware(struct vm *vm, struct boot_files *bf)
{
	struct q35_boot boot = {
		.kernel = bf->whole_kernel,
		.kernel_size = bf->kernel.size,
		.initrd_size = bf->initrd.fd >= 0 ? bf->initrd.size : 0,
		.read_initrd = initrd_read,
		.ctx = bf,
	};

	return q35_setup(vm, &boot);
}

/* ---- the console: stdin to COM1, with Ctrl-A x to quit as in QEMU ---- */

/* The longest a stopped machine's last console output may hold up the end of the run. */
#define CONSOLE_FINISH_MS 5000

struct console {
	bool raw;
	struct termios saved;
	bool escape;       /* the last byte was Ctrl-A */
	bool stdin_open;
	uint8_t pending[256];
	size_t npending;
};

static void console_init(struct console *con, enum serial_mode mode)
{
	memset(con, 0, sizeof(*con));
	con->stdin_open = mode == SERIAL_STDIO;
	if (!con->stdin_open || !isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &con->saved))
		return;
	struct termios t = con->saved;

	/* Raw, so the guest's shell gets Ctrl-C; signals still reach us by kill(1). */
	cfmakeraw(&t);
	t.c_oflag |= OPOST | ONLCR;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
		con->raw = true;
}

static void console_restore(struct console *con)
{
	if (con->raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &con->saved);
	con->raw = false;
}

/* Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A; only on a terminal. */
static void console_filter(struct console *con, struct vm *vm, const uint8_t *in, size_t n)
{
	for (size_t i = 0; i < n && con->npending < sizeof(con->pending); i++) {
		if (con->raw && con->escape) {
			con->escape = false;
			if (in[i] == 'x') {
				vm_request_stop(vm, VM_STOP_SIGNAL, "quit from the console (Ctrl-A x)");
				return;
			}
			if (in[i] != 0x01)
				continue;
		} else if (con->raw && in[i] == 0x01) {
			con->escape = true;
			continue;
		}
		con->pending[con->npending++] = in[i];
	}
}

static void console_feed(struct console *con, struct vm *vm)
{
	size_t took = uart_input(vm->com1, con->pending, con->npending);

	memmove(con->pending, con->pending + took, con->npending - took);
	con->npending -= took;
}

static void console_read(struct console *con, struct vm *vm)
{
	uint8_t buf[256];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf) - con->npending);

	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN))
			con->stdin_open = false; /* EOF: the guest just sees no more input */
		return;
	}
	console_filter(con, vm, buf, (size_t)n);
	console_feed(con, vm);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A line about the run's own course, shown at every verbosity: what a supervisor's log keeps. */
__attribute__((format(printf, 1, 2)))
static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "vmm: %s\n", line);
}

/*
 * SIGTERM asks the guest to shut down as a person at the machine would:
 * the ACPI power button, then --shutdown-timeout for its S5. A second
 * SIGTERM, or any other stop signal, stops it at once.
 */
static bool press_power_button(struct vm *vm, int signo)
{
	/* A paused guest cannot answer the button: it is stopped at once. */
	if (signo != SIGTERM || !vm->cfg->shutdown_timeout_s || vm->button_ns || !vm->pm ||
	    vm_paused(vm))
		return false;
	acpi_pm_power_button(vm->pm);
	vm->button_ns = now_ns();
	/* A reset from here on ends the run: the guest was asked to stop. */
	vm->stop_signal = signo;
	say("SIGTERM: pressed the guest's power button; waiting up to %u s for it to power off "
	    "(--shutdown-timeout; another SIGTERM stops it at once)", vm->cfg->shutdown_timeout_s);
	return true;
}

static void handle_signal(struct vm *vm, int sfd)
{
	struct signalfd_siginfo si;

	if (read(sfd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGUSR2) {
		/* "Why did the guest's I/O stop?": the devices' state, and run on. */
		fprintf(stderr, "vmm: state on SIGUSR2:\n");
		vm_virtio_dump(vm, stderr);
		return;
	}
	if (press_power_button(vm, (int)si.ssi_signo))
		return;
	vm->stop_signal = (int)si.ssi_signo;
	vm_request_stop(vm, VM_STOP_SIGNAL, "terminating on signal %d (%s)%s",
			(int)si.ssi_signo, strsignal((int)si.ssi_signo),
			vm->button_ns ? ", without waiting for the guest" : "");
}

/* Milliseconds until the power button's wait runs out (-1: no wait); stops the guest when it has. */
static int button_wait_ms(struct vm *vm)
{
	uint64_t deadline, now;

	if (!vm->button_ns)
		return -1;
	deadline = vm->button_ns + (uint64_t)vm->cfg->shutdown_timeout_s * 1000000000ull;
	now = now_ns();
	if (now < deadline)
		return (int)((deadline - now + 999999) / 1000000);
	vm_request_stop(vm, VM_STOP_SIGNAL, "the guest did not power off within %u s of the power "
			"button (SIGTERM): stopped it hard", vm->cfg->shutdown_timeout_s);
	return 0;
}

/* The shortest of two poll timeouts, -1 being none. */
static int sooner(int a, int b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

/*
 * The main thread's loop: console input and output, signals, the API, and
 * the stop event. COM1's output waits here, never on a vCPU: the loop
 * polls the stream while the UART holds bytes it did not take, and lets
 * the UART give up on a reader that takes nothing (uart_tx_poll()).
 */
static void main_loop(struct vm *vm, int sfd, struct api *api, struct vm_api_ctx *ctx)
{
	struct console con;
	int hotplug_wait = -1;

	console_init(&con, vm->cfg->serial);
	while (atomic_load(&vm->stop) == VM_RUNNING) {
		struct pollfd p[4 + 1 + API_MAX_CLIENTS + VM_VFIO_POLLFDS] = {
			{ .fd = vm->stop_efd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
			{ .fd = con.stdin_open && con.npending == 0 ? STDIN_FILENO : -1,
			  .events = POLLIN },
		};
		int tx_wait = uart_tx_poll(vm->com1, &p[3]);
		unsigned nr_api = api_pollfds(api, p + 4, 1 + API_MAX_CLIENTS);
		/* Hot-plug: slots the guest switched off, the host's requests, device errors. */
		unsigned nr_vfio = vm_vfio_pollfds(vm, p + 4 + nr_api, VM_VFIO_POLLFDS);
		/* A full receive buffer is retried shortly, and the power button's wait runs out. */
		int wait = sooner(button_wait_ms(vm), api ? api_timeout_ms(api) : -1), n;

		wait = sooner(wait, tx_wait);
		wait = sooner(wait, hotplug_wait);
		if (con.npending)
			wait = sooner(wait, 10);
		if (atomic_load(&vm->stop) != VM_RUNNING)
			break;
		n = poll(p, 4 + nr_api + nr_vfio, wait);
		if (n < 0 && errno != EINTR)
			break;
		if (p[1].revents & POLLIN)
			handle_signal(vm, sfd);
		if (p[2].revents & (POLLIN | POLLHUP))
			console_read(&con, vm);
		else if (p[2].revents & POLLNVAL)
			con.stdin_open = false;
		if (con.npending)
			console_feed(&con, vm);
		/* Cheap when nothing waits: a lock and a failed eventfd read. */
		if (p[3].revents || n == 0)
			uart_tx_drain(vm->com1);
		if (api && n >= 0)
			api_serve(api, p + 4, nr_api, vm_api_handle, ctx);
		/* Cheap: a few eventfd reads; also after the API, which may have pressed a button. */
		hotplug_wait = vm_vfio_hotplug_service(vm);
	}
	console_restore(&con);
}

static int start_vcpus(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		int ret = vcpu_start(&vm->vcpus[i]);

		if (ret) {
			pr_err("vcpu%u: cannot start its thread: %s", i, strerror(-ret));
			vm_request_stop(vm, VM_STOP_ERROR, NULL);
			return ret;
		}
	}
	return 0;
}

/* Exit status and the one line that says why the run ended. */
static int report_stop(struct vm *vm, const struct vm_api_ctx *ctx)
{
	switch (atomic_load(&vm->stop)) {
	case VM_STOP_POWEROFF:
		if (vm->button_ns)
			say("guest powered off %.1f s after the power button (SIGTERM)",
			    (double)(now_ns() - vm->button_ns) / 1e9);
		else
			pr_info("guest powered off");
		return 0;
	case VM_STOP_RESET:
		if (vm->stop_signal) {
			/* The signal came as the guest reset, or it reset after the button: it still ends the run. */
			log_msg(LOG_WARN, NULL, "terminating on signal %d (%s)%s", vm->stop_signal,
				strsignal(vm->stop_signal),
				vm->button_ns ? ": the guest reset after the power button" : "");
			return 0;
		}
		if (vm->cfg->no_reboot)
			log_msg(LOG_WARN, NULL, "guest requested a reset%s%s; --no-reboot ends the run",
				vm->stop_why[0] ? ": " : "", vm->stop_why);
		else
			pr_info("guest reset%s%s: booting it again", vm->stop_why[0] ? ": " : "",
				vm->stop_why);
		return 0;
	case VM_STOP_SIGNAL:
		if (ctx->exit)
			say("%s: the guest is stopped and the vmm ends", vm->stop_why);
		else if (ctx->shutdown)
			say("%s: the guest is stopped; vm.boot starts it again", vm->stop_why);
		else
			log_msg(LOG_WARN, NULL, "%s", vm->stop_why);
		return 0;
	default:
		pr_err("%s", vm->stop_why[0] ? vm->stop_why : "the machine stopped on an error");
		return 1;
	}
}

/*
 * --user: the first machine is made, and everything that needs root is
 * open (KVM, VFIO with guest RAM pinned, the disks, the TAPs, the API
 * socket): the vmm becomes the user before any vCPU runs. The serial file
 * is handed to the user, as a reboot opens it again; so is the
 * locked-memory limit raised to what pinning guest RAM takes again then.
 */
static int drop_to_user(struct vm *vm, const struct user *u)
{
	char why[512];

	/* Asked for also without --vfio: a device added later pins guest RAM too. */
	if (user_raise_memlock(vm->cfg->mem.size + (64ull << 20), why, sizeof(why)) && vm->vfio)
		log_msg(LOG_WARN, NULL, "--user: %s; a guest reboot will not be able to pin guest "
			"RAM for its devices again", why);
	if (vm->serial_fd >= 0 && vm->cfg->serial == SERIAL_FILE &&
	    fchown(vm->serial_fd, u->uid, u->gid))
		log_msg(LOG_WARN, NULL, "--user: cannot hand --serial file=%s to uid %u: %s",
			vm->cfg->serial_path, (unsigned)u->uid, strerror(errno));
	if (user_drop(u, why, sizeof(why))) {
		pr_err("%s", why);
		return -EPERM;
	}
	if (u->name[0])
		pr_info("running as %s (uid %u, gid %u), with no capabilities", u->name,
			(unsigned)u->uid, (unsigned)u->gid);
	else
		pr_info("running as uid %u, gid %u, with no capabilities", (unsigned)u->uid,
			(unsigned)u->gid);
	return 0;
}

static int run_machine(struct vm *vm, const struct vm_config *cfg, struct boot_files *bf, int sfd,
		       struct api *api, struct vm_api_ctx *ctx, const struct user **drop_to)
{
	int ret = vm_open(vm, cfg);

	if (ret == 0)
		ret = vm_add_platform_devices(vm);
	if (ret == 0)
		ret = vm_add_virtio_devices(vm);
	if (ret == 0)
		ret = vm_create_vcpus(vm);
	if (ret == 0)
		ret = cfg->firmware ? load_firmware(vm, bf) : load_linux(vm, bf);
	if (ret == 0)
		ret = vm_add_vfio_devices(vm);
	if (ret == 0 && *drop_to) {
		ret = drop_to_user(vm, *drop_to);
		*drop_to = NULL;
	}
	if (ret == 0)
		ret = start_vcpus(vm);
	if (ret)
		return 1;
	ctx->vm = vm;
	ctx->state = VM_API_RUNNING;
	main_loop(vm, sfd, api, ctx);
	/*
	 * Join the vCPU threads before reporting, so the last guest output is
	 * out first: none of them waits on the console (the UART never blocks),
	 * and what a slow reader has not taken yet gets a few seconds more.
	 */
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	uart_tx_finish(vm->com1, CONSOLE_FINISH_MS);
	return report_stop(vm, ctx);
}

static int block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR2);
	/* Blocked before any thread starts, so every thread inherits the mask. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Opens the kernel and initrd and checks the kernel's header, before any KVM resource is taken. */
static int open_boot_files(const struct vm_config *cfg, struct boot_files *bf)
{
	const char *why = NULL;
	int ret;

	bf->initrd.fd = -1;
	if (!cfg->kernel)
		return 0;
	ret = open_file(&bf->kernel, "--kernel", cfg->kernel);
	if (ret)
		return ret;
	ret = pread_all(&bf->kernel, 0, bf->header,
			bf->kernel.size < BOOT_HEADER_BYTES ? bf->kernel.size : BOOT_HEADER_BYTES);
	if (ret)
		return ret;
	if (bzimage_check(bf->header, bf->kernel.size, &why)) {
		pr_err("--kernel %s: %s", cfg->kernel, why);
		return -ENOEXEC;
	}
	if (cfg->firmware) {
		/* fw_cfg serves it from memory: the firmware reads it in pieces, out of order. */
		bf->whole_kernel = malloc(bf->kernel.size ? bf->kernel.size : 1);
		if (!bf->whole_kernel) {
			pr_err("--kernel %s: no memory for %zu bytes", cfg->kernel, bf->kernel.size);
			return -ENOMEM;
		}
		ret = pread_all(&bf->kernel, 0, bf->whole_kernel, bf->kernel.size);
		if (ret)
			return ret;
	}
	return cfg->initrd ? open_file(&bf->initrd, "--initrd", cfg->initrd) : 0;
}

/*
 * Without --vars, the firmware's variables live in a private copy of the
 * VARS template that sits next to CODE (OVMF_CODE_4M.fd -> OVMF_VARS_4M.fd),
 * kept per VM name under $XDG_STATE_HOME/vmm (or ~/.local/state/vmm), so
 * that boot entries and settings survive from one run to the next. The
 * copy is made once, durably (written, synced, renamed into place, and the
 * directory synced, without which the rename may not survive a crash).
 */
int copy_file_durably(const char *from, const char *to)
{
	char tmp[PATH_MAX];
	char buf[65536];
	int in, out, ret = 0;
	ssize_t n;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", to) >= sizeof(tmp))
		return -ENAMETOOLONG;
	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		ret = -errno;
		close(in);
		return ret;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		ret = file_write_all(out, buf, (size_t)n);
		if (ret)
			break;
	}
	if (n < 0)
		ret = -errno;
	if (!ret && fsync(out) < 0)
		ret = -errno;
	close(in);
	if (close(out) < 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, to) < 0)
		ret = -errno;
	if (ret) {
		unlink(tmp);
		return ret;
	}
	return file_fsync_dir(to);
}

static int mkdir_p(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			*p = '/';
			return -errno;
		}
		*p = '/';
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * A VARS file of another firmware build would put the variable store where
 * this CODE does not look for it; where the template that comes with CODE
 * is there to compare with, the sizes must agree.
 */
static int check_vars_size(const struct vm_config *cfg, const char *vars)
{
	char tmpl[PATH_MAX];
	struct stat t, v;

	if (!ovmf_vars_template(cfg->firmware, tmpl, sizeof(tmpl)) || stat(tmpl, &t) < 0 ||
	    stat(vars, &v) < 0 || !S_ISREG(v.st_mode) || t.st_size == v.st_size)
		return 0; /* nothing to compare with, or pflash_open() will say what is wrong */
	pr_err("--vars %s: %lld bytes, but this firmware's VARS template %s has %lld: a VARS "
	       "file of another firmware build?", vars, (long long)v.st_size, tmpl,
	       (long long)t.st_size);
	return -EINVAL;
}

/*
 * Where this VM's private VARS copy lives, and the template it is made
 * from: checked, nothing made yet (private_vars_make() does that once the
 * run can start).
 */
static int private_vars_path(const struct vm_config *cfg, char *out, size_t len, char *tmpl,
			     size_t tmpl_len)
{
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME"), *base;
	int ret;

	base = ovmf_vars_template(cfg->firmware, tmpl, tmpl_len);
	if (!base) {
		pr_err("--firmware %s: no --vars given, and its name has no CODE to find the "
		       "VARS template by: give --vars FILE", cfg->firmware);
		return -EINVAL;
	}
	if (access(tmpl, R_OK) < 0) {
		pr_err("--firmware %s: no --vars given, and no VARS template %s: give --vars FILE",
		       cfg->firmware, tmpl);
		return -ENOENT;
	}
	if (state && state[0] == '/')
		ret = snprintf(out, len, "%s/vmm/%s/%s", state, cfg->name, base);
	else if (home && home[0] == '/')
		ret = snprintf(out, len, "%s/.local/state/vmm/%s/%s", home, cfg->name, base);
	else {
		pr_err("--firmware: no --vars given, and neither XDG_STATE_HOME nor HOME is set "
		       "to keep a private copy of %s in: give --vars FILE", tmpl);
		return -EINVAL;
	}
	if (ret < 0 || (size_t)ret >= len) {
		pr_err("--firmware: no --vars given, and the path of its private copy is too long: "
		       "give --vars FILE");
		return -ENAMETOOLONG;
	}
	return 0;
}

/* Makes the private copy where private_vars_path() put it, unless it is there already. */
static int private_vars_make(const char *path, const char *tmpl)
{
	char dir[PATH_MAX];
	int ret;

	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	ret = mkdir_p(dir);
	if (ret) {
		pr_err("--vars: cannot create %s for the private VARS copy: %s", dir, strerror(-ret));
		return ret;
	}
	if (access(path, F_OK) == 0) {
		pr_info("UEFI variables: %s (this VM's copy of %s; --vars FILE to choose)", path, tmpl);
		return 0;
	}
	ret = copy_file_durably(tmpl, path);
	if (ret) {
		pr_err("--vars: cannot copy %s to %s: %s", tmpl, path, strerror(-ret));
		return ret;
	}
	pr_info("UEFI variables: %s (a new copy of %s; --vars FILE to choose)", path, tmpl);
	return 0;
}

/* A flash image (CODE or VARS) that pflash_open() will take; one line on why not. */
static int check_flash(const char *opt, const char *path, bool readonly)
{
	const char *why = NULL;
	int ret = pflash_check(path, readonly, &why);

	if (ret)
		pr_err("%s %s", opt, why ? why : strerror(-ret));
	return ret;
}

/* The serial file can be made or written: its directory exists and is ours to write. */
static int check_serial_file(const struct vm_config *cfg)
{
	char dir[PATH_MAX];
	const char *slash;
	struct stat st;

	if (cfg->serial != SERIAL_FILE)
		return 0;
	if (stat(cfg->serial_path, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			pr_err("--serial file=%s: is a directory", cfg->serial_path);
			return -EISDIR;
		}
		if (access(cfg->serial_path, W_OK) == 0)
			return 0;
	} else {
		slash = strrchr(cfg->serial_path, '/');
		snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - cfg->serial_path) : 1,
			 slash ? cfg->serial_path : ".");
		if (slash == cfg->serial_path)
			snprintf(dir, sizeof(dir), "/");
		if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
			errno = ENOTDIR;
		else if (stat(dir, &st) == 0 && access(dir, W_OK | X_OK) == 0)
			return 0;
	}
	int err = errno;

	pr_err("--serial file=%s: %s", cfg->serial_path, strerror(err));
	return -err;
}

/* The kernel, initrd and command line fit the guest RAM asked for, as the loader will lay them out. */
static int check_linux_fits(const struct vm_config *cfg, const struct boot_files *bf)
{
	struct boot_image img = {
		.kernel = bf->header, .kernel_size = bf->kernel.size,
		.initrd_size = bf->initrd.fd >= 0 ? bf->initrd.size : 0,
		.cmdline = cfg->cmdline,
	};
	struct guest_mem layout = { .total = cfg->mem.size };
	const char *why = NULL;
	int ret;

	if (!cfg->kernel || cfg->firmware)
		return 0; /* the firmware loads the kernel, into RAM it lays out itself */
	layout.nr = guest_mem_layout(cfg->mem.size, layout.region);
	ret = linux_boot_check(&layout, &img, &why);
	if (ret == -ENOSPC && why && strstr(why, "does not fit"))
		pr_err("--memory %lluM: too little guest RAM for --kernel %s: %s",
		       (unsigned long long)(cfg->mem.size >> 20), cfg->kernel, why);
	else if (ret)
		pr_err("--kernel %s: %s", cfg->kernel, why ? why : strerror(-ret));
	return ret;
}

/*
 * Everything the command line names, checked before /dev/kvm is opened
 * and before anything is made on disk: a mistake is named as such on any
 * host, KVM or not, and a run that cannot start leaves nothing behind.
 */
static int preflight(const struct vm_config *cfg, struct boot_files *bf, char *vars,
		     size_t vars_len, char *tmpl, size_t tmpl_len)
{
	int ret = open_boot_files(cfg, bf);

	if (!ret)
		ret = check_linux_fits(cfg, bf);
	if (!ret && cfg->firmware)
		ret = check_flash("--firmware", cfg->firmware, true);
	if (!ret && cfg->firmware && cfg->vars)
		ret = check_flash("--vars", cfg->vars, false);
	if (!ret && cfg->firmware && !cfg->vars) {
		ret = private_vars_path(cfg, vars, vars_len, tmpl, tmpl_len);
		/* A copy made by an earlier run is checked like a --vars file. */
		if (!ret && access(vars, F_OK) == 0)
			ret = check_flash("--vars", vars, false);
	}
	if (!ret && cfg->firmware)
		ret = check_vars_size(cfg, cfg->vars ? cfg->vars : vars);
	if (!ret)
		ret = check_serial_file(cfg);
	if (!ret)
		ret = vm_virtio_preflight(cfg);
	if (!ret)
		ret = vm_vfio_plan_make(cfg, &bf->vfio_plan);
	if (!ret)
		ret = vm_vfio_plan_place(bf->vfio_plan);
	if (!ret)
		ret = vm_kvm_check(cfg);
	if (!ret)
		ret = vm_virtio_open_taps(cfg, bf->nic_tap);
	return ret;
}

/*
 * Shut down through the API (vm.shutdown): no machine, only the API and
 * the signals, until vm.boot (true) or vmm.shutdown or a signal (false).
 */
/* vm.info's device_tree: the passed-through functions, then the virtio ones. */
static json_t *device_tree(struct vm *vm)
{
	json_t *tree = vm_vfio_device_tree(vm), *virtio = vm_virtio_device_tree(vm);

	json_object_update(tree, virtio);
	json_decref(virtio);
	return tree;
}

static bool wait_for_boot(int sfd, struct api *api, struct vm_api_ctx *ctx)
{
	if (ctx->state != VM_API_NONE)
		ctx->state = VM_API_SHUTDOWN;
	ctx->vm = NULL;
	ctx->boot = false;
	while (!ctx->boot && !ctx->exit) {
		struct pollfd p[1 + 1 + API_MAX_CLIENTS] = { { .fd = sfd, .events = POLLIN } };
		unsigned nr_api = api_pollfds(api, p + 1, 1 + API_MAX_CLIENTS);
		struct signalfd_siginfo si;
		int n = poll(p, 1 + nr_api, api_timeout_ms(api));

		if (n < 0 && errno != EINTR)
			return false;
		if ((p[0].revents & POLLIN) && read(sfd, &si, sizeof(si)) == sizeof(si) &&
		    si.ssi_signo != SIGUSR2) {
			say("terminating on signal %d (%s); %s", (int)si.ssi_signo,
			    strsignal((int)si.ssi_signo), ctx->state == VM_API_SHUTDOWN ?
			    "the guest was shut down already" : "no VM was booted");
			return false;
		}
		if (n >= 0)
			api_serve(api, p + 1, nr_api, vm_api_handle, ctx);
	}
	if (ctx->exit)
		say("vmm.shutdown through the API: the vmm ends");
	return ctx->boot;
}

/* What the runs of one VM share: opened once before its first boot. */
struct run_prep {
	struct boot_files bf;
	char vars_path[PATH_MAX], vars_tmpl[PATH_MAX];
};

static void run_prep_release(struct run_prep *rp)
{
	if (rp->bf.kernel.fd >= 0)
		close(rp->bf.kernel.fd);
	if (rp->bf.initrd.fd >= 0)
		close(rp->bf.initrd.fd);
	free(rp->bf.whole_kernel);
	vm_vfio_plan_free(rp->bf.vfio_plan);
	for (unsigned i = 0; i < VM_MAX_NICS; i++)
		virtio_net_tap_close(rp->bf.nic_tap[i]);
	rp->bf = (struct boot_files){ .kernel.fd = -1, .initrd.fd = -1 };
}

/* preflight(), undone when it fails: vm.boot of a created VM may be tried again. */
static int run_prep(void *opaque, const struct vm_config *cfg)
{
	struct run_prep *rp = opaque;
	int ret = preflight(cfg, &rp->bf, rp->vars_path, sizeof(rp->vars_path), rp->vars_tmpl,
			    sizeof(rp->vars_tmpl));

	if (ret)
		run_prep_release(rp);
	return ret ? ret : 0;
}

/*
 * `vmm run --api-socket PATH` with no payload: the VM comes from vm.create
 * and starts on vm.boot (which runs the checks first). NULL when the vmm
 * ends before that.
 */
static const struct vm_config *wait_for_create(int sfd, struct api *api, struct vm_api_ctx *ctx,
					       struct run_prep *rp)
{
	say("api: no VM yet; waiting for vm.create and vm.boot on %s", api_path(api));
	ctx->state = VM_API_NONE;
	ctx->cfg = NULL;
	ctx->prepare = run_prep;
	ctx->prepare_opaque = rp;
	if (!wait_for_boot(sfd, api, ctx))
		return NULL;
	ctx->prepare = NULL;
	return ctx->created;
}

int vm_run_linux(const struct vm_config *cfg)
{
	static struct run_prep rp;
	struct vm_api_ctx ctx = { 0 };
	struct api *api = NULL;
	struct user user;
	const struct user *drop_to = NULL;
	struct vm vm;
	int status = 1, sfd = -1;

	memset(&vm, 0, sizeof(vm));
	vm.kvm_fd = vm.vm_fd = vm.stop_efd = vm.serial_fd = vm.mem.fd = -1;
	rp.bf = (struct boot_files){ .kernel.fd = -1, .initrd.fd = -1 };
	bool from_api = !cfg->kernel && !cfg->firmware;

	/* The process's, not the VM's: a VM from vm.create has no --user of its own. */
	if (cfg->user) {
		char why[512];

		if (user_lookup(cfg->user, "/etc", &user, why, sizeof(why))) {
			pr_err("%s", why);
			goto out;
		}
		drop_to = &user;
	}
	if (!from_api && run_prep(&rp, cfg))
		goto out;
	if (cfg->api_socket) {
		char why[512];

		if (api_open(&api, cfg->api_socket, why, sizeof(why))) {
			pr_err("%s", why);
			goto out;
		}
		pr_info("api: listening on %s", api_path(api));
		/*
		 * Its clients are the user's processes then (and root's: api.c,
		 * peer_allowed()). lchown: never a file a link put there since.
		 */
		if (drop_to && api_path(api) && lchown(api_path(api), user.uid, user.gid))
			log_msg(LOG_WARN, NULL, "--user: cannot hand the API socket %s to uid %u: %s",
				api_path(api), (unsigned)user.uid, strerror(errno));
	}
	sfd = block_signals();
	if (sfd < 0) {
		pr_err("signalfd: %s", strerror(errno));
		goto out;
	}
	if (from_api) {
		cfg = wait_for_create(sfd, api, &ctx, &rp);
		if (!cfg) {
			status = 0;
			goto out;
		}
		ctx.boot = false;
	}
	struct vm_config boot = *cfg;

	boot.vfio_plan = rp.bf.vfio_plan;
	memcpy(boot.nic_tap, rp.bf.nic_tap, sizeof(boot.nic_tap));
	ctx.cfg = &boot;
	ctx.device_tree = device_tree;
	ctx.counters = vm_vfio_counters;
	ctx.reset_device = vm_vfio_reset_device;
	ctx.add_device = vm_vfio_add_device;
	ctx.remove_device = vm_vfio_remove_device;

	if (cfg->firmware && !cfg->vars) {
		if (private_vars_make(rp.vars_path, rp.vars_tmpl))
			goto out;
		boot.vars = rp.vars_path;
	}
	vcpu_signals_init();
	/*
	 * A reset is a power cycle: the whole machine is made anew, RAM and
	 * devices included, and the kernel loaded again, so nothing of the old
	 * boot can leak into the new one. The serial file keeps every boot.
	 */
	for (;;) {
		ctx.shutdown = ctx.reboot = false;
		status = run_machine(&vm, &boot, &rp.bf, sfd, api, &ctx, &drop_to);
		/*
		 * A SIGTERM read in the same moment as the guest's reset is not
		 * lost to it; vm.reboot boots again even with --no-reboot.
		 */
		bool again = status == 0 && atomic_load(&vm.stop) == VM_STOP_RESET &&
			     (!cfg->no_reboot || ctx.reboot) && !vm.stop_signal;
		bool parked = status == 0 && ctx.shutdown && !ctx.exit;

		vm_close(&vm);
		if (parked)
			again = wait_for_boot(sfd, api, &ctx);
		if (!again)
			break;
		boot.serial_append = true;
	}
out:
	vm_close(&vm);
	api_close(api);
	if (sfd >= 0)
		close(sfd);
	run_prep_release(&rp);
	vm_api_release(&ctx);
	return status;
}
