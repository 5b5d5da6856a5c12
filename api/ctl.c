// SPDX-License-Identifier: MIT
/*
 * vmm ctl: the API's client for people (ctl.h). One request per command
 * over the UNIX socket, the answer read whole (Content-Length), printed
 * for reading or, with --json, as it came.
 */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#define CTL_MAX_REPLY (4u << 20)

struct ctl {
	const char *socket;
	bool json;
};

struct ctl_reply {
	int status;
	char *body; /* NUL-terminated, maybe empty */
};

static void usage(FILE *f)
{
	fputs(
"Usage: vmm ctl --api-socket PATH [--json] COMMAND\n"
"\n"
"Drives a running vmm (vmm run --api-socket PATH) through its API, which is\n"
"Cloud Hypervisor's REST API on a UNIX socket (docs/api.md): curl\n"
"--unix-socket PATH http://localhost/api/v1/vm.info does the same as\n"
"vmm ctl --api-socket PATH --json info.\n"
"\n"
"Commands:\n"
"  ping                 the vmm's version and pid (vmm.ping)\n"
"  info                 the VM's state, configuration and vCPU threads (vm.info)\n"
"  pause                stop the vCPUs (vm.pause)\n"
"  resume               let them run again (vm.resume)\n"
"  power-button         press the guest's ACPI power button (vm.power-button)\n"
"  shutdown [--force] [--timeout SECONDS]\n"
"                       press the power button and wait up to SECONDS (default\n"
"                       60) for the guest to power off, then stop it hard, as\n"
"                       virsh shutdown then virsh destroy; --force stops it at\n"
"                       once (vm.shutdown). Says which happened\n"
"  reboot               reset the VM (vm.reboot)\n"
"  boot                 boot a VM that vm.shutdown stopped (vm.boot)\n"
"  quit                 end the vmm, and the guest with it (vmm.shutdown)\n"
"  add-device PATH [ID] pass a host PCI function through while the guest runs,\n"
"                       by its sysfs path (/sys/bus/pci/devices/0000:01:00.0)\n"
"                       or address; or by its VFIO cdev (/dev/vfio/devices/\n"
"                       vfioN, iommufd only), which ctl opens and hands over\n"
"                       (SCM_RIGHTS), so the vmm need not be able to open it.\n"
"                       PCIe hot-plug into a free root port (vm.add-device).\n"
"                       Prints its id and guest address\n"
"  remove-device ID     ask the guest to let go of it (the slot's attention\n"
"                       button), then it is reset and released; pulled out\n"
"                       after 20 s if the guest does not (vm.remove-device)\n"
"\n"
"Options:\n"
"  --api-socket PATH    the socket vmm run was given\n"
"  --json               print the API's JSON as it came (info, ping)\n"
"  -h, --help           this text\n"
"\n"
"Exit status: 0 when the API did it, 1 when it refused (the reason is\n"
"printed) or could not be reached, 2 for a wrong command line.\n",
	f);
}

static int connect_api(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(a.sun_path)) {
		pr_err("--api-socket %s: longer than a UNIX socket path may be", path);
		return -1;
	}
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
		return fd;
	pr_err("--api-socket %s: cannot connect: %s (is a vmm run --api-socket %s running?)",
	       path, strerror(errno), path);
	if (fd >= 0)
		close(fd);
	return -1;
}

static bool send_all(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		buf += w;
		n -= (size_t)w;
	}
	return true;
}

/* The status and body of the one answer on fd (the request said Connection: close). */
static int read_reply(int fd, struct ctl_reply *r)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap + 1), *body;
	ssize_t n;

	while (buf && (n = recv(fd, buf + len, cap - len, 0)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || len + (size_t)n > CTL_MAX_REPLY)
			break;
		len += (size_t)n;
		if (len == cap) {
			char *grown = realloc(buf, 2 * cap + 1);

			if (!grown)
				break;
			buf = grown;
			cap *= 2;
		}
	}
	if (!buf)
		return -ENOMEM;
	buf[len] = '\0';
	body = strstr(buf, "\r\n\r\n");
	if (sscanf(buf, "HTTP/1.%*[01] %d", &r->status) != 1 || !body) {
		free(buf);
		return -EPROTO;
	}
	r->body = strdup(body + 4);
	free(buf);
	return r->body ? 0 : -ENOMEM;
}

/* One request: 0 with the reply, or -1 after saying why it could not be made. */
/* body: JSON, or NULL for none. */
/* The first bytes of a request with one fd beside them (SCM_RIGHTS); false on error. */
static bool send_fd(int sock, const char *buf, size_t *n, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u = { 0 };
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = *n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	ssize_t w;

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	do
		w = sendmsg(sock, &m, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	if (w <= 0)
		return false;
	*n = (size_t)w;
	return true;
}

/* body: JSON, or NULL for none; pass_fd >= 0 goes with it (SCM_RIGHTS). */
static int request_fd(const struct ctl *ctl, const char *method, const char *endpoint,
		      const char *body, int pass_fd, struct ctl_reply *r)
{
	size_t blen = body ? strlen(body) : 0, sent = 0;
	char head[320];
	int fd = connect_api(ctl->socket), n, ret;

	if (fd < 0)
		return -1;
	n = snprintf(head, sizeof(head), "%s /api/v1/%s HTTP/1.1\r\nHost: localhost\r\n"
		     "%sContent-Length: %zu\r\nConnection: close\r\n\r\n", method, endpoint,
		     body ? "Content-Type: application/json\r\n" : "", blen);
	sent = (size_t)n;
	if (pass_fd >= 0 && !send_fd(fd, head, &sent, pass_fd))
		sent = 0, n = -1;
	else if (pass_fd < 0)
		sent = 0;
	ret = n >= 0 && send_all(fd, head + sent, (size_t)n - sent) &&
	      (!blen || send_all(fd, body, blen)) ? read_reply(fd, r) : -errno;
	close(fd);
	if (ret) {
		pr_err("--api-socket %s: %s: %s", ctl->socket, endpoint,
		       ret == -EPROTO ? "the answer is not HTTP" : strerror(-ret));
		return -1;
	}
	return 0;
}

static int request(const struct ctl *ctl, const char *method, const char *endpoint,
		   struct ctl_reply *r)
{
	return request_fd(ctl, method, endpoint, NULL, -1, r);
}

/* 1 after printing the API's refusal ("vm.pause: the VM is Paused"), 0 for a 2xx. */
static int refused(const char *endpoint, const struct ctl_reply *r)
{
	json_t *o, *e;

	if (r->status >= 200 && r->status < 300)
		return 0;
	o = json_loads(r->body, 0, NULL);
	e = json_object_get(o, "error");
	pr_err("%s: %s (HTTP %d)", endpoint, json_is_string(e) ? json_string_value(e) : r->body,
	       r->status);
	json_decref(o);
	return 1;
}

/* PUT endpoint; 0, or 1 with the reason printed. */
static int put(const struct ctl *ctl, const char *endpoint)
{
	struct ctl_reply r = { 0 };
	int ret;

	if (request(ctl, "PUT", endpoint, &r))
		return 1;
	ret = refused(endpoint, &r);
	free(r.body);
	return ret;
}

static json_t *get_json(const struct ctl *ctl, const char *endpoint, char **raw)
{
	struct ctl_reply r = { 0 };
	json_t *o = NULL;

	if (request(ctl, "GET", endpoint, &r) || refused(endpoint, &r)) {
		free(r.body);
		return NULL;
	}
	o = json_loads(r.body, 0, NULL);
	if (!o)
		pr_err("%s: the answer is not JSON", endpoint);
	if (raw)
		*raw = r.body;
	else
		free(r.body);
	return o;
}

static void print_info(const json_t *info)
{
	const json_t *cfg = json_object_get(info, "config"), *p = json_object_get(cfg, "payload");
	const json_t *v, *tids = json_object_get(info, "vmm_vcpu_threads");
	size_t i;

	printf("state:    %s\n", json_string_value(json_object_get(info, "state")));
	printf("vcpus:    %lld\n", (long long)json_integer_value(
		json_object_get(json_object_get(cfg, "cpus"), "boot_vcpus")));
	printf("memory:   %lld MiB\n", (long long)json_integer_value(
		json_object_get(json_object_get(cfg, "memory"), "size")) >> 20);
	if ((v = json_object_get(p, "firmware")))
		printf("firmware: %s\n", json_string_value(v));
	if ((v = json_object_get(p, "kernel")))
		printf("kernel:   %s\n", json_string_value(v));
	json_array_foreach(json_object_get(cfg, "disks"), i, v)
		printf("disk:     %s%s\n", json_string_value(json_object_get(v, "path")),
		       json_is_true(json_object_get(v, "readonly")) ? " (readonly)" : "");
	json_array_foreach(json_object_get(cfg, "net"), i, v)
		printf("net:      tap %s\n", json_string_value(json_object_get(v, "tap")));
	json_array_foreach(json_object_get(cfg, "devices"), i, v)
		printf("device:   %s\n", json_string_value(json_object_get(v, "path")));
	json_array_foreach(tids, i, v)
		printf("vcpu%zu:    thread %lld\n", i, (long long)json_integer_value(v));
}

static int cmd_get(const struct ctl *ctl, const char *endpoint)
{
	char *raw = NULL;
	json_t *o = get_json(ctl, endpoint, &raw);

	if (!o)
		return 1;
	if (ctl->json)
		printf("%s\n", raw);
	else if (!strcmp(endpoint, "vm.info"))
		print_info(o);
	else
		printf("vmm %s, pid %lld\n", json_string_value(json_object_get(o, "version")),
		       (long long)json_integer_value(json_object_get(o, "pid")));
	free(raw);
	json_decref(o);
	return 0;
}

/* add-device PATH [ID], remove-device ID: the answer printed, or as it came with --json. */
static int cmd_device(const struct ctl *ctl, const char *cmd, const char *arg, const char *id)
{
	bool add = !strcmp(cmd, "add-device");
	const char *ep = add ? "vm.add-device" : "vm.remove-device";
	bool cdev = add && !strncmp(arg, "/dev/vfio/devices/", strlen("/dev/vfio/devices/"));
	json_t *o = !add ? json_pack("{ss}", "id", arg) : cdev ? json_object() :
		    json_pack("{ss}", "path", arg);
	struct ctl_reply r = { 0 };
	int ret, fd = -1;
	char *body;

	/* A device cdev is opened here and handed over: the vmm need not be able to open it. */
	if (cdev && (fd = open(arg, O_RDWR | O_CLOEXEC)) < 0) {
		pr_err("ctl: add-device %s: %s", arg, strerror(errno));
		json_decref(o);
		return 1;
	}
	if (add && id)
		json_object_set_new(o, "id", json_string(id));
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	ret = body ? request_fd(ctl, "PUT", ep, body, fd, &r) : -1;
	free(body);
	if (fd >= 0)
		close(fd);
	if (ret)
		return 1;
	ret = refused(ep, &r);
	if (!ret && ctl->json)
		printf("%s\n", r.body);
	else if (!ret && add)
		printf("%s\n", r.body); /* {"id", "bdf"}: short enough as it is */
	else if (!ret)
		printf("%s: asked the guest to let go of it (the attention button); vm.info lists it "
		       "until it is released\n", arg);
	free(r.body);
	return ret;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Whether the VM is gone: shut down, or the vmm ended with it (a guest power-off ends a run). */
static bool vm_gone(const struct ctl *ctl)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct ctl_reply r = { 0 };
	bool gone;
	char req[] = "GET /api/v1/vm.info HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", ctl->socket);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (fd >= 0)
			close(fd);
		return true;
	}
	gone = !send_all(fd, req, sizeof(req) - 1) || read_reply(fd, &r) ||
	       strstr(r.body, "\"state\":\"Shutdown\"");
	close(fd);
	free(r.body);
	return gone;
}

static int cmd_shutdown(const struct ctl *ctl, bool force, unsigned timeout)
{
	double t0 = now_s();

	if (force) {
		if (put(ctl, "vm.shutdown"))
			return 1;
		printf("stopped the guest at once (vm.shutdown)\n");
		return 0;
	}
	if (put(ctl, "vm.power-button"))
		return 1;
	while (now_s() - t0 < timeout) {
		if (vm_gone(ctl)) {
			printf("the guest powered off %.1f s after the power button\n", now_s() - t0);
			return 0;
		}
		usleep(200 * 1000);
	}
	if (put(ctl, "vm.shutdown"))
		return 1;
	printf("the guest did not power off within %u s of the power button: stopped it hard "
	       "(vm.shutdown)\n", timeout);
	return 0;
}

int ctl_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "api-socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "force", no_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct ctl ctl = { 0 };
	bool force = false;
	unsigned long timeout = 60;
	const char *cmd;
	char *end;
	int c;

	optind = 1;
	opterr = 0;
	/* GNU getopt moves the command after the options: "shutdown --force" works. */
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 's': ctl.socket = optarg; break;
		case 'j': ctl.json = true; break;
		case 'f': force = true; break;
		case 't':
			errno = 0;
			timeout = strtoul(optarg, &end, 10);
			if (!*optarg || *end || errno || optarg[0] == '-' || timeout > 86400) {
				pr_err("ctl: --timeout %s: takes whole seconds, 0 to 86400", optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default:
			pr_err("ctl: %s %s (see vmm ctl --help)", argv[optind - 1],
			       c == ':' ? "needs a value" : "is not an option");
			return 2;
		}
	}
	if (!ctl.socket || optind >= argc) {
		pr_err("ctl: %s is required (see vmm ctl --help)",
		       !ctl.socket ? "--api-socket PATH" : "a COMMAND");
		return 2;
	}
	cmd = argv[optind];
	if (!strcmp(cmd, "add-device") || !strcmp(cmd, "remove-device")) {
		bool add = cmd[0] == 'a';

		if (optind + 1 >= argc || optind + 2 + add < argc) {
			pr_err("ctl: %s takes %s (see vmm ctl --help)", cmd,
			       add ? "PATH [ID]" : "ID");
			return 2;
		}
		return cmd_device(&ctl, cmd, argv[optind + 1], add ? argv[optind + 2] : NULL);
	}
	if (optind + 1 < argc) {
		pr_err("ctl: %s: unexpected argument (see vmm ctl --help)", argv[optind + 1]);
		return 2;
	}
	if ((force || timeout != 60) && strcmp(cmd, "shutdown")) {
		pr_err("ctl: --force and --timeout are for shutdown only");
		return 2;
	}
	if (!strcmp(cmd, "ping"))
		return cmd_get(&ctl, "vmm.ping");
	if (!strcmp(cmd, "info"))
		return cmd_get(&ctl, "vm.info");
	if (!strcmp(cmd, "shutdown"))
		return cmd_shutdown(&ctl, force, (unsigned)timeout);
	if (!strcmp(cmd, "pause") || !strcmp(cmd, "resume") || !strcmp(cmd, "reboot") ||
	    !strcmp(cmd, "boot") || !strcmp(cmd, "power-button")) {
		char ep[32];

		snprintf(ep, sizeof(ep), "vm.%s", cmd);
		return put(&ctl, ep);
	}
	if (!strcmp(cmd, "quit"))
		return put(&ctl, "vmm.shutdown");
	pr_err("ctl: %s: not a command (see vmm ctl --help)", cmd);
	return 2;
}
