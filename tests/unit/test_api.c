// SPDX-License-Identifier: MIT
/*
 * The API socket end to end on this machine, no KVM: api.c's listener and
 * clients on a real UNIX socket in a test directory, requests answered by
 * vmm/api_vm.c's endpoints over a stubbed machine (what they ask of it is
 * recorded), replies read back as a client such as curl reads them.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/api.h"
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

static void setup(void)
{
	char why[256];

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
		api_serve(api, p, n, vm_api_handle, &ctx);
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

/* vm.add-device and vm.remove-device over a stubbed hot-plug: what reaches it, what is refused. */
static struct {
	char path[256], id[32], removed[32];
	bool id_given;
	int adds;
} hp;

static int fake_add(struct vm *v, const char *p, const char *id, char *id_out, char *bdf_out,
		    size_t out_len, char *why, size_t len)
{
	hp.adds++;
	snprintf(hp.path, sizeof(hp.path), "%s", p);
	hp.id_given = id != NULL;
	if (strstr(p, "0000:00:05.0")) {
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
