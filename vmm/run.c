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
#include <termios.h>
#include <unistd.h>

#include "layout.h"
#include "log.h"
#include "vm.h"
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
		pr_err("%s %s: %s", opt, path, strerror(errno));
		return -errno;
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
};

static int boot_files_read(void *ctx, enum boot_part part, uint64_t off, void *dst, size_t len)
{
	struct boot_files *bf = ctx;

	return pread_all(part == BOOT_KERNEL ? &bf->kernel : &bf->initrd, off, dst, len);
}

static int setup_acpi(struct vm *vm, uint64_t *rsdp)
{
	struct acpi_config acpi = {
		.ncpus = vm->cfg->cpus,
		.pm_base = PORT_PM_BASE,
		.sci_irq = IRQ_SCI,
		.reset_port = PORT_RESET_CF9,
		.com1_port = PORT_COM1,
		.com1_irq = IRQ_COM1,
		.pci_mmio32_base = LAYOUT_PCI_MMIO32,
		.pci_mmio32_size = LAYOUT_PCI_MMIO32_SIZE,
	};
	int ret = acpi_build(&vm->mem, LAYOUT_ACPI, LAYOUT_ACPI_SIZE, &acpi, rsdp);

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

/* ---- the console: stdin to COM1, with Ctrl-A x to quit as in QEMU ---- */

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

static void handle_signal(struct vm *vm, int sfd)
{
	struct signalfd_siginfo si;

	if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
		vm->stop_signal = (int)si.ssi_signo;
		vm_request_stop(vm, VM_STOP_SIGNAL, "terminating on signal %d (%s)",
				(int)si.ssi_signo, strsignal((int)si.ssi_signo));
	}
}

/* The main thread's loop: console input, signals, and the stop event. */
static void main_loop(struct vm *vm, int sfd)
{
	struct console con;

	console_init(&con, vm->cfg->serial);
	while (atomic_load(&vm->stop) == VM_RUNNING) {
		struct pollfd p[3] = {
			{ .fd = vm->stop_efd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
			{ .fd = con.stdin_open && con.npending == 0 ? STDIN_FILENO : -1,
			  .events = POLLIN },
		};
		/* A full receive buffer is retried shortly; nothing else needs a timer. */
		int n = poll(p, 3, con.npending ? 10 : -1);

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
static int report_stop(struct vm *vm)
{
	switch (atomic_load(&vm->stop)) {
	case VM_STOP_POWEROFF:
		pr_info("guest powered off");
		return 0;
	case VM_STOP_RESET:
		if (vm->cfg->no_reboot)
			log_msg(LOG_WARN, NULL, "guest requested a reset%s%s; --no-reboot ends the run",
				vm->stop_why[0] ? ": " : "", vm->stop_why);
		else
			pr_info("guest reset%s%s: booting it again", vm->stop_why[0] ? ": " : "",
				vm->stop_why);
		return 0;
	case VM_STOP_SIGNAL:
		log_msg(LOG_WARN, NULL, "%s", vm->stop_why);
		return 0;
	default:
		pr_err("%s", vm->stop_why[0] ? vm->stop_why : "the machine stopped on an error");
		return 1;
	}
}

static int run_machine(struct vm *vm, const struct vm_config *cfg, struct boot_files *bf, int sfd)
{
	int ret = vm_open(vm, cfg);

	if (ret == 0)
		ret = vm_add_platform_devices(vm);
	if (ret == 0)
		ret = vm_create_vcpus(vm);
	if (ret == 0)
		ret = load_linux(vm, bf);
	if (ret == 0)
		ret = start_vcpus(vm);
	if (ret)
		return 1;
	main_loop(vm, sfd);
	/* Join the vCPU threads before reporting, so the last guest output is out first. */
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	return report_stop(vm);
}

static int block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
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
	return cfg->initrd ? open_file(&bf->initrd, "--initrd", cfg->initrd) : 0;
}

int vm_run_linux(const struct vm_config *cfg)
{
	struct boot_files bf = { .kernel.fd = -1, .initrd.fd = -1 };
	struct vm vm;
	int status = 1, sfd = -1;

	memset(&vm, 0, sizeof(vm));
	vm.kvm_fd = vm.vm_fd = vm.stop_efd = vm.serial_fd = vm.mem.fd = -1;
	if (open_boot_files(cfg, &bf))
		goto out;
	sfd = block_signals();
	if (sfd < 0) {
		pr_err("signalfd: %s", strerror(errno));
		goto out;
	}
	vcpu_signals_init();
	/*
	 * A reset is a power cycle: the whole machine is made anew, RAM and
	 * devices included, and the kernel loaded again, so nothing of the old
	 * boot can leak into the new one. The serial file keeps every boot.
	 */
	struct vm_config boot = *cfg;

	for (;;) {
		status = run_machine(&vm, &boot, &bf, sfd);
		bool again = status == 0 && atomic_load(&vm.stop) == VM_STOP_RESET && !cfg->no_reboot;

		vm_close(&vm);
		if (!again)
			break;
		boot.serial_append = true;
	}
out:
	vm_close(&vm);
	if (sfd >= 0)
		close(sfd);
	if (bf.kernel.fd >= 0)
		close(bf.kernel.fd);
	if (bf.initrd.fd >= 0)
		close(bf.initrd.fd);
	return status;
}
