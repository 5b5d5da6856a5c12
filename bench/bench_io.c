// SPDX-License-Identifier: MIT
/*
 * "vmm bench blk" and "vmm bench net": guest-side disk and TCP throughput
 * under this vmm and under QEMU, in the same run, on the same backing file
 * or the same tap.
 *
 * The guest is the lab's: its agent runs iotest (tests/lab/iotest.c) and
 * prints each result as "VMM-AGENT: iotest={...}" on the serial console,
 * which we keep whole and read after the guest powers off. For net, this
 * process is the far end of the guest's TCP streams: it takes what the
 * guest sends to 10.0.3.1:5201, then sends to the guest's port 5202, on a
 * thread of its own while the console is watched.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_internal.h"
#include "../core/log.h"

#define IO_RESULT "VMM-AGENT: iotest="
#define IO_ERROR "VMM-AGENT: bench_error="
#define IO_MAX_LINES 8

#define NET_HOST_IP  "10.0.3.1"
#define NET_GUEST_IP "10.0.3.15"
#define NET_PREFIX   24
#define NET_MAC      "52:54:00:00:03:0f" /* both VMMs: the host's ARP entry stays right */
#define NET_TO_HOST_PORT  5201
#define NET_TO_GUEST_PORT 5202

/* One measurement, as the guest reported it. */
struct io_line {
	char name[48];  /* "seq-write-1m", "guest-to-host", ... */
	double mib_s;
	double iops;    /* blk only; < 0 for net */
};

/* What one boot of one VMM measured. */
struct io_run {
	struct io_line line[IO_MAX_LINES];
	unsigned nr;
};

/* ---- reading the guest's results ---- */

/* Names a result line: blk by mode and block size, net by direction. */
static bool io_line_name(const char *test, const char *mode, double bs, char *name, size_t len)
{
	if (strcmp(test, "blk") == 0) {
		if (!mode || strlen(mode) >= 16 || bs <= 0)
			return false;
		if (bs >= 1048576 && (long long)bs % 1048576 == 0)
			snprintf(name, len, "%s-%lldm", mode, (long long)bs / 1048576);
		else
			snprintf(name, len, "%s-%lldk", mode, (long long)bs / 1024);
		return true;
	}
	if (strcmp(test, "tcp-send") == 0)
		snprintf(name, len, "guest-to-host");
	else if (strcmp(test, "tcp-recv") == 0)
		snprintf(name, len, "host-to-guest");
	else
		return false;
	return true;
}

/*
 * One of iotest's result objects, len bytes at text: its name and figures
 * (iops < 0 when it has none, as for net); false when it is none.
 */
static bool io_line_parse(const char *text, size_t len, struct io_line *l)
{
	json_t *j = json_loadb(text, len, 0, NULL);
	const char *test, *mode = NULL;
	double bs = -1;
	bool ok;

	l->iops = -1;
	ok = j && !json_unpack(j, "{s:s, s?s, s?F, s:F, s?F}", "test", &test, "mode", &mode,
			       "bs", &bs, "mib_s", &l->mib_s, "iops", &l->iops) &&
	     l->mib_s >= 0 && io_line_name(test, mode, bs, l->name, sizeof(l->name));
	json_decref(j);
	return ok;
}

/*
 * Collects the result lines from a console log; -EIO (said) when the
 * guest reported an error or fewer than `want` results.
 */
static int io_collect(const char *what, unsigned run, const char *log, unsigned want,
		      struct io_run *r)
{
	const char *p = log ? log : "";
	const char *err = strstr(p, IO_ERROR);

	r->nr = 0;
	if (err) {
		pr_err("bench: %s, run %u: the guest says: %.*s", what, run,
			(int)strcspn(err + strlen(IO_ERROR), "\r\n"), err + strlen(IO_ERROR));
		return -EIO;
	}
	while ((p = strstr(p, IO_RESULT)) && r->nr < IO_MAX_LINES) {
		size_t n;

		p += strlen(IO_RESULT);
		n = strcspn(p, "\r\n");
		if (!io_line_parse(p, n, &r->line[r->nr])) {
			pr_err("bench: %s, run %u: cannot read the guest's result '%.*s'",
				what, run, (int)(n < 512 ? n : 512), p);
			return -EIO;
		}
		r->nr++;
	}
	if (r->nr < want) {
		pr_err("bench: %s, run %u: the guest reported %u of %u results (is iotest "
			"in its initramfs, and its agent the lab's?)", what, run, r->nr, want);
		return -EIO;
	}
	return 0;
}

/* ---- the tap and the host's end of the TCP streams (net) ---- */

static int tap_persist(const char *name, bool on)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int fd, ret = 0;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, on ? 1L : 0L) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * Makes tap name, persistent, with NET_HOST_IP/NET_PREFIX, up. bench_parse
 * has checked that the name fits IFNAMSIZ.
 */
static int tap_make(const char *name)
{
	struct ifreq ifr = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	int s, ret;

	if (if_nametoindex(name)) {
		pr_err("bench: --tap %s: exists already; the benchmark makes its own tap "
			"(give another name, or remove it: ip link del %s)", name, name);
		return -EEXIST;
	}
	ret = tap_persist(name, true);
	if (ret) {
		pr_err("bench: cannot make tap %s: %s%s", name, strerror(-ret),
			ret == -EPERM ? " (it needs CAP_NET_ADMIN: run as root)" : "");
		return ret;
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		ret = -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, NET_HOST_IP, &sin->sin_addr);
	if (!ret && ioctl(s, SIOCSIFADDR, &ifr) < 0)
		ret = -errno;
	inet_pton(AF_INET, "255.255.255.0", &sin->sin_addr);
	if (!ret && ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
		ret = -errno;
	if (!ret && ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		ret = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (!ret && ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		ret = -errno;
	if (s >= 0)
		close(s);
	if (ret) {
		pr_err("bench: tap %s: cannot give it %s/%d and bring it up: %s", name,
			NET_HOST_IP, NET_PREFIX, strerror(-ret));
		tap_persist(name, false);
	}
	return ret;
}

struct net_peer {
	unsigned seconds;
	int listen_fd;
	atomic_bool stop;       /* the guest is gone: give up waiting for it */
	pthread_t thread;
	const char *why;        /* what went wrong, for the message */
};

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Waits up to 100 ms for fd; false once the peer is told to stop. */
static bool peer_wait(struct net_peer *np, int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	while (!atomic_load(&np->stop)) {
		int n = poll(&p, 1, 100);

		if (n > 0)
			return true;
		if (n < 0 && errno != EINTR)
			return false;
	}
	return false;
}

/* Reads fd to its end, the data thrown away. */
static bool peer_drain(struct net_peer *np, int fd)
{
	static char buf[1 << 16];

	for (;;) {
		ssize_t n;

		if (!peer_wait(np, fd, POLLIN))
			return false;
		n = read(fd, buf, sizeof(buf));
		if (n == 0)
			return true;
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return false;
	}
}

/* The guest's tcp-send: accept it and take all it sends. */
static bool peer_receive(struct net_peer *np)
{
	int fd;

	if (!peer_wait(np, np->listen_fd, POLLIN)) {
		np->why = "the guest never connected to " NET_HOST_IP ":5201";
		return false;
	}
	fd = accept4(np->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		np->why = "accept failed";
		return false;
	}
	if (!peer_drain(np, fd))
		np->why = "the guest's stream to this host broke off";
	close(fd);
	return np->why == NULL;
}

/* The guest's tcp-recv: connect (it listens once its send is done), send for np->seconds. */
static bool peer_send(struct net_peer *np)
{
	static char buf[128 << 10];
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(NET_TO_GUEST_PORT) };
	double end;
	int fd = -1;

	memset(buf, 0x5a, sizeof(buf));
	inet_pton(AF_INET, NET_GUEST_IP, &to.sin_addr);
	/* Refused until the guest listens: try again, and give up when told to stop. */
	while (!atomic_load(&np->stop)) {
		int err = 0;
		socklen_t len = sizeof(err);

		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			break;
		if (connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0)
			break;
		if (errno == EINPROGRESS && peer_wait(np, fd, POLLOUT) &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
			break;
		close(fd);
		fd = -1;
		usleep(100 * 1000);
	}
	if (fd < 0) {
		np->why = "could not connect to the guest's " NET_GUEST_IP ":5202";
		return false;
	}
	end = now_s() + np->seconds;
	while (now_s() < end) {
		ssize_t n;

		if (!peer_wait(np, fd, POLLOUT))
			break;
		n = write(fd, buf, sizeof(buf));
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			break;
	}
	shutdown(fd, SHUT_WR);
	if (now_s() < end || !peer_drain(np, fd))
		np->why = "the stream to the guest broke off";
	close(fd);
	return np->why == NULL;
}

static void *peer_main(void *arg)
{
	struct net_peer *np = arg;

	if (peer_receive(np))
		peer_send(np);
	return NULL;
}

static int peer_start(struct net_peer *np, unsigned seconds)
{
	struct sockaddr_in at = { .sin_family = AF_INET, .sin_port = htons(NET_TO_HOST_PORT) };
	int one = 1, ret;

	*np = (struct net_peer){ .seconds = seconds };
	inet_pton(AF_INET, NET_HOST_IP, &at.sin_addr);
	np->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (np->listen_fd < 0)
		return -errno;
	setsockopt(np->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(np->listen_fd, (struct sockaddr *)&at, sizeof(at)) < 0 ||
	    listen(np->listen_fd, 1) < 0) {
		ret = -errno;
		pr_err("bench: cannot listen on %s:%d: %s", NET_HOST_IP,
			NET_TO_HOST_PORT, strerror(-ret));
		close(np->listen_fd);
		return ret;
	}
	ret = -pthread_create(&np->thread, NULL, peer_main, np);
	if (ret) {
		close(np->listen_fd);
		return ret;
	}
	return 0;
}

/* After the guest is gone: false with why when the host's side did not finish. */
static bool peer_finish(struct net_peer *np)
{
	atomic_store(&np->stop, true);
	pthread_join(np->thread, NULL);
	close(np->listen_fd);
	return np->why == NULL;
}

/* ---- the runs ---- */

static int io_boot(const char *what, const char *const argv[], unsigned run,
		   const struct bench_opts *o, unsigned want, struct io_run *r)
{
	struct bench_child c = { .what = what, .keep_log = true };
	struct bench_sample s;
	struct net_peer np;
	int ret;

	if (o->kind == BENCH_NET) {
		ret = peer_start(&np, o->seconds);
		if (ret)
			return ret;
	}
	ret = bench_run_child(&c, argv, run, o, &s);
	if (o->kind == BENCH_NET && !peer_finish(&np) && !ret) {
		pr_err("bench: %s, run %u: %s", what, run, np.why);
		ret = -EIO;
	}
	if (!ret)
		ret = io_collect(what, run, c.log, want, r);
	bench_child_free(&c);
	return ret;
}

static double io_median(const struct io_run *runs, unsigned n, unsigned line, bool iops)
{
	double v[BENCH_MAX_RUNS];

	for (unsigned i = 0; i < n; i++)
		v[i] = iops ? runs[i].line[line].iops : runs[i].line[line].mib_s;
	return bench_median_of(v, n);
}

static json_t *io_side_json(const struct io_run *runs, unsigned n)
{
	json_t *side = json_object();

	for (unsigned l = 0; l < runs[0].nr; l++) {
		json_t *line = json_pack("{s:o}", "mib_s",
					 bench_json_num(io_median(runs, n, l, false), 2));

		if (runs[0].line[l].iops >= 0)
			bench_json_set(&line, "iops", bench_json_num(io_median(runs, n, l, true), 1));
		bench_json_set(&side, runs[0].line[l].name, line);
	}
	return side;
}

static int io_print(const struct bench_opts *o, const struct io_run *vmm,
		    const struct io_run *qemu)
{
	json_t *ratio = json_object();
	double worst = -1;

	for (unsigned l = 0; l < vmm[0].nr; l++) {
		double q = io_median(qemu, o->runs, l, false);
		double r = q > 0 ? io_median(vmm, o->runs, l, false) / q : 0;

		bench_json_set(&ratio, vmm[0].line[l].name, bench_json_num(r, 3));
		if (worst < 0 || r < worst)
			worst = r;
	}
	return bench_json_print(json_pack("{s:s, s:I, s:I, s:o, s:o, s:o, s:o, s:o}",
					  "bench", o->kind == BENCH_BLK ? "blk" : "net",
					  "runs", (json_int_t)o->runs, "seconds", (json_int_t)o->seconds,
					  "cpus", bench_json_cpus(o->cpus),
					  "vmm", io_side_json(vmm, o->runs),
					  "qemu", io_side_json(qemu, o->runs),
					  "ratio", ratio, "ratio_min", bench_json_num(worst, 3)));
}

/* Both VMMs report the same lines in the same order, or the comparison is off. */
static int io_same_lines(const struct io_run *a, const struct io_run *b)
{
	if (a->nr != b->nr)
		return -EIO;
	for (unsigned l = 0; l < a->nr; l++)
		if (strcmp(a->line[l].name, b->line[l].name))
			return -EIO;
	return 0;
}

int bench_io_main(const struct bench_opts *o)
{
	static struct io_run vmm[BENCH_MAX_RUNS], qemu[BENCH_MAX_RUNS];
	const char *vmm_argv[BENCH_MAX_ARGS], *qemu_argv[BENCH_MAX_ARGS];
	char cmdline[4096], vmm_dev[4200], qemu_dev[4200], qemu_front[128];
	bool blk = o->kind == BENCH_BLK;
	unsigned nv = 0, nq = 0, want = blk ? 4 : 2;
	int ret = 0;

	/* First on the line, so that the agent's first-match lookup takes these. */
	snprintf(cmdline, sizeof(cmdline), "agent.checks=%s agent.bench_seconds=%u %s",
		 blk ? "bench_blk" : "bench_net", o->seconds, o->cmdline);
	bench_args(vmm_argv, &nv, "/proc/self/exe", "run", "--cpus", o->cpus, "--memory",
		   o->memory, "--kernel", o->kernel, "--initrd", o->initrd, "--cmdline", cmdline,
		   NULL);
	bench_args(qemu_argv, &nq, o->qemu, "-accel", "kvm", "-machine", "q35", "-cpu", "host",
		   "-smp", o->cpus, "-m", o->memory, "-nodefaults", "-nographic", "-no-reboot",
		   "-serial", "stdio", "-kernel", o->kernel, "-initrd", o->initrd, "-append",
		   cmdline, NULL);
	if (blk) {
		/* Both on the host's page cache: QEMU's default, and ours without direct. */
		snprintf(vmm_dev, sizeof(vmm_dev), "path=%s", o->disk);
		snprintf(qemu_dev, sizeof(qemu_dev), "file=%s,format=raw,if=none,id=d0", o->disk);
		snprintf(qemu_front, sizeof(qemu_front), "virtio-blk-pci,drive=d0");
		bench_args(vmm_argv, &nv, "--disk", vmm_dev, NULL);
		bench_args(qemu_argv, &nq, "-drive", qemu_dev, "-device", qemu_front, NULL);
	} else {
		snprintf(vmm_dev, sizeof(vmm_dev), "tap=%s,mac=%s", o->tap, NET_MAC);
		snprintf(qemu_dev, sizeof(qemu_dev), "tap,id=n0,ifname=%s,script=no,downscript=no",
			 o->tap);
		/* No PXE option ROM: the kernel is booted directly, as under the vmm. */
		snprintf(qemu_front, sizeof(qemu_front), "virtio-net-pci,netdev=n0,mac=%s,romfile=",
			 NET_MAC);
		bench_args(vmm_argv, &nv, "--net", vmm_dev, NULL);
		bench_args(qemu_argv, &nq, "-netdev", qemu_dev, "-device", qemu_front, NULL);
		ret = tap_make(o->tap);
		if (ret)
			return 1;
	}
	/* In turn, the first of each pair swapping: see bench_qemu_first(). */
	for (unsigned i = 0; i < o->runs && !ret; i++) {
		for (unsigned k = 0; k < 2 && !ret; k++) {
			bool q = k ^ bench_qemu_first(i);

			ret = io_boot(q ? "qemu" : "vmm", q ? qemu_argv : vmm_argv, i + 1, o, want,
				      q ? &qemu[i] : &vmm[i]);
		}
		if (!ret && (io_same_lines(&vmm[i], &vmm[0]) || io_same_lines(&qemu[i], &vmm[0]))) {
			pr_err("bench: run %u: the two guests reported different "
				"measurements", i + 1);
			ret = -EIO;
		}
	}
	if (!blk && tap_persist(o->tap, false))
		pr_err("bench: could not remove tap %s (ip link del %s)", o->tap, o->tap);
	if (ret || io_print(o, vmm, qemu))
		return 1;
	return 0;
}
