// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: whatever a client writes to the API socket. The input
 * is the byte stream; the target parses request after request through it,
 * as the server does with pipelined requests, and checks what http.h
 * promises with abort():
 *   - a request never claims more bytes than there are, its body lies
 *     inside them and within HTTP_MAX_BODY, method and path are
 *     NUL-terminated and well-formed, an error has a known status and a
 *     one-line printable why;
 *   - the verdict does not depend on how the stream was cut: parsed from
 *     each of its prefixes (all of them for a short rest, some otherwise),
 *     a request gives 0 until it is whole and then itself, and an error
 *     gives 0 until it is decided and then the same status and why.
 * Every parse is of an exactly-sized heap copy, so ASan reports a read
 * past len even where more of the stream follows.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/http.h"

#define MAX_REQUESTS 64
#define ALL_PREFIXES 256 /* a rest up to this long is parsed from every prefix */
#define SOME_PREFIXES 48 /* otherwise from this many, spread over it */
_Static_assert(SOME_PREFIXES + 3 <= ALL_PREFIXES + 1, "prefix_lengths() fills one array");

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct verdict {
	int r;
	size_t body_at; /* the body's offset in the buffer; 0 without one */
	struct http_request req;
	char why[256];
};

static void parse(const char *s, size_t len, struct verdict *v)
{
	char *copy = malloc(len ? len : 1);

	if (!copy)
		abort();
	memcpy(copy, s, len);
	memset(v->why, 'x', sizeof(v->why)); /* so that an unterminated why shows */
	v->r = http_parse_request(copy, len, &v->req, v->why, sizeof(v->why));
	v->body_at = 0;
	if (v->req.body) {
		if (v->req.body < copy || v->req.body > copy + len)
			abort();
		v->body_at = (size_t)(v->req.body - copy);
	}
	v->req.body = NULL; /* it pointed into the copy */
	free(copy);
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

static void check_request(size_t len, const struct verdict *v)
{
	const struct http_request *req = &v->req;

	if ((size_t)v->r > len || v->why[0])
		abort();
	for (const char *m = req->method; *m; m++)
		if (*m < 'A' || *m > 'Z')
			abort();
	if (!req->method[0] || req->path[0] != '/' || strchr(req->path, '?'))
		abort();
	if (req->body_len > HTTP_MAX_BODY || (size_t)v->r > HTTP_MAX_HEAD + req->body_len)
		abort();
	if (req->body_len && (!v->body_at || v->body_at + req->body_len != (size_t)v->r))
		abort();
	if (!req->body_len && v->body_at)
		abort();
	if (req->expect_continue && req->minor0)
		abort();
}

static void check(size_t len, const struct verdict *v)
{
	const struct http_request *req = &v->req;

	if (!memchr(req->method, '\0', sizeof(req->method)) ||
	    !memchr(req->path, '\0', sizeof(req->path)) || !memchr(v->why, '\0', sizeof(v->why)))
		abort();
	if (v->r > 0) {
		check_request(len, v);
	} else if (v->r < 0) {
		switch (-v->r) {
		case 400: case 413: case 414: case 417: case 431: case 501: case 505:
			break;
		default:
			abort();
		}
		if (!v->why[0] || !printable(v->why) || req->method[0] || req->keep_alive)
			abort();
	} else if (v->body_at || req->body_len || v->why[0]) {
		abort();
	}
}

static bool same(const struct verdict *a, const struct verdict *b)
{
	if (a->r != b->r || strcmp(a->why, b->why))
		return false;
	if (a->r <= 0)
		return true;
	return !strcmp(a->req.method, b->req.method) && !strcmp(a->req.path, b->req.path) &&
	       a->body_at == b->body_at && a->req.body_len == b->req.body_len &&
	       a->req.keep_alive == b->req.keep_alive && a->req.minor0 == b->req.minor0 &&
	       a->req.expect_continue == b->req.expect_continue;
}

/*
 * The lengths of the prefixes to try, ascending: every one for a short
 * rest, else some spread over it and the two either side of a whole
 * request's end, the cut that matters most. Returns how many.
 */
static size_t prefix_lengths(size_t len, int r, size_t *p)
{
	size_t n = 0;

	if (len <= ALL_PREFIXES) {
		for (size_t i = 0; i <= len; i++)
			p[n++] = i;
		return n;
	}
	for (size_t i = 0; i < SOME_PREFIXES; i++)
		p[n++] = len / SOME_PREFIXES * i;
	if (r > 0) {
		p[n++] = (size_t)r - 1;
		p[n++] = (size_t)r;
	}
	p[n++] = len;
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && p[j - 1] > p[j]; j--) {
			size_t t = p[j];

			p[j] = p[j - 1];
			p[j - 1] = t;
		}
	return n;
}

/* The prefixes of s[0..len) give 0 until the verdict on the whole, and then it. */
static void check_prefixes(const char *s, size_t len, const struct verdict *whole)
{
	size_t p[ALL_PREFIXES + 1];
	size_t n = prefix_lengths(len, whole->r, p);
	bool decided = false;
	struct verdict v;

	for (size_t i = 0; i < n; i++) {
		parse(s, p[i], &v);
		check(p[i], &v);
		if (v.r == 0 && !decided)
			continue;
		if (!same(&v, whole))
			abort();
		decided = true;
	}
	if (!decided && whole->r != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	size_t at = 0;

	for (int i = 0; i < MAX_REQUESTS; i++) {
		struct verdict v;

		parse(s + at, size - at, &v);
		check(size - at, &v);
		check_prefixes(s + at, size - at, &v);
		if (v.r <= 0)
			break;
		at += (size_t)v.r;
	}
	return 0;
}
