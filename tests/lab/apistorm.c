// SPDX-License-Identifier: MIT
/*
 * apistorm SOCKET N: sends N malformed requests to a vmm's API socket, each
 * on its own connection, and counts the answers. The lab host runs it
 * against a running guest (reboot scenario): the guest must not notice.
 *
 * The requests are made from a fixed seed, so a run can be repeated: a
 * harmless request (GET vm.info, GET vmm.ping, PUT vm.create while a VM
 * runs) broken in one of several ways: bytes flipped, cut short, a head or
 * body too large, lengths that lie, methods, versions and paths that are
 * not HTTP, NULs and control bytes, pipelines with garbage between, or
 * just random bytes. None can be a valid request that changes the VM.
 *
 * Prints one line: "sent=N answered=A closed=C 2xx=.. 4xx=.. 5xx=.. other=..",
 * where answered counts HTTP status lines and closed connections the vmm
 * ended without one. Exit 0 when every request was sent, 1 otherwise.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static uint64_t seed = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return (uint32_t)(seed >> 16);
}

static const char *const base[] = {
	"GET /api/v1/vm.info HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n",
	"GET /api/v1/vmm.ping HTTP/1.1\r\nHost: localhost\r\n\r\n",
	("PUT /api/v1/vm.create HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
	 "Content-Length: 40\r\n\r\n{\"payload\": {\"kernel\": \"/nonexistent\"}}"),
};

/* One broken request into buf; its length. */
static size_t make(char *buf, size_t cap)
{
	const char *b = base[rnd() % 3];
	size_t n = strlen(b), i;

	switch (rnd() % 10) {
	case 0: /* bytes flipped */
		memcpy(buf, b, n);
		for (unsigned k = 1 + rnd() % 4; k--;)
			buf[rnd() % n] ^= (char)(1 + rnd() % 255);
		return n;
	case 1: /* cut short: the vmm sees EOF mid-request */
		memcpy(buf, b, n);
		return 1 + rnd() % (n - 1);
	case 2: /* a head too large */
		n = (size_t)snprintf(buf, cap, "GET /api/v1/vm.info HTTP/1.1\r\nX-Pad: ");
		for (i = 0; i < 9000 && n < cap - 8; i++)
			buf[n++] = 'a';
		memcpy(buf + n, "\r\n\r\n", 4);
		return n + 4;
	case 3: /* a length that lies, or is not a number */
		return (size_t)snprintf(buf, cap, "PUT /api/v1/vm.create HTTP/1.1\r\nContent-Length: "
					"%s\r\n\r\n{}", (const char *[]){ "-1", "99999999999999999999",
					"0x10", "2, 3", "", "4000000" }[rnd() % 6]);
	case 4: /* not HTTP/1.1 */
		return (size_t)snprintf(buf, cap, "%s /api/v1/vm.info %s\r\n\r\n",
					(const char *[]){ "GET", "BREW", "get", "", "G\tET" }[rnd() % 5],
					(const char *[]){ "HTTP/2.0", "HTTP/1.1x", "", "http/1.1" }[rnd() % 4]);
	case 5: /* paths that are not ours */
		return (size_t)snprintf(buf, cap, "GET %s HTTP/1.1\r\n\r\n",
					(const char *[]){ "/api/v1/../../etc/passwd", "/api/v1/vm.info%00",
					"*", "/api/v1/", "/api/v1/vm.info?x=1#y", "http://x/api/v1/vm.info",
					"/api/v2/vm.info" }[rnd() % 7]);
	case 6: /* NULs and control bytes in the head */
		memcpy(buf, b, n);
		buf[rnd() % n] = (char)(rnd() % 32);
		buf[rnd() % n] = '\0';
		return n;
	case 7: /* a pipeline with garbage between */
		n = (size_t)snprintf(buf, cap, "%s\x01\x02garbage\r\n\r\n%s", base[1], base[0]);
		return n;
	case 8: { /* a body that is not JSON, to an endpoint that refuses it anyway */
		static const char bad[] = "PUT /api/v1/vm.create HTTP/1.1\r\nContent-Length: 7"
					  "\r\n\r\n{\"\xff\x00[[]";

		memcpy(buf, bad, sizeof(bad) - 1);
		return sizeof(bad) - 1;
	}
	default: /* random bytes */
		n = 1 + rnd() % 512;
		for (i = 0; i < n; i++)
			buf[i] = (char)rnd();
		return n;
	}
}

int main(int argc, char **argv)
{
	static char req[16384], reply[65536];
	unsigned long n = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000, sent = 0, answered = 0,
		      closed = 0, cls[4] = { 0 };
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	if (argc < 2 || strlen(argv[1]) >= sizeof(a.sun_path)) {
		fprintf(stderr, "usage: apistorm SOCKET [N]\n");
		return 2;
	}
	strcpy(a.sun_path, argv[1]);
	for (unsigned long r = 0; r < n; r++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		size_t len = make(req, sizeof(req)), got = 0;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t k;

		if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			perror("apistorm: connect");
			break;
		}
		if (send(fd, req, len, MSG_NOSIGNAL) == (ssize_t)len)
			sent++;
		shutdown(fd, SHUT_WR); /* nothing more is coming: the vmm sees EOF */
		while (got < sizeof(reply) - 1 && poll(&p, 1, 5000) == 1 &&
		       (k = recv(fd, reply + got, sizeof(reply) - 1 - got, 0)) > 0)
			got += (size_t)k;
		reply[got] = '\0';
		if (!strncmp(reply, "HTTP/1.1 ", 9) && reply[9] >= '2' && reply[9] <= '5') {
			answered++;
			cls[reply[9] == '2' ? 0 : reply[9] == '4' ? 1 : reply[9] == '5' ? 2 : 3]++;
		} else {
			closed++;
		}
		close(fd);
	}
	printf("sent=%lu answered=%lu closed=%lu 2xx=%lu 4xx=%lu 5xx=%lu other=%lu\n", sent,
	       answered, closed, cls[0], cls[1], cls[2], cls[3]);
	return sent == n ? 0 : 1;
}
