// SPDX-License-Identifier: MIT
/*
 * The API socket end to end on this machine, no KVM: api.c's listener and
 * clients on a real UNIX socket in a test directory, requests answered by
 * vmm/api_vm.c's endpoints over a stubbed machine (what they ask of it is
 * recorded), replies read back as a client such as curl reads them.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/api.h"
#include "api/http.h"
#include "vmm/api_vm.h"
#include "vmm/vm.h"

#define assert_has(s, sub) cr_assert(strstr((s), (sub)), "\"%s\" lacks \"%s\"", (s), (sub))

/* The machine, stubbed: what the endpoints asked of it. */
static struct {
	int pauses, resumes, presses, stops, pause_ret;
	enum vm_stop stop_why;
} st;

int vm_pause(struct vm *vm)
{
	(void)vm;
	st.pauses++;
	return st.pause_ret;
}

void vm_resume(struct vm *vm)
{
	(void)vm;
	st.resumes++;
}

void vm_request_stop(struct vm *vm, enum vm_stop why, const char *fmt, ...)
{
	(void)vm, (void)fmt;
	st.stops++;
	st.stop_why = why;
}

void acpi_pm_power_button(struct acpi_pm *pm)
{
	(void)pm;
	st.presses++;
}

static char dir[64], path[128];
static struct api *api;
static struct vm vm;
static struct vcpu vcpus[2];
static struct vm_config cfg;
static struct vm_api_ctx ctx;
static api_handler_fn *handler;

static void setup(void)
{
	char why[256];

	handler = vm_api_handle;
	memset(&st, 0, sizeof(st));
	snprintf(dir, sizeof(dir), "/tmp/vmm-api-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/api.sock", dir);
	cr_assert_eq(api_open(&api, path, why, sizeof(why)), 0, "%s", why);
	cfg = (struct vm_config){ .cpus = 2, .mem.size = 512ull << 20, .kernel = "/boot/vmlinuz",
				  .cmdline = "console=ttyS0", .serial = SERIAL_NONE };
	memset(&vm, 0, sizeof(vm));
	vcpus[0].tid = 4101;
	vcpus[1].tid = 4102;
	vm.vcpus = vcpus;
	vm.nr_vcpus = 2;
	ctx = (struct vm_api_ctx){ .cfg = &cfg, .vm = &vm, .state = VM_API_RUNNING };
}

static void teardown(void)
{
	api_close(api);
	api = NULL;
	rmdir(dir);
}

TestSuite(api, .init = setup, .fini = teardown);

static int client(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(a.sun_path, path);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "%s", strerror(errno));
	return fd;
}

/* One round of the vmm's poll loop, as run.c makes it. */
static void serve_once(int ms)
{
	struct pollfd p[1 + API_MAX_CLIENTS];
	unsigned n = api_pollfds(api, p, 1 + API_MAX_CLIENTS);

	if (poll(p, n, ms) >= 0)
		api_serve(api, p, n, handler, &ctx);
}

/* What fd received until the reply it waits for is whole (or the server closed it). */
static char *reply_of(int fd, size_t want_replies)
{
	static char buf[65536];
	size_t len = 0;

	for (int round = 0; round < 200; round++) {
		ssize_t n;
		size_t got = 0;

		serve_once(10);
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n > 0)
			len += (size_t)n;
		buf[len] = '\0';
		for (const char *s = buf; (s = strstr(s, "HTTP/1.1 ")); s++)
			got++;
		/* A reply is whole once its body (Content-Length) is in too. */
		const char *last = strstr(buf, "HTTP/1.1 "), *p = last;

		while (p && (p = strstr(p + 1, "HTTP/1.1 ")))
			last = p;
		const char *cl = last ? strstr(last, "Content-Length: ") : NULL;
		const char *body = last ? strstr(last, "\r\n\r\n") : NULL;

		if (got >= want_replies && body &&
		    (!cl || strlen(body + 4) >= strtoul(cl + 16, NULL, 10)))
			break;
	}
	return buf;
}

static char *ask(const char *method, const char *endpoint)
{
	char req[256];
	int fd = client();
	char *r;

	snprintf(req, sizeof(req), "%s /api/v1/%s HTTP/1.1\r\nHost: localhost\r\n\r\n", method,
		 endpoint);
	cr_assert_eq(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
	r = reply_of(fd, 1);
	close(fd);
	return r;
}

Test(api, ping_says_the_version_and_pid)
{
	char *r = ask("GET", "vmm.ping");
	char pid[32];

	assert_has(r, "HTTP/1.1 200 OK\r\n");
	assert_has(r, "Content-Type: application/json\r\n");
	assert_has(r, "\"version\":\"" VMM_VERSION "\"");
	snprintf(pid, sizeof(pid), "\"pid\":%d", (int)getpid());
	assert_has(r, pid);
}

Test(api, info_gives_the_config_the_state_and_the_vcpu_threads)
{
	char *r = ask("GET", "vm.info");

	assert_has(r, "HTTP/1.1 200 OK\r\n");
	assert_has(r, "\"cpus\":{\"boot_vcpus\":2,\"max_vcpus\":2}");
	assert_has(r, "\"size\":536870912");
	assert_has(r, "\"payload\":{\"kernel\":\"/boot/vmlinuz\",\"cmdline\":\"console=ttyS0\"}");
	assert_has(r, "\"state\":\"Running\"");
	assert_has(r, "\"vmm_vcpu_threads\":[4101,4102]");
}

Test(api, pause_and_resume_follow_the_state)
{
	assert_has(ask("PUT", "vm.resume"), "HTTP/1.1 405 ");
	cr_assert_eq(st.resumes, 0, "not paused: nothing to resume");
	assert_has(ask("PUT", "vm.pause"), "HTTP/1.1 204 No Content\r\n");
	cr_assert_eq(st.pauses, 1);
	cr_assert_eq(ctx.state, VM_API_PAUSED);
	assert_has(ask("GET", "vm.info"), "\"state\":\"Paused\"");
	char *again = ask("PUT", "vm.pause");

	assert_has(again, "HTTP/1.1 405 ");
	assert_has(again, "{\"error\":\"vm.pause: the VM is Paused\"}");
	cr_assert_eq(st.pauses, 1);
	assert_has(ask("PUT", "vm.resume"), "HTTP/1.1 204 ");
	cr_assert_eq(st.resumes, 1);
	cr_assert_eq(ctx.state, VM_API_RUNNING);
}

Test(api, a_pause_that_times_out_is_a_500_and_the_vm_runs_on)
{
	st.pause_ret = -ETIMEDOUT;
	assert_has(ask("PUT", "vm.pause"), "HTTP/1.1 500 ");
	cr_assert_eq(ctx.state, VM_API_RUNNING);
}

Test(api, shutdown_then_boot)
{
	assert_has(ask("PUT", "vm.boot"), "HTTP/1.1 405 ");
	assert_has(ask("PUT", "vm.shutdown"), "HTTP/1.1 204 ");
	cr_assert(ctx.shutdown);
	cr_assert_eq(st.stops, 1);
	cr_assert_eq(st.stop_why, VM_STOP_SIGNAL);
	/* What run.c does once the machine is gone. */
	ctx.state = VM_API_SHUTDOWN;
	ctx.vm = NULL;
	assert_has(ask("GET", "vm.info"), "\"state\":\"Shutdown\"");
	assert_has(ask("GET", "vm.info"), "\"vmm_vcpu_threads\":[]");
	assert_has(ask("PUT", "vm.power-button"), "HTTP/1.1 405 ");
	assert_has(ask("PUT", "vm.boot"), "HTTP/1.1 204 ");
	cr_assert(ctx.boot);
}

Test(api, reboot_power_button_and_vmm_shutdown)
{
	assert_has(ask("PUT", "vm.power-button"), "HTTP/1.1 204 ");
	cr_assert_eq(st.presses, 1);
	assert_has(ask("PUT", "vm.reboot"), "HTTP/1.1 204 ");
	cr_assert(ctx.reboot);
	cr_assert_eq(st.stop_why, VM_STOP_RESET);
	assert_has(ask("PUT", "vmm.shutdown"), "HTTP/1.1 204 ");
	cr_assert(ctx.exit);
}

Test(api, wrong_method_unknown_and_not_yet_answered_are_named)
{
	char *r = ask("GET", "vm.pause");

	assert_has(r, "HTTP/1.1 405 ");
	assert_has(r, "vm.pause takes PUT, not GET");
	cr_assert_eq(st.pauses, 0);
	r = ask("GET", "vm.nothing");
	assert_has(r, "HTTP/1.1 404 ");
	assert_has(r, "vm.nothing: no such endpoint");
	r = ask("PUT", "vm.add-disk");
	assert_has(r, "HTTP/1.1 501 ");
	assert_has(r, "vm.add-disk: a Cloud Hypervisor endpoint this vmm does not answer yet");
}

Test(api, pipelined_requests_get_their_replies_in_order)
{
	static const char two[] = "GET /api/v1/vmm.ping HTTP/1.1\r\nHost: x\r\n\r\n"
				  "PUT /api/v1/vm.pause HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
	int fd = client();
	char *r;

	cr_assert_eq(send(fd, two, sizeof(two) - 1, 0), (ssize_t)(sizeof(two) - 1));
	r = reply_of(fd, 2);
	assert_has(r, "HTTP/1.1 200 OK");
	assert_has(strstr(r, "HTTP/1.1 200 OK") + 1, "HTTP/1.1 204 No Content");
	cr_assert_eq(st.pauses, 1);
	close(fd);
}

Test(api, a_malformed_request_is_answered_and_the_connection_closed)
{
	static const char bad[] = "GET /api/v1/vmm.ping HTTP/1.1\r\nContent-Length: 12x\r\n\r\n";
	int fd = client();
	char *r, c;

	cr_assert_eq(send(fd, bad, sizeof(bad) - 1, 0), (ssize_t)(sizeof(bad) - 1));
	r = reply_of(fd, 1);
	assert_has(r, "HTTP/1.1 400 ");
	assert_has(r, "Content-Length 12x");
	assert_has(r, "Connection: close");
	for (int i = 0; i < 20; i++)
		serve_once(5);
	cr_assert_eq(recv(fd, &c, 1, MSG_DONTWAIT), 0, "closed after the answer");
	close(fd);
}

Test(api, one_client_over_the_limit_is_told_503)
{
	int fd[API_MAX_CLIENTS + 1];
	char *r;

	for (int i = 0; i <= API_MAX_CLIENTS; i++) {
		fd[i] = client();
		serve_once(10);
	}
	r = reply_of(fd[API_MAX_CLIENTS], 1);
	assert_has(r, "HTTP/1.1 503 ");
	for (int i = 0; i <= API_MAX_CLIENTS; i++)
		close(fd[i]);
	/* The others are served still. */
	assert_has(ask("GET", "vmm.ping"), "HTTP/1.1 200 ");
}

Test(api, the_socket_is_0600_and_goes_away_on_close)
{
	struct stat s;

	cr_assert_eq(stat(path, &s), 0);
	cr_assert_eq(s.st_mode & 0777, 0600);
	api_close(api);
	api = NULL;
	cr_assert_eq(stat(path, &s), -1, "unlinked on close");
}

Test(api, a_path_that_is_taken_is_refused_and_a_stale_socket_replaced)
{
	struct api *second = NULL;
	char why[256], file[160];
	FILE *f;

	cr_assert_eq(api_open(&second, path, why, sizeof(why)), -EADDRINUSE);
	assert_has(why, "another process (a vmm still running?) listens on it");
	snprintf(file, sizeof(file), "%s/not-a-socket", dir);
	f = fopen(file, "w");
	fclose(f);
	cr_assert_eq(api_open(&second, file, why, sizeof(why)), -EEXIST);
	assert_has(why, "exists and is not a socket");
	unlink(file);
	/* A socket nobody listens on (a vmm killed with -9 left it): replaced. */
	{
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		snprintf(a.sun_path, sizeof(a.sun_path), "%s/stale.sock", dir);
		cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
		close(fd);
		cr_assert_eq(api_open(&second, a.sun_path, why, sizeof(why)), 0, "%s", why);
		api_close(second);
	}
	cr_assert_eq(api_open(&second, "fd=notanumber", why, sizeof(why)), -EINVAL);
	cr_assert_eq(api_open(&second, "fd=999", why, sizeof(why)), -EBADF);
	assert_has(why, "--api-socket fd=999: not open in this process");
}

/* Another uid reaches the socket only if its mode lets it; then SO_PEERCRED refuses it. */
Test(api, a_peer_of_another_uid_is_told_403)
{
	pid_t child;
	int status;

	if (geteuid() != 0)
		cr_skip_test("needs root, to be a peer of another uid");
	chmod(dir, 0711);
	chmod(path, 0666);
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		static const char req[] = "GET /api/v1/vmm.ping HTTP/1.1\r\nHost: x\r\n\r\n";
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		char buf[512] = "";
		int fd;

		if (setgid(65534) || setuid(65534))
			_exit(2);
		strcpy(a.sun_path, path);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) ||
		    send(fd, req, sizeof(req) - 1, 0) < 0 || recv(fd, buf, sizeof(buf) - 1, MSG_WAITALL) < 0)
			_exit(3);
		_exit(strstr(buf, "HTTP/1.1 403 ") && strstr(buf, "is uid 65534") ? 0 : 4);
	}
	pid_t done = 0;

	for (int i = 0; i < 200 && !done; i++) {
		serve_once(20);
		done = waitpid(child, &status, WNOHANG);
	}
	cr_assert_eq(done, child, "the child did not finish");
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child saw: exit %d",
		  WEXITSTATUS(status));
}

static char *ask_body(const char *method, const char *endpoint, const char *body)
{
	char req[2048];
	int fd = client();
	char *r;

	snprintf(req, sizeof(req), "%s /api/v1/%s HTTP/1.1\r\nHost: localhost\r\n"
		 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", method,
		 endpoint, strlen(body), body);
	cr_assert_eq(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
	r = reply_of(fd, 1);
	close(fd);
	return r;
}

static int prepared, prepare_fails;

static int fake_prepare(void *opaque, const struct vm_config *c)
{
	prepared++;
	if (prepare_fails) {
		pr_err("--kernel %s: No such file or directory", c->kernel);
		return -ENOENT;
	}
	return 0;
}

/* `vmm run --api-socket` alone: a VM from vm.create's VmConfig, booted by vm.boot. */
Test(api, create_then_boot_a_vm_from_json_alone)
{
	ctx = (struct vm_api_ctx){ .state = VM_API_NONE, .prepare = fake_prepare };
	assert_has(ask("GET", "vm.info"), "HTTP/1.1 404 ");
	assert_has(ask("PUT", "vm.boot"), "vm.boot: the VM is not created");
	char *r = ask_body("PUT", "vm.create", "{\"payload\": {\"kernel\": \"/nope/bz\"},"
			   " \"cpus\": {\"boot_vcpus\": \"2\"}}");

	assert_has(r, "HTTP/1.1 400 ");
	assert_has(r, "vm.create: cpus.boot_vcpus: expected an integer, got a string");
	cr_assert_eq(ctx.state, VM_API_NONE, "a refused config leaves no VM");
	r = ask_body("PUT", "vm.create", "{\"payload\": {\"kernel\": \"/nope/bz\"},"
		     " \"cpus\": {\"boot_vcpus\": 3, \"max_vcpus\": 3},"
		     " \"memory\": {\"size\": 268435456}}");
	assert_has(r, "HTTP/1.1 204 ");
	cr_assert_eq(ctx.state, VM_API_CREATED);
	cr_assert_eq(ctx.cfg->cpus, 3);
	r = ask("GET", "vm.info");
	assert_has(r, "\"state\":\"Created\"");
	assert_has(r, "\"size\":268435456");
	assert_has(ask_body("PUT", "vm.create", "{\"payload\": {}}"), "HTTP/1.1 405 ");
	prepare_fails = 1;
	r = ask("PUT", "vm.boot");
	assert_has(r, "HTTP/1.1 400 ");
	assert_has(r, "vm.boot: --kernel /nope/bz: No such file or directory");
	cr_assert_not(ctx.boot, "nothing boots");
	prepare_fails = 0;
	assert_has(ask("PUT", "vm.boot"), "HTTP/1.1 204 ");
	cr_assert(ctx.boot);
	cr_assert_eq(prepared, 2, "vm.boot checked the config each time");
	vm_api_release(&ctx);
}

static int fake_reset(struct vm *v, const char *id, const char *how, double *ms, char *why,
		      size_t len)
{
	if (strcmp(id, "vfio0")) {
		snprintf(why, len, "no passed-through device \"%s\"", id);
		return -ENOENT;
	}
	if (strcmp(how, "flr") && strcmp(how, "auto")) {
		snprintf(why, len, "vfio0: the kernel offers only: flr");
		return -EOPNOTSUPP;
	}
	*ms = 12.5;
	return 0;
}

/* Ours: a passed-through function reset now, with a chosen method. */
Test(api, a_device_is_reset_on_demand_with_the_method_asked)
{
	char *r;

	ctx.reset_device = fake_reset;
	r = ask_body("PUT", "vm.vmm-reset-device", "{\"id\": \"vfio0\", \"method\": \"flr\"}");
	assert_has(r, "HTTP/1.1 200 ");
	assert_has(r, "\"method\":\"flr\"");
	assert_has(r, "\"us\":12500");
	assert_has(ask_body("PUT", "vm.vmm-reset-device", "{\"id\": \"vfio7\"}"), "HTTP/1.1 404 ");
	r = ask_body("PUT", "vm.vmm-reset-device", "{\"id\": \"vfio0\", \"method\": \"pm\"}");
	assert_has(r, "HTTP/1.1 400 ");
	assert_has(r, "the kernel offers only: flr");
	r = ask_body("PUT", "vm.vmm-reset-device", "{\"id\": \"vfio0\", \"methd\": \"pm\"}");
	assert_has(r, "HTTP/1.1 400 ");
	assert_has(r, "methd");
	assert_has(ask_body("PUT", "vm.vmm-reset-device", "[1"), "HTTP/1.1 400 ");
	ctx.state = VM_API_SHUTDOWN;
	assert_has(ask_body("PUT", "vm.vmm-reset-device", "{\"id\": \"vfio0\"}"), "HTTP/1.1 405 ");
}

static ino_t ino_of(int fd)
{
	struct stat s;

	cr_assert_eq(fstat(fd, &s), 0, "fd %d is not open", fd);
	return s.st_ino;
}

/* vm.add-device and vm.remove-device over a stubbed hot-plug: what reaches it, what is refused. */
static struct {
	char path[256], id[32], removed[32];
	bool id_given;
	int adds;
	int fd;            /* the cdev fd it was given and kept; -1: none */
	ino_t fd_ino;      /* what that fd was */
} hp;

static int fake_add(struct vm *v, const char *p, int fd, const char *id, char *id_out,
		    char *bdf_out, size_t out_len, char *why, size_t len)
{
	hp.adds++;
	snprintf(hp.path, sizeof(hp.path), "%s", p ? p : "(none)");
	hp.id_given = id != NULL;
	cr_assert((p == NULL) == (fd >= 0), "either a path or an fd: %s, fd %d", hp.path, fd);
	if (fd >= 0) {
		/* As vm_vfio_add_device(): the fd is the hook's, closed when it refuses. */
		hp.fd_ino = ino_of(fd);
		if (id && !strcmp(id, "taken")) {
			close(fd);
			snprintf(why, len, "id \"taken\" is taken");
			return -EEXIST;
		}
		hp.fd = fd;
	}
	if (p && strstr(p, "0000:00:05.0")) {
		snprintf(why, len, "0000:00:05.0: IOMMU group 7 is not viable: 0000:00:05.1 is bound "
			 "to nvme");
		return -EBUSY;
	}
	if (id && !strcmp(id, "taken")) {
		snprintf(why, len, "id \"taken\" is taken");
		return -EEXIST;
	}
	snprintf(id_out, out_len, "%s", id ? id : "vfio3");
	snprintf(bdf_out, out_len, "0000:02:00.0");
	return 0;
}

static int fake_remove(struct vm *v, const char *id, char *why, size_t len)
{
	if (strcmp(id, "vfio3")) {
		snprintf(why, len, "no passed-through device \"%s\"", id);
		return -ENOENT;
	}
	snprintf(hp.removed, sizeof(hp.removed), "%s", id);
	return 0;
}

Test(api, a_device_is_added_and_removed_with_cloud_hypervisors_bodies)
{
	char *r;

	memset(&hp, 0, sizeof(hp));
	hp.fd = -1;
	ctx.add_device = fake_add;
	ctx.remove_device = fake_remove;
	r = ask_body("PUT", "vm.add-device", "{\"path\": \"/sys/bus/pci/devices/0000:00:06.0/\"}");
	assert_has(r, "HTTP/1.1 200 ");
	assert_has(r, "{\"id\":\"vfio3\",\"bdf\":\"0000:02:00.0\"}");
	cr_assert_str_eq(hp.path, "/sys/bus/pci/devices/0000:00:06.0/");
	cr_assert(!hp.id_given);
	r = ask_body("PUT", "vm.add-device", "{\"path\": \"0000:00:06.0\", \"id\": \"gpu\", "
		     "\"iommu\": false, \"pci_segment\": 0}");
	assert_has(r, "\"id\":\"gpu\"");
	r = ask_body("PUT", "vm.add-device", "{\"path\": \"/sys/bus/pci/devices/0000:00:05.0\"}");
	assert_has(r, "HTTP/1.1 400 ");
	assert_has(r, "vm.add-device: 0000:00:05.0: IOMMU group 7 is not viable");
	assert_has(ask_body("PUT", "vm.add-device", "{\"path\": \"x\", \"id\": \"taken\"}"),
		   "HTTP/1.1 409 ");
	cr_assert_eq(hp.adds, 4);

	/* refused before anything is tried, each naming the field */
	r = ask_body("PUT", "vm.add-device", "{\"id\": \"x\"}");
	assert_has(r, "HTTP/1.1 400 ");
	assert_has(r, "path: required");
	r = ask_body("PUT", "vm.add-device", "{\"path\": \"p\", \"iommu\": true}");
	assert_has(r, "iommu: this vmm has no virtual IOMMU");
	r = ask_body("PUT", "vm.add-device", "{\"path\": \"p\", \"pci_segment\": 1}");
	assert_has(r, "pci_segment: this vmm has segment 0 only");
	r = ask_body("PUT", "vm.add-device", "{\"path\": \"p\", \"x_nv_gpudirect_clique\": 1}");
	assert_has(r, "x_nv_gpudirect_clique: not supported");
	r = ask_body("PUT", "vm.add-device", "{\"path\": \"p\", \"pth\": 1}");
	assert_has(r, "pth: no such field in a DeviceConfig");
	r = ask_body("PUT", "vm.add-device", "{\"path\": 7}");
	assert_has(r, "HTTP/1.1 400 ");
	assert_has(ask_body("PUT", "vm.add-device", "[1"), "HTTP/1.1 400 ");
	cr_assert_eq(hp.adds, 4, "none of those reached the machine");

	assert_has(ask_body("PUT", "vm.remove-device", "{\"id\": \"vfio3\"}"), "HTTP/1.1 204 ");
	cr_assert_str_eq(hp.removed, "vfio3");
	r = ask_body("PUT", "vm.remove-device", "{\"id\": \"vfio9\"}");
	assert_has(r, "HTTP/1.1 404 ");
	assert_has(r, "no passed-through device \\\"vfio9\\\"");
	assert_has(ask_body("PUT", "vm.remove-device", "{\"idd\": \"vfio3\"}"), "HTTP/1.1 400 ");
	ctx.state = VM_API_SHUTDOWN;
	assert_has(ask_body("PUT", "vm.add-device", "{\"path\": \"p\"}"), "HTTP/1.1 405 ");
	assert_has(ask_body("PUT", "vm.remove-device", "{\"id\": \"vfio3\"}"), "HTTP/1.1 405 ");
}

/* ---- File descriptors passed with requests (SCM_RIGHTS) ---- */

/* Sends data with n fds attached, in one sendmsg. */
static void send_fds(int sock, const char *data, size_t len, const int *fds, unsigned n)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(253 * sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *h;

	memset(&ctl, 0, sizeof(ctl));
	if (n) {
		m.msg_control = ctl.buf;
		m.msg_controllen = CMSG_SPACE(n * sizeof(int));
		h = CMSG_FIRSTHDR(&m);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(h), fds, n * sizeof(int));
	}
	cr_assert_eq(sendmsg(sock, &m, MSG_NOSIGNAL), (ssize_t)len, "sendmsg: %s", strerror(errno));
}

static void send_str_fds(int sock, const char *data, const int *fds, unsigned n)
{
	send_fds(sock, data, strlen(data), fds, n);
}

/* How many fds this process has open (the listing's own included, the same each time). */
static unsigned open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}


/* Rounds of the poll loop, so that the server sees a client's close and closes its end. */
static void settle(void)
{
	for (int i = 0; i < 10; i++)
		serve_once(5);
}

/* A handler that records what came with each request, and keeps the first fd when told to. */
static struct {
	int calls;
	unsigned nr[5];
	int num[5][API_MAX_FDS];
	ino_t ino[5][API_MAX_FDS];
	bool take_first;
	int taken;
} rec;

static void record_handler(void *opaque, const struct http_request *req, struct api_reply *reply)
{
	int k = rec.calls++;

	cr_assert_lt(k, 5);
	rec.nr[k] = req->nr_fds;
	for (unsigned i = 0; i < req->nr_fds; i++) {
		rec.num[k][i] = req->fds[i];
		rec.ino[k][i] = ino_of(req->fds[i]);
	}
	if (rec.take_first && req->nr_fds) {
		rec.taken = req->fds[0];
		req->fds[0] = -1;
	}
	reply->status = 204;
}

static void record_setup(void)
{
	setup();
	memset(&rec, 0, sizeof(rec));
	rec.taken = -1;
	handler = record_handler;
}

TestSuite(api_fds, .init = record_setup, .fini = teardown);

static const char put_x[] = "PUT /api/v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";

Test(api_fds, the_handler_sees_them_and_what_it_does_not_take_is_closed)
{
	unsigned before = open_fds();
	int p[2], null = open("/dev/null", O_RDWR | O_CLOEXEC), fd, fds[2];
	char c = 0;

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	fds[0] = p[0];
	fds[1] = null;
	rec.take_first = true;
	fd = client();
	send_str_fds(fd, put_x, fds, 2);
	assert_has(reply_of(fd, 1), "HTTP/1.1 204 ");
	cr_assert_eq(rec.calls, 1);
	cr_assert_eq(rec.nr[0], 2);
	cr_assert_eq(rec.ino[0][0], ino_of(p[0]), "the pipe's read end, first");
	cr_assert_eq(rec.ino[0][1], ino_of(null), "then /dev/null");
	cr_assert_eq(rec.taken, rec.num[0][0]);
	cr_assert(fd_is_open(rec.taken), "the one taken stays open");
	cr_assert_not(fd_is_open(rec.num[0][1]), "the other is closed when the handler returns");
	/* What was taken is the pipe itself: bytes written at one end come out of it. */
	cr_assert_eq(write(p[1], "k", 1), 1);
	cr_assert_eq(read(rec.taken, &c, 1), 1);
	cr_assert_eq(c, 'k');
	close(rec.taken);
	close(p[0]);
	close(p[1]);
	close(null);
	close(fd);
	settle();
	cr_assert_eq(open_fds(), before, "every fd is gone again");
}

/* The head in one send with the fds, the rest later: they belong to the request all the same. */
Test(api_fds, a_request_split_across_sends_keeps_the_fds_of_its_first)
{
	static const char head[] = "PUT /api/v1/x HTTP/1.1\r\nHost: x\r\n";
	unsigned before = open_fds();
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC), fd = client();

	send_str_fds(fd, head, &null, 1);
	settle();
	cr_assert_eq(rec.calls, 0, "not a whole request yet");
	send_str_fds(fd, "Content-Length: 2\r\n", NULL, 0);
	settle();
	send_str_fds(fd, "\r\n{}", NULL, 0);
	assert_has(reply_of(fd, 1), "HTTP/1.1 204 ");
	cr_assert_eq(rec.calls, 1);
	cr_assert_eq(rec.nr[0], 1);
	cr_assert_eq(rec.ino[0][0], ino_of(null));
	cr_assert_not(fd_is_open(rec.num[0][0]));
	close(null);
	close(fd);
	settle();
	cr_assert_eq(open_fds(), before);
}

/*
 * Requests sent, some with an fd, before the server reads any (the kernel
 * then gives the bytes of several sends in one read): each gets its own.
 */
Test(api_fds, pipelined_requests_keep_their_own_fds)
{
	unsigned before = open_fds();
	int a = open("/dev/null", O_RDONLY | O_CLOEXEC), b = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	int fd = client();

	send_str_fds(fd, put_x, NULL, 0);
	send_str_fds(fd, put_x, &a, 1);
	send_str_fds(fd, "\r\n", NULL, 0); /* an empty line before the next: still the next's */
	send_str_fds(fd, put_x, &b, 1);
	send_str_fds(fd, put_x, NULL, 0);
	reply_of(fd, 4);
	cr_assert_eq(rec.calls, 4);
	cr_assert_eq(rec.nr[0], 0);
	cr_assert_eq(rec.nr[1], 1);
	cr_assert_eq(rec.ino[1][0], ino_of(a));
	cr_assert_eq(rec.nr[2], 1);
	cr_assert_eq(rec.ino[2][0], ino_of(b));
	cr_assert_eq(rec.nr[3], 0);
	close(a);
	close(b);
	close(fd);
	settle();
	cr_assert_eq(open_fds(), before);
}

/* A client that goes with half a request: the fds it sent go with it. */
Test(api_fds, fds_with_no_request_completing_are_closed)
{
	unsigned before = open_fds();
	int p[2], fd = client();

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	send_str_fds(fd, "PUT /api/v1/x HTT", p, 2);
	settle();
	cr_assert_eq(open_fds(), before + 1 + 2 + 1 + 2, "held: ours and the server's copies");
	close(p[0]);
	close(p[1]);
	close(fd);
	settle();
	cr_assert_eq(rec.calls, 0);
	cr_assert_eq(open_fds(), before);
}

/* More than API_MAX_FDS: the request is refused, the connection closed, nothing kept. */
Test(api_fds, too_many_fds_refuse_the_request)
{
	unsigned before = open_fds();
	int fds[API_MAX_FDS + 1], fd;
	char *r, c;

	for (unsigned i = 0; i <= API_MAX_FDS; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	/* In one message, and spread over two of one request. */
	for (int round = 0; round < 2; round++) {
		fd = client();
		if (round == 0) {
			send_str_fds(fd, put_x, fds, API_MAX_FDS + 1);
		} else {
			send_str_fds(fd, "PUT /api/v1/x HTTP/1.1\r\n", fds, 10);
			settle();
			send_str_fds(fd, put_x + 24, fds, 10);
		}
		r = reply_of(fd, 1);
		assert_has(r, "HTTP/1.1 400 ");
		assert_has(r, "more than 16 file descriptors came with one request");
		settle();
		cr_assert_eq(recv(fd, &c, 1, MSG_DONTWAIT), 0, "closed after the answer");
		close(fd);
		settle();
	}
	cr_assert_eq(rec.calls, 0, "the handler never saw them");
	for (unsigned i = 0; i <= API_MAX_FDS; i++)
		close(fds[i]);
	cr_assert_eq(open_fds(), before);
}

/*
 * Control data cut short: the kernel could not give all the fds sent
 * (here: the fd limit), sets MSG_CTRUNC, and the request is refused.
 */
Test(api_fds, fds_cut_short_refuse_the_request)
{
	unsigned before = open_fds();
	struct rlimit old, low;
	int fds[64], fd = client(), top = 0, fit = 0;
	char *r;

	serve_once(10); /* accepted now, before the limit is lowered */
	for (int i = 0; i < 64; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (int i = 0; i < 1024; i++)
		if (fd_is_open(i))
			top = i;
	/* Room for two more fds below the limit, and as many holes as lie under it. */
	for (int i = 0; i < top + 3; i++)
		fit += !fd_is_open(i);
	cr_assert_lt(fit + 3, API_MAX_FDS, "too many holes in the fd table for this test");
	send_str_fds(fd, put_x, fds, (unsigned)fit + 3);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)top + 3;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	serve_once(10);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	r = reply_of(fd, 1);
	assert_has(r, "HTTP/1.1 400 ");
	assert_has(r, "cut short (MSG_CTRUNC)");
	cr_assert_eq(rec.calls, 0);
	for (int i = 0; i < 64; i++)
		close(fds[i]);
	close(fd);
	settle();
	cr_assert_eq(open_fds(), before);
}

static char *ask_body_fds(const char *endpoint, const char *body, const int *fds, unsigned n)
{
	char req[2048];
	int fd = client();
	char *r;

	snprintf(req, sizeof(req), "PUT /api/v1/%s HTTP/1.1\r\nHost: localhost\r\n"
		 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", endpoint,
		 strlen(body), body);
	send_str_fds(fd, req, fds, n);
	r = reply_of(fd, 1);
	close(fd);
	return r;
}

/* DeviceConfig without path, the device's VFIO cdev passed with SCM_RIGHTS: exactly one of them. */
Test(api, a_device_is_added_by_a_cdev_fd_passed_with_the_request)
{
	unsigned before = open_fds();
	int p[2], two[2];
	char *r;

	memset(&hp, 0, sizeof(hp));
	hp.fd = -1;
	ctx.add_device = fake_add;
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	r = ask_body_fds("vm.add-device", "{\"id\": \"gpu\"}", p, 1);
	assert_has(r, "HTTP/1.1 200 ");
	assert_has(r, "{\"id\":\"gpu\",\"bdf\":\"0000:02:00.0\"}");
	cr_assert_eq(hp.adds, 1);
	cr_assert_str_eq(hp.path, "(none)");
	cr_assert_geq(hp.fd, 0, "the hook was given the fd and kept it");
	cr_assert_eq(hp.fd_ino, ino_of(p[0]), "the very fd the client passed");
	cr_assert(fd_is_open(hp.fd), "still open once the request is answered: the device's");
	close(hp.fd);
	hp.fd = -1;

	/* The hook refuses it: it closes the fd (fake_add as vm_vfio_add_device()). */
	r = ask_body_fds("vm.add-device", "{\"id\": \"taken\"}", p, 1);
	assert_has(r, "HTTP/1.1 409 ");
	cr_assert_eq(hp.adds, 2);

	/* refused before the hook, and the fds closed by the transport */
	two[0] = p[0];
	two[1] = p[1];
	r = ask_body_fds("vm.add-device", "{}", two, 2);
	assert_has(r, "HTTP/1.1 400 ");
	assert_has(r, "vm.add-device: 2 file descriptors came with the request; a device takes one");
	r = ask_body_fds("vm.add-device", "{\"path\": \"/sys/bus/pci/devices/0000:00:06.0\"}", p, 1);
	assert_has(r, "HTTP/1.1 400 ");
	assert_has(r, "both path and a file descriptor came");
	r = ask_body("PUT", "vm.add-device", "{}");
	assert_has(r, "path: required");
	assert_has(r, "unless its VFIO cdev (/dev/vfio/devices/vfioN) comes as a file descriptor");
	r = ask_body_fds("vm.add-device", "{\"iommu\": true}", p, 1);
	assert_has(r, "iommu: this vmm has no virtual IOMMU");
	cr_assert_eq(hp.adds, 2, "none of those reached the machine");

	/* An endpoint that takes none says so, and does nothing. */
	r = ask_body_fds("vm.pause", "", p, 1);
	assert_has(r, "HTTP/1.1 400 ");
	assert_has(r, "vm.pause takes no file descriptor; 1 came with the request");
	cr_assert_eq(st.pauses, 0);
	/* No hook in this build: 501, and the fd closed all the same. */
	ctx.add_device = NULL;
	assert_has(ask_body_fds("vm.add-device", "{}", p, 1), "HTTP/1.1 501 ");

	close(p[0]);
	close(p[1]);
	settle();
	cr_assert_eq(open_fds(), before, "no fd left behind on any of those paths");
}
