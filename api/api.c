// SPDX-License-Identifier: MIT
/*
 * The API socket's transport (api.h): a listener and at most
 * API_MAX_CLIENTS clients, each with an input buffer that http.h parses
 * and an output buffer that drains as the socket takes it. Non-blocking
 * throughout: a client that sends or reads slowly costs only its buffers.
 */
#include "api.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api/http.h"
#include "core/log.h"

struct api_client {
	int fd;                /* -1: a free entry */
	char *in;              /* what came and is not yet a whole request */
	size_t in_len, in_cap;
	char *out;             /* what is still to be written */
	size_t out_len, out_off;
	bool sent_continue;    /* "100 Continue" went out for the request in progress */
	bool closing;          /* close once out is written */
	char refused[160];     /* a peer not served: its first request is answered 403 with this */
	uint64_t last_ms;      /* the last byte in or out */
	/*
	 * File descriptors that came (SCM_RIGHTS) with bytes still in in, and
	 * where in in the last byte of the read that brought them lies. The
	 * kernel ends a read with the message that carries descriptors (it may
	 * put messages without any before it), so that byte is of the sender's
	 * message: the request that holds it is the one they came with, and
	 * pipelined requests keep theirs apart.
	 */
	int fds[API_MAX_FDS];
	size_t fd_at[API_MAX_FDS];
	unsigned nr_fds;
	char fd_refused[160];  /* too many, or cut short: the next request is answered 400 with this */
};

/*
 * Room for all the descriptors one message can carry (the kernel's
 * SCM_MAX_FD), so that too many is told as such and not as control data
 * cut short.
 */
#define API_RECV_FDS 253

struct api {
	int listen_fd;
	bool own_path;         /* made from a path: unlinked on close */
	bool own_fd;           /* made here: closed on close (fd=N stays the supervisor's) */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct api_client client[API_MAX_CLIENTS];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 4, 5)))
static int fail(char *why, size_t len, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -err;
}

/* A socket file at path that nobody listens on any more: a vmm died and left it. */
static bool stale_socket(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool stale;

	if (fd < 0)
		return false;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	stale = connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno == ECONNREFUSED;
	close(fd);
	return stale;
}

static int open_path(struct api *api, const char *path, char *why, size_t len)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd, ret;

	if (strlen(path) >= sizeof(a.sun_path))
		return fail(why, len, ENAMETOOLONG, "--api-socket %s: longer than a UNIX socket path "
			    "may be (%zu bytes)", path, sizeof(a.sun_path) - 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return fail(why, len, EEXIST, "--api-socket %s: exists and is not a socket: "
				    "remove it or name another path", path);
		if (!stale_socket(path))
			return fail(why, len, EADDRINUSE, "--api-socket %s: another process (a vmm "
				    "still running?) listens on it", path);
		unlink(path);
	}
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fail(why, len, errno, "--api-socket %s: socket: %s", path, strerror(errno));
	/* Made 0600 from the start: no moment where another user could connect. */
	old = umask(0177);
	ret = bind(fd, (struct sockaddr *)&a, sizeof(a));
	umask(old);
	if (ret < 0 || listen(fd, API_MAX_CLIENTS) < 0) {
		ret = errno;
		close(fd);
		return fail(why, len, ret, "--api-socket %s: %s", path, strerror(ret));
	}
	api->listen_fd = fd;
	api->own_path = api->own_fd = true;
	strcpy(api->path, path);
	return 0;
}

static int open_fd(struct api *api, const char *spec, char *why, size_t len)
{
	int type = 0, domain = 0, listening = 0, fd;
	socklen_t l = sizeof(type);
	char *end;
	long v;

	errno = 0;
	v = strtol(spec, &end, 10);
	if (!*spec || *end || errno || v < 0 || v > INT32_MAX)
		return fail(why, len, EINVAL, "--api-socket fd=%s: not a file descriptor number", spec);
	fd = (int)v;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0)
		return fail(why, len, errno, "--api-socket fd=%d: %s", fd, errno == EBADF ?
			    "not open in this process" : strerror(errno));
	l = sizeof(domain);
	if (type != SOCK_STREAM || getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l) < 0 ||
	    domain != AF_UNIX)
		return fail(why, len, ENOTSOCK, "--api-socket fd=%d: not a UNIX stream socket", fd);
	l = sizeof(listening);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l) < 0 || !listening)
		return fail(why, len, EINVAL, "--api-socket fd=%d: not listening (the supervisor "
			    "must bind and listen before it passes the socket)", fd);
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return fail(why, len, errno, "--api-socket fd=%d: %s", fd, strerror(errno));
	api->listen_fd = fd;
	snprintf(api->path, sizeof(api->path), "fd=%d", fd);
	return 0;
}

int api_open(struct api **out, const char *spec, char *why, size_t len)
{
	struct api *api = calloc(1, sizeof(*api));
	int ret;

	*out = NULL;
	if (!api)
		return fail(why, len, ENOMEM, "--api-socket %s: out of memory", spec);
	api->listen_fd = -1;
	for (unsigned i = 0; i < API_MAX_CLIENTS; i++)
		api->client[i].fd = -1;
	ret = !strncmp(spec, "fd=", 3) ? open_fd(api, spec + 3, why, len) :
	      open_path(api, spec, why, len);
	if (ret) {
		free(api);
		return ret;
	}
	*out = api;
	return 0;
}

const char *api_path(const struct api *api)
{
	return api->path;
}

/* Closes every descriptor the client passed that no handler took. */
static void client_close_fds(struct api_client *c)
{
	for (unsigned i = 0; i < c->nr_fds; i++)
		close(c->fds[i]);
	c->nr_fds = 0;
}

static void client_close(struct api_client *c)
{
	client_close_fds(c);
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	free(c->out);
	*c = (struct api_client){ .fd = -1 };
}

void api_close(struct api *api)
{
	if (!api)
		return;
	for (unsigned i = 0; i < API_MAX_CLIENTS; i++)
		client_close(&api->client[i]);
	if (api->own_fd && api->listen_fd >= 0)
		close(api->listen_fd);
	if (api->own_path)
		unlink(api->path);
	free(api);
}

unsigned api_pollfds(const struct api *api, struct pollfd *p, unsigned max)
{
	unsigned n = 0;

	if (!api || !max)
		return 0;
	p[n++] = (struct pollfd){ .fd = api->listen_fd, .events = POLLIN };
	for (unsigned i = 0; i < API_MAX_CLIENTS && n < max; i++) {
		const struct api_client *c = &api->client[i];

		if (c->fd < 0)
			continue;
		p[n++] = (struct pollfd){ .fd = c->fd,
					  .events = c->out_len > c->out_off ? POLLOUT :
						    c->closing ? 0 : POLLIN };
	}
	return n;
}

int api_timeout_ms(const struct api *api)
{
	uint64_t now = now_ms();
	int64_t soonest = -1;

	for (unsigned i = 0; api && i < API_MAX_CLIENTS; i++) {
		const struct api_client *c = &api->client[i];
		int64_t left;

		if (c->fd < 0)
			continue;
		left = (int64_t)(c->last_ms + API_IDLE_MS) - (int64_t)now;
		left = left < 0 ? 0 : left;
		if (soonest < 0 || left < soonest)
			soonest = left;
	}
	return (int)soonest;
}

/* Queues bytes to write; false when out of memory (the client is then dropped). */
static bool client_queue(struct api_client *c, const char *data, size_t n)
{
	char *grown;

	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	grown = realloc(c->out, c->out_len + n);
	if (!grown)
		return false;
	c->out = grown;
	memcpy(c->out + c->out_len, data, n);
	c->out_len += n;
	return true;
}

static void client_flush(struct api_client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			client_close(c);
			return;
		}
		c->out_off += (size_t)n;
		c->last_ms = now_ms();
	}
	if (c->closing)
		client_close(c);
}

void api_reply_error(struct api_reply *reply, int status, const char *fmt, ...)
{
	char msg[512];
	json_t *o;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply->status = status;
	free(reply->body);
	o = json_pack("{ss}", "error", msg);
	reply->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
}

static void client_reply(struct api_client *c, struct api_reply *r, bool keep_alive)
{
	char head[256];
	size_t body_len = r->body ? strlen(r->body) : 0;
	int n = http_format_head(head, sizeof(head), r->status, body_len, keep_alive);

	if (n < 0 || !client_queue(c, head, (size_t)n) ||
	    (body_len && !client_queue(c, r->body, body_len)))
		c->closing = true;
	if (!keep_alive)
		c->closing = true;
	free(r->body);
	r->body = NULL;
}

/* The descriptors that came with the request in in[0..used): moved from c to fds. */
static unsigned request_fds(struct api_client *c, size_t used, int fds[API_MAX_FDS])
{
	unsigned n = 0, kept = 0;

	for (unsigned i = 0; i < c->nr_fds; i++) {
		if (c->fd_at[i] < used) {
			fds[n++] = c->fds[i];
			continue;
		}
		c->fds[kept] = c->fds[i];
		c->fd_at[kept++] = c->fd_at[i] - used;
	}
	c->nr_fds = kept;
	return n;
}

/* Runs the handler on req with its descriptors, then closes those it did not take. */
static void request_handle(struct api_client *c, struct http_request *req, size_t used,
			   api_handler_fn *fn, void *opaque, struct api_reply *reply)
{
	int fds[API_MAX_FDS];

	req->fds = fds;
	req->nr_fds = request_fds(c, used, fds);
	fn(opaque, req, reply);
	for (unsigned i = 0; i < req->nr_fds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Answers every whole request in c's input; a malformed one closes the client after its answer. */
static void client_requests(struct api_client *c, api_handler_fn *fn, void *opaque)
{
	while (c->in_len && !c->closing) {
		struct http_request req;
		struct api_reply reply = { 0 };
		char why[256] = "";
		int used = http_parse_request(c->in, c->in_len, &req, why, sizeof(why));

		if (used == 0) {
			if (req.expect_continue && !c->sent_continue) {
				static const char go[] = "HTTP/1.1 100 Continue\r\n\r\n";

				c->sent_continue = client_queue(c, go, sizeof(go) - 1);
			}
			return;
		}
		if (used < 0) {
			/* After a malformed request nothing else on the stream can be trusted. */
			api_reply_error(&reply, -used, "%s", why);
			client_reply(c, &reply, false);
			return;
		}
		if (c->refused[0]) {
			/* Answered once its request is in, so that the client reads the answer. */
			api_reply_error(&reply, 403, "%s", c->refused);
			client_reply(c, &reply, false);
			return;
		}
		if (c->fd_refused[0]) {
			/* Which request the lost descriptors were for is unknowable: none goes on. */
			api_reply_error(&reply, 400, "%s", c->fd_refused);
			client_reply(c, &reply, false);
			return;
		}
		request_handle(c, &req, (size_t)used, fn, opaque, &reply);
		client_reply(c, &reply, req.keep_alive);
		memmove(c->in, c->in + used, c->in_len - (size_t)used);
		c->in_len -= (size_t)used;
		c->sent_continue = false;
	}
}

/* From now on no descriptor is kept: those pending are closed, and why answers the next request. */
__attribute__((format(printf, 2, 3)))
static void fds_refuse(struct api_client *c, const char *fmt, ...)
{
	va_list ap;

	client_close_fds(c);
	if (c->fd_refused[0])
		return;
	va_start(ap, fmt);
	vsnprintf(c->fd_refused, sizeof(c->fd_refused), fmt, ap);
	va_end(ap);
	log_msg(LOG_WARN, "api", "a client's file descriptors: %s", c->fd_refused);
}

/* Keeps the descriptors of one read, whose last byte is in[at]. */
static void client_take_fds(struct api_client *c, struct msghdr *m, size_t at)
{
	for (struct cmsghdr *h = CMSG_FIRSTHDR(m); h; h = CMSG_NXTHDR(m, h)) {
		size_t n = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(fd));
			if (!c->fd_refused[0] && c->nr_fds == API_MAX_FDS)
				fds_refuse(c, "more than %d file descriptors came with one request",
					   API_MAX_FDS);
			if (c->fd_refused[0]) {
				close(fd);
				continue;
			}
			c->fds[c->nr_fds] = fd;
			c->fd_at[c->nr_fds++] = at;
		}
	}
	/* The kernel dropped descriptors that did not fit: a request without them is not the one sent. */
	if (m->msg_flags & MSG_CTRUNC)
		fds_refuse(c, "the file descriptors sent with the request were cut short "
			   "(MSG_CTRUNC): at most %d may come with one request", API_MAX_FDS);
}

/* recv() that also takes the descriptors passed with the bytes (SCM_RIGHTS), close-on-exec. */
static ssize_t client_recv(struct api_client *c)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(API_RECV_FDS * sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = c->in + c->in_len, .iov_len = c->in_cap - c->in_len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf) };
	ssize_t n = recvmsg(c->fd, &m, MSG_CMSG_CLOEXEC);

	if (n >= 0)
		client_take_fds(c, &m, c->in_len + (size_t)(n ? n - 1 : 0));
	return n;
}

static void client_read(struct api_client *c, api_handler_fn *fn, void *opaque)
{
	const size_t limit = HTTP_MAX_HEAD + HTTP_MAX_BODY;

	for (;;) {
		ssize_t n;

		if (c->in_len == c->in_cap) {
			size_t cap = c->in_cap ? c->in_cap * 2 : 4096;
			char *grown;

			cap = cap > limit ? limit : cap;
			if (cap == c->in_cap) {
				/* http.h refuses a request this long before it gets here. */
				c->closing = true;
				return;
			}
			grown = realloc(c->in, cap);
			if (!grown) {
				c->closing = true;
				return;
			}
			c->in = grown;
			c->in_cap = cap;
		}
		n = client_recv(c);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			/* The peer is done sending (or gone): answer what came, then close. */
			client_requests(c, fn, opaque);
			c->closing = true;
			return;
		}
		c->in_len += (size_t)n;
		c->last_ms = now_ms();
	}
	client_requests(c, fn, opaque);
}

/*
 * Whether the peer runs as this process's uid, or as root (which could
 * reach into the vmm anyway; the supervisor of a vmm that dropped to
 * --user is): others are refused.
 */
static bool peer_allowed(int fd, char *why, size_t len)
{
	struct ucred cred;
	socklen_t l = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &l) < 0) {
		snprintf(why, len, "cannot tell who the peer is (SO_PEERCRED: %s)", strerror(errno));
		return false;
	}
	if (cred.uid == geteuid() || cred.uid == 0)
		return true;
	snprintf(why, len, "this API socket serves uid %u (and root) only; the peer (pid %d) is uid %u",
		 (unsigned)geteuid(), (int)cred.pid, (unsigned)cred.uid);
	return false;
}

static void accept_one(struct api *api)
{
	int fd = accept4(api->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct api_client *c = NULL;
	struct api_reply no = { 0 };

	if (fd < 0)
		return;
	for (unsigned i = 0; i < API_MAX_CLIENTS && !c; i++)
		if (api->client[i].fd < 0)
			c = &api->client[i];
	if (!c) {
		/* Told why in one write, best effort: the table is full. */
		char buf[320];
		int n;

		api_reply_error(&no, 503, "the API serves %d clients at once; try again",
				API_MAX_CLIENTS);
		n = http_format_head(buf, sizeof(buf) - 128, 503, strlen(no.body), false);
		if (n > 0 && (size_t)n + strlen(no.body) < sizeof(buf)) {
			memcpy(buf + n, no.body, strlen(no.body));
			if (send(fd, buf, (size_t)n + strlen(no.body), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				pr_debug("api: 503 to a client over the limit: %s", strerror(errno));
		}
		free(no.body);
		close(fd);
		return;
	}
	*c = (struct api_client){ .fd = fd, .last_ms = now_ms() };
	if (!peer_allowed(fd, c->refused, sizeof(c->refused)))
		log_msg(LOG_WARN, "api", "refused a client: %s", c->refused);
}

void api_serve(struct api *api, const struct pollfd *p, unsigned n, api_handler_fn *fn,
	       void *opaque)
{
	uint64_t now = now_ms();

	for (unsigned i = 1; i < n; i++) {
		for (unsigned k = 0; k < API_MAX_CLIENTS; k++) {
			struct api_client *c = &api->client[k];

			if (c->fd < 0 || c->fd != p[i].fd || !p[i].revents)
				continue;
			if (p[i].revents & (POLLIN | POLLHUP | POLLERR))
				client_read(c, fn, opaque);
			if (c->fd >= 0)
				client_flush(c);
		}
	}
	for (unsigned k = 0; k < API_MAX_CLIENTS; k++) {
		struct api_client *c = &api->client[k];

		/* Idle too long, half a request or none: dropped (nothing was promised it). */
		if (c->fd >= 0 && now >= c->last_ms + API_IDLE_MS)
			client_close(c);
	}
	if (n && (p[0].revents & POLLIN))
		accept_one(api);
}
