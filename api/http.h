/* SPDX-License-Identifier: MIT */
#ifndef API_HTTP_H
#define API_HTTP_H

/*
 * HTTP/1.1 requests as the API socket receives them (Cloud Hypervisor's
 * REST API: "PUT /api/v1/vm.pause", JSON bodies), parsed strictly: what a
 * well-behaved client (curl, ch-remote) sends is accepted, anything else is
 * refused with a status and one line saying why. The parser is given
 * whatever the socket has delivered so far and says whether a whole
 * request is there, so a client that sends its bytes one at a time, or
 * several requests in one write, gets the same answers.
 */

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_HEAD 8192          /* request line + headers */
#define HTTP_MAX_BODY (1u << 20)
#define HTTP_MAX_HEADERS 64

struct http_request {
	char method[8];      /* "GET", "PUT", ... upper-case token */
	char path[256];      /* origin-form path, without any "?query" (the query is dropped) */
	const char *body;    /* points into the caller's buffer; body_len bytes; NULL/0 when none */
	size_t body_len;
	bool keep_alive;     /* HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with "Connection: keep-alive" */
	bool expect_continue;/* "Expect: 100-continue" was sent (set even when the body is still incomplete) */
	bool minor0;         /* HTTP/1.0 */
	/*
	 * Not the parser's (it leaves them NULL and 0): the file descriptors
	 * that came with the request's bytes (SCM_RIGHTS), which api.c fills
	 * in. A handler that keeps one sets its entry to -1; api.c closes the
	 * others once the handler returns.
	 */
	int *fds;
	unsigned nr_fds;
};

/*
 * Parses one request at the start of buf[0..len).
 * > 0: a whole request of that many bytes (req filled; pipelined requests
 *      follow it in buf). Empty lines before a request line are skipped
 *      and counted in it.
 * 0: incomplete: read more. While the head is incomplete req is all zero;
 *      once it is whole, req is filled except for the body, and
 *      req->expect_continue says the client waits for "100 Continue"
 *      (never for HTTP/1.0, where the expectation is to be ignored).
 * < 0: malformed: -STATUS (400, 413, 414, 417, 431, 501, 505) with one
 *      line of printable ASCII in why naming what is wrong; req is all zero.
 *      A connection cannot continue after one.
 * The head (request line and headers, up to and including the empty line)
 * may be HTTP_MAX_HEAD bytes: 431 is decided as soon as len passes that, or
 * a header line past HTTP_MAX_HEADERS begins, without waiting for the end.
 * Each verdict rests only on the bytes before it: feeding more bytes never
 * turns an error into another one or into a request.
 * Never reads past len, never writes past req's arrays, never allocates.
 * why may be NULL.
 */
int http_parse_request(const char *buf, size_t len, struct http_request *req, char *why,
		       size_t why_len);

/* The reason phrase for a status ("OK", "No Content", "Bad Request", ...); "" when unknown. */
const char *http_reason(int status);

/*
 * Writes a response head into out (status line, "Content-Type:
 * application/json" when body_len > 0, "Content-Length", "Connection:
 * close" when !keep_alive, blank line), NUL-terminated. Returns its length
 * (without the NUL), or -ENOSPC. A 1xx or 204 has no body and, as RFC
 * 9110 requires, no Content-Length; a 1xx is interim, so no Connection
 * either: status 100 gives the "100 Continue" that Expect waits for.
 * body_len > 0 with one of those is -EINVAL.
 */
int http_format_head(char *out, size_t cap, int status, size_t body_len, bool keep_alive);

#endif
