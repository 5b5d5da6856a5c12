// SPDX-License-Identifier: MIT
/*
 * iotest: the guest side of the lab's benchmark of this vmm's virtio-blk and
 * virtio-net next to QEMU's. Busybox guests have no fio or iperf, so this is
 * one static binary (glibc and pthreads) printing one JSON object per line.
 * It also reads device memory (physread, which busybox's dd cannot do
 * through /dev/mem) and CPUID leaves (cpuid) for the lab's checks.
 *
 * blk does O_DIRECT, synchronous pread/pwrite from N threads: the device sees
 * exactly N requests in flight and the guest page cache answers none. Random
 * offsets come from fixed per-job seeds, so every run, under either VMM,
 * asks for the same blocks in the same order.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_JOBS 64
#define MAX_BS (64u << 20)
#define NET_CHUNK (128u << 10)
#define CONNECT_WAIT_S 30.0

static const char usage_text[] =
"usage: iotest blk DEVICE MODE BS [--seconds S] [--size BYTES] [--jobs N]\n"
"       iotest tcp-recv PORT [--once]\n"
"       iotest tcp-send HOST PORT [--seconds S] [--bytes N]\n"
"       iotest physread ADDR LEN\n"
"       iotest cpuid LEAF\n"
"\n"
"blk: O_DIRECT I/O on DEVICE (block device or regular file) for S seconds\n"
"  (default 10, fractions allowed); writes fsync once after the timing.\n"
"  MODE     seq-read, seq-write, rand-read or rand-write\n"
"  BS       bytes per request, a multiple of 512 up to 64M: 4096, 4K, 1M\n"
"  --size   the region used, from offset 0 (default: all of DEVICE)\n"
"  --jobs   threads, one request in flight each (default 1 for seq, 4 for\n"
"           rand; at most 64). seq: each job loops over its own slice of the\n"
"           region; rand: BS-aligned offsets, the same on every run.\n"
"  prints {\"test\":\"blk\",\"mode\",\"bs\",\"jobs\",\"seconds\",\"ops\",\"bytes\",\n"
"  \"mib_s\",\"iops\"}\n"
"tcp-recv: listen on 0.0.0.0:PORT, read one connection to EOF, print\n"
"  {\"test\":\"tcp-recv\",\"bytes\",\"seconds\",\"mib_s\",\"mbit_s\"} timed from accept\n"
"  to EOF. --once is accepted; one connection is all it ever takes.\n"
"tcp-send: connect to HOST:PORT (IPv4; a refused connect is retried for 30 s),\n"
"  write 128K chunks for S seconds (default 10) or N bytes (--bytes alone: no\n"
"  time limit), shut down, wait for the peer's close; the same JSON, timed\n"
"  from connect to close.\n"
"physread: LEN bytes of guest-physical memory from ADDR (0x... allowed)\n"
"  to stdout, through an uncached /dev/mem mapping in 4-byte reads: a\n"
"  device's MMIO (a ROM BAR, say) as a driver would read it.\n"
"cpuid: CPUID(LEAF, 0) as \"EAX EBX ECX EDX SIG\", in hex, SIG being the\n"
"  printable characters of EBX, ECX and EDX (a hypervisor's vendor).\n"
"\n"
"Sizes take K, M or G (powers of 1024). Errors: one line on stderr, exit 1.\n";

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("iotest: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double rate(double amount, double secs)
{
	return secs > 0 ? amount / secs : 0;
}

/* Not all zeroes, and not one repeated byte, in case a backend looks. */
static void fill_pattern(unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(i % 251 + 1);
}

static uint64_t parse_size(const char *cmd, const char *what, const char *s)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (*s < '0' || *s > '9' || errno || *end || !v || v > (UINT64_MAX >> shift))
		die("%s: %s '%s': not a size (e.g. 4096, 64K, 1M, 2G)", cmd, what, s);
	return (uint64_t)v << shift;
}

static long parse_num(const char *cmd, const char *what, const char *s,
		      long min, long max)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || *end || end == s || n < min || n > max)
		die("%s: %s '%s': not a number from %ld to %ld", cmd, what, s,
		    min, max);
	return n;
}

static double parse_seconds(const char *cmd, const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || end == s || !isfinite(v) || v <= 0 || v > 1e6)
		die("%s: --seconds '%s': not a positive number of seconds", cmd, s);
	return v;
}

enum { OPT_SECONDS = 1, OPT_SIZE = 2, OPT_JOBS = 4, OPT_BYTES = 8, OPT_ONCE = 16 };

/* Zero for an option means "not given": none of them may be zero. */
struct opts {
	double seconds;
	uint64_t size;
	uint64_t bytes;
	int jobs;
	const char *pos[3];     /* positional arguments, in order */
	int npos;
};

static const char *need(const char *cmd, const char *opt, const char *val)
{
	if (!val)
		die("%s: %s needs a value", cmd, opt);
	return val;
}

/* Options and positionals may come in any order. */
static void parse_args(const char *cmd, int argc, char **argv, int allowed,
		       int npos, struct opts *o)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strncmp(a, "--", 2)) {
			if (o->npos == npos)
				die("%s: unexpected argument '%s' (iotest --help)", cmd, a);
			o->pos[o->npos++] = a;
			continue;
		}
		if (!strcmp(a, "--once") && (allowed & OPT_ONCE))
			continue;
		if (!strcmp(a, "--seconds") && (allowed & OPT_SECONDS))
			o->seconds = parse_seconds(cmd, need(cmd, a, v));
		else if (!strcmp(a, "--size") && (allowed & OPT_SIZE))
			o->size = parse_size(cmd, a, need(cmd, a, v));
		else if (!strcmp(a, "--bytes") && (allowed & OPT_BYTES))
			o->bytes = parse_size(cmd, a, need(cmd, a, v));
		else if (!strcmp(a, "--jobs") && (allowed & OPT_JOBS))
			o->jobs = (int)parse_num(cmd, a, need(cmd, a, v), 1, MAX_JOBS);
		else
			die("%s: unknown option '%s' (iotest --help)", cmd, a);
		i++;
	}
	if (o->npos < npos)
		die("%s: missing arguments (iotest --help)", cmd);
}

static const char *const blk_modes[] = {
	"seq-read", "seq-write", "rand-read", "rand-write",
};

struct blk_test {
	const char *path;
	int fd;
	bool write, random;
	uint64_t bs;
	uint64_t nblocks;       /* whole BS blocks in the region */
	atomic_bool stop;
};

struct blk_job {
	struct blk_test *t;
	pthread_t thread;
	void *buf;
	uint64_t base, len;     /* seq: this job's slice, in bytes */
	uint64_t rng;           /* rand: xorshift64 state, never 0 */
	uint64_t ops;
	int err;                /* 0, errno, or -1 for a short transfer */
	ssize_t got;
	uint64_t err_off;
};

static uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static void *blk_job_run(void *arg)
{
	struct blk_job *j = arg;
	struct blk_test *t = j->t;
	uint64_t pos = 0, off;
	ssize_t n;

	while (!atomic_load_explicit(&t->stop, memory_order_relaxed)) {
		if (t->random) {
			off = xorshift64(&j->rng) % t->nblocks * t->bs;
		} else {
			off = j->base + pos;
			pos = pos + t->bs < j->len ? pos + t->bs : 0;
		}
		if (t->write)
			n = pwrite(t->fd, j->buf, t->bs, (off_t)off);
		else
			n = pread(t->fd, j->buf, t->bs, (off_t)off);
		if (n == (ssize_t)t->bs) {
			j->ops++;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		j->err = n < 0 ? errno : -1;
		j->got = n;
		j->err_off = off;
		atomic_store(&t->stop, true);
	}
	return NULL;
}

/* Checks the type before open: O_DIRECT on anything else fails obscurely. */
static int blk_open(const char *path, bool write, uint64_t *size)
{
	struct stat st;
	int fd;

	if (stat(path, &st))
		die("%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		die("%s: not a block device or regular file", path);
	fd = open(path, (write ? O_RDWR : O_RDONLY) | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		die("%s: open: %s%s", path, strerror(errno),
		    errno == EINVAL ? " (no O_DIRECT on this filesystem?)" : "");
	*size = (uint64_t)st.st_size;
	if (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, size))
		die("%s: BLKGETSIZE64: %s", path, strerror(errno));
	return fd;
}

/* Sleeps in short steps so that a job's I/O error ends the run early. */
static void blk_wait(struct blk_test *t, double deadline)
{
	double left;

	while ((left = deadline - now()) > 0 && !atomic_load(&t->stop)) {
		struct timespec ts = { 0, (long)((left < 0.05 ? left : 0.05) * 1e9) };

		nanosleep(&ts, NULL);
	}
	atomic_store(&t->stop, true);
}

/* Runs the jobs for the given time; returns the seconds they took. */
static double blk_run(struct blk_test *t, struct blk_job *jobs, int njobs,
		      double seconds)
{
	double t0 = now();
	int err;

	for (int i = 0; i < njobs; i++) {
		err = pthread_create(&jobs[i].thread, NULL, blk_job_run, &jobs[i]);
		if (err)
			die("blk: starting job %d: %s", i, strerror(err));
	}
	blk_wait(t, t0 + seconds);
	for (int i = 0; i < njobs; i++)
		pthread_join(jobs[i].thread, NULL);
	return now() - t0;
}

static int cmd_blk(int argc, char **argv)
{
	static struct blk_job jobs[MAX_JOBS];
	struct blk_test t = { 0 };
	struct opts o = { 0 };
	uint64_t dev_size, region, slice, ops = 0;
	double secs;
	int mode, err;

	parse_args("blk", argc, argv, OPT_SECONDS | OPT_SIZE | OPT_JOBS, 3, &o);
	t.path = o.pos[0];
	for (mode = 0; mode < 4 && strcmp(o.pos[1], blk_modes[mode]); mode++)
		;
	if (mode == 4)
		die("blk: unknown mode '%s' (seq-read, seq-write, rand-read, rand-write)",
		    o.pos[1]);
	t.random = mode >= 2;
	t.write = mode & 1;
	t.bs = parse_size("blk", "BS", o.pos[2]);
	if (t.bs % 512 || t.bs > MAX_BS)
		die("blk: BS '%s': not a multiple of 512 up to 64M", o.pos[2]);
	o.jobs = o.jobs ? o.jobs : t.random ? 4 : 1;
	o.seconds = o.seconds ? o.seconds : 10;

	t.fd = blk_open(t.path, t.write, &dev_size);
	region = o.size ? o.size : dev_size;
	if (region > dev_size)
		die("%s: --size %" PRIu64 " is more than its size, %" PRIu64,
		    t.path, region, dev_size);
	if (region < t.bs)
		die("%s: region of %" PRIu64 " bytes is smaller than BS (%" PRIu64 ")",
		    t.path, region, t.bs);
	t.nblocks = region / t.bs;
	if (!t.random && t.nblocks < (uint64_t)o.jobs)
		die("%s: %" PRIu64 " blocks of BS are too few for %d jobs",
		    t.path, t.nblocks, o.jobs);
	slice = t.nblocks / (uint64_t)o.jobs * t.bs;
	for (int i = 0; i < o.jobs; i++) {
		jobs[i].t = &t;
		jobs[i].base = (uint64_t)i * slice;
		jobs[i].len = slice;
		jobs[i].rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		err = posix_memalign(&jobs[i].buf, 4096, t.bs);
		if (err)
			die("blk: buffer of %" PRIu64 " bytes: %s", t.bs, strerror(err));
		fill_pattern(jobs[i].buf, t.bs);
	}

	secs = blk_run(&t, jobs, o.jobs, o.seconds);
	for (int i = 0; i < o.jobs; i++) {
		const struct blk_job *j = &jobs[i];
		const char *op = t.write ? "write" : "read";

		if (j->err > 0)
			die("%s: %s at offset %" PRIu64 ": %s", t.path, op,
			    j->err_off, strerror(j->err));
		if (j->err < 0)
			die("%s: short %s at offset %" PRIu64 ": %zd of %" PRIu64 " bytes",
			    t.path, op, j->err_off, j->got, t.bs);
		ops += j->ops;
		free(j->buf);
	}
	/* Outside the timing: the figures are for the requests themselves. */
	if (t.write && fsync(t.fd))
		die("%s: fsync: %s", t.path, strerror(errno));
	close(t.fd);

	printf("{\"test\":\"blk\",\"mode\":\"%s\",\"bs\":%" PRIu64 ",\"jobs\":%d,"
	       "\"seconds\":%.6f,\"ops\":%" PRIu64 ",\"bytes\":%" PRIu64 ","
	       "\"mib_s\":%.2f,\"iops\":%.1f}\n",
	       blk_modes[mode], t.bs, o.jobs, secs, ops, ops * t.bs,
	       rate((double)(ops * t.bs), secs) / (1 << 20), rate((double)ops, secs));
	return 0;
}

/* Reads fd to EOF and throws the data away; returns the byte count. */
static uint64_t drain(const char *what, int fd)
{
	static char buf[256 << 10];
	uint64_t total = 0;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno != EINTR)
			die("%s: read: %s", what, strerror(errno));
		total += n > 0 ? (uint64_t)n : 0;
	}
	return total;
}

static void print_net(const char *test, uint64_t bytes, double secs)
{
	printf("{\"test\":\"%s\",\"bytes\":%" PRIu64 ",\"seconds\":%.6f,"
	       "\"mib_s\":%.2f,\"mbit_s\":%.2f}\n", test, bytes, secs,
	       rate((double)bytes, secs) / (1 << 20),
	       rate((double)bytes * 8, secs) / 1e6);
}

static int cmd_tcp_recv(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct opts o = { 0 };
	int one = 1, lfd, fd;
	uint64_t bytes;
	char what[64];
	double t0;

	parse_args("tcp-recv", argc, argv, OPT_ONCE, 1, &o);
	sa.sin_port = htons((uint16_t)parse_num("tcp-recv", "PORT", o.pos[0], 1, 65535));
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	snprintf(what, sizeof(what), "tcp-recv: 0.0.0.0:%s", o.pos[0]);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("%s: socket: %s", what, strerror(errno));
	if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		die("%s: SO_REUSEADDR: %s", what, strerror(errno));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1))
		die("%s: bind/listen: %s", what, strerror(errno));
	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
		if (errno != EINTR)
			die("%s: accept: %s", what, strerror(errno));
	close(lfd);
	t0 = now();
	bytes = drain(what, fd);
	print_net("tcp-recv", bytes, now() - t0);
	close(fd);
	return 0;
}

/* The receiver may start after us, so a refused connect is retried. */
static int tcp_connect(const char *what, const char *host, const char *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	const struct timespec step = { 0, 100 * 1000 * 1000 };
	double give_up = now() + CONNECT_WAIT_S;
	int fd;

	sa.sin_port = htons((uint16_t)parse_num("tcp-send", "PORT", port, 1, 65535));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		die("tcp-send: HOST '%s': not an IPv4 address", host);
	for (;;) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die("%s: socket: %s", what, strerror(errno));
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return fd;
		if (errno != ECONNREFUSED || now() >= give_up)
			die("%s: connect: %s", what, strerror(errno));
		close(fd);
		nanosleep(&step, NULL);
	}
}

static int cmd_tcp_send(int argc, char **argv)
{
	static unsigned char buf[NET_CHUNK];
	struct opts o = { 0 };
	uint64_t sent = 0;
	double t0, end;
	char what[96];
	int fd;

	parse_args("tcp-send", argc, argv, OPT_SECONDS | OPT_BYTES, 2, &o);
	/* --bytes alone is a byte count with no time limit. */
	if (!o.seconds && !o.bytes)
		o.seconds = 10;
	snprintf(what, sizeof(what), "tcp-send: %s:%s", o.pos[0], o.pos[1]);
	fill_pattern(buf, sizeof(buf));
	fd = tcp_connect(what, o.pos[0], o.pos[1]);
	t0 = now();
	end = t0 + o.seconds;
	while ((!o.bytes || sent < o.bytes) && (!o.seconds || now() < end)) {
		size_t len = sizeof(buf);
		ssize_t n;

		if (o.bytes && o.bytes - sent < len)
			len = (size_t)(o.bytes - sent);
		n = write(fd, buf, len);
		if (n < 0 && errno != EINTR)
			die("%s: write: %s", what, strerror(errno));
		sent += n > 0 ? (uint64_t)n : 0;
	}
	if (shutdown(fd, SHUT_WR))
		die("%s: shutdown: %s", what, strerror(errno));
	drain(what, fd);
	print_net("tcp-send", sent, now() - t0);
	close(fd);
	return 0;
}

static int cmd_physread(int argc, char **argv)
{
	unsigned long long addr, len, page = (unsigned long long)sysconf(_SC_PAGESIZE), base, span;
	volatile uint32_t *map;
	uint32_t word;
	int fd;

	if (argc != 2)
		die("physread takes ADDR LEN (iotest --help)");
	addr = strtoull(argv[0], NULL, 0);
	len = strtoull(argv[1], NULL, 0);
	if (addr % 4 || len % 4 || !len)
		die("physread: ADDR and LEN must be multiples of 4, LEN not 0");
	base = addr & ~(page - 1);
	span = addr + len - base;
	fd = open("/dev/mem", O_RDONLY | O_SYNC | O_CLOEXEC);
	if (fd < 0)
		die("physread: /dev/mem: %s", strerror(errno));
	map = mmap(NULL, span, PROT_READ, MAP_SHARED, fd, (off_t)base);
	if (map == MAP_FAILED)
		die("physread: mmap of 0x%llx+0x%llx: %s", base, span, strerror(errno));
	for (unsigned long long off = addr - base; off < span; off += 4) {
		word = map[off / 4];
		if (fwrite(&word, 4, 1, stdout) != 1)
			die("physread: stdout: %s", strerror(errno));
	}
	munmap((void *)map, span);
	close(fd);
	return fflush(stdout) ? 1 : 0;
}

static int cmd_cpuid(int argc, char **argv)
{
	uint32_t r[4], leaf;
	char sig[13] = { 0 }, *p = sig;

	if (argc != 1)
		die("cpuid takes LEAF (iotest --help)");
	leaf = (uint32_t)strtoul(argv[0], NULL, 0);
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(leaf), "c"(0));
	for (int i = 1; i < 4; i++)
		for (int b = 0; b < 4; b++) {
			char c = (char)(r[i] >> (8 * b));

			if (c > 0x20 && c < 0x7f)
				*p++ = c;
		}
	printf("0x%08x 0x%08x 0x%08x 0x%08x %s\n", r[0], r[1], r[2], r[3], sig[0] ? sig : "-");
	return 0;
}

int main(int argc, char **argv)
{
	/* A peer that goes away must give an error line, not a silent SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage_text, stdout);
			return 0;
		}
	}
	if (argc < 2)
		die("no command: blk, tcp-recv, tcp-send, physread or cpuid (iotest --help)");
	if (!strcmp(argv[1], "blk"))
		return cmd_blk(argc - 2, argv + 2);
	if (!strcmp(argv[1], "tcp-recv"))
		return cmd_tcp_recv(argc - 2, argv + 2);
	if (!strcmp(argv[1], "tcp-send"))
		return cmd_tcp_send(argc - 2, argv + 2);
	if (!strcmp(argv[1], "physread"))
		return cmd_physread(argc - 2, argv + 2);
	if (!strcmp(argv[1], "cpuid"))
		return cmd_cpuid(argc - 2, argv + 2);
	die("unknown command '%s': blk, tcp-recv, tcp-send, physread or cpuid (iotest --help)", argv[1]);
}
