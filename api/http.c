// SPDX-License-Identifier: MIT
/*
 * The API socket's HTTP/1.1 request parser (http.h). The head is read a
 * line at a time within its first HTTP_MAX_HEAD bytes and never further,
 * so a client cannot make the server hold more than that before it is
 * answered. Each check looks only at bytes before the point it decides
 * on: a request line still arriving is checked as far as it goes (a 414
 * does not wait for the rest of a long target), a header line once its
 * end has come; so the same bytes split anywhere get the same verdict.
 */
#include "http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Bytes of the input that a why quotes, at most (each up to 4 characters as \xNN). */
#define SPAN_SHOWN 48

/* What one call has learnt from the head so far. */
struct head {
	char *why;
	size_t why_len;
	char span[SPAN_SHOWN * 4 + sizeof("...")]; /* a piece of the input, as a why quotes it */
	unsigned headers;                          /* header lines so far */
	size_t length;                             /* Content-Length; 0 without one */
	bool has_length;
	bool close, keep_alive;                    /* Connection's tokens */
	bool expect;                               /* Expect: 100-continue */
};

static int fail(struct head *h, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct head *h, int status, const char *fmt, ...)
{
	va_list ap;

	if (h->why && h->why_len) {
		va_start(ap, fmt);
		vsnprintf(h->why, h->why_len, fmt, ap);
		va_end(ap);
	}
	return -status;
}

/*
 * s[0..n) for a why: printable ASCII as it is, any other byte (and the
 * backslash) as \xNN, since the why goes into a JSON reply that must be
 * UTF-8 and into one log line; a long piece is cut with "...".
 */
static const char *span(struct head *h, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char *o = h->span;
	size_t i;

	if (n == 0)
		return "(empty)";
	for (i = 0; i < n && i < SPAN_SHOWN; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			*o++ = (char)c;
		} else {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	strcpy(o, i < n ? "..." : "");
	return h->span;
}

/* RFC 9110's tchar: what a method or a header name is made of. */
static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Bytes that no header value may hold: the controls other than tab, and DEL. */
static bool is_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Whether s[0..n) is name, in any case. */
static bool same_name(const char *s, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(s, name, n) == 0;
}

/*
 * The request line's three fields. partial: the line's end has not come
 * and s[0..n) is what there is of it; each returns 0 where its verdict
 * needs more, 1 with *used bytes (its separator included) when its field
 * is whole, or -status.
 */
static int parse_method(struct head *h, const char *s, size_t n, bool partial,
			struct http_request *req, size_t *used)
{
	size_t i;

	for (i = 0; i < n && s[i] != ' '; i++) {
		if (s[i] < 'A' || s[i] > 'Z')
			return fail(h, 400, "method %s: only the letters A-Z", span(h, s, i + 1));
		if (i == sizeof(req->method) - 1)
			return fail(h, 400, "method %s: longer than %zu letters", span(h, s, i + 1),
				    sizeof(req->method) - 1);
	}
	if (i == n)
		return partial ? 0 : fail(h, 400, "request line %s: no request target", span(h, s, n));
	if (i == 0)
		return fail(h, 400, "request line starts with a space, not a method");
	memcpy(req->method, s, i);
	req->method[i] = '\0';
	*used = i + 1;
	return 1;
}

static int parse_target(struct head *h, const char *s, size_t n, bool partial,
			struct http_request *req, size_t *used)
{
	const char *query;
	size_t i;

	if (n == 0)
		return partial ? 0 : fail(h, 400, "request line has no request target");
	if (s[0] == ' ')
		return fail(h, 400, "request line has two spaces after the method");
	if (s[0] != '/')
		return fail(h, 400, "request target starting %s: must be a path, starting with /",
			    span(h, s, 1));
	for (i = 0; i < n && s[i] != ' '; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x21 || c > 0x7e)
			return fail(h, 400, "request target %s: byte 0x%02x is not allowed there",
				    span(h, s, i + 1), c);
		if (i == sizeof(req->path) - 1)
			return fail(h, 414, "request target %s: longer than %zu bytes",
				    span(h, s, i + 1), sizeof(req->path) - 1);
	}
	if (i == n)
		return partial ? 0 : fail(h, 400, "request line ends after %s: no HTTP version",
					  span(h, s, n));
	/* The API takes its arguments in bodies: a query is dropped, not an error. */
	query = memchr(s, '?', i);
	memcpy(req->path, s, query ? (size_t)(query - s) : i);
	*used = i + 1;
	return 1;
}

/* Only ever on a whole line: "HTTP/1.1" and "HTTP/1.0" are prefixes of longer fields. */
static int parse_version(struct head *h, const char *s, size_t n, struct http_request *req)
{
	size_t i;

	if (n == 0)
		return fail(h, 400, "request line ends with a space, not an HTTP version");
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == ' ')
			return fail(h, 400, "request line has more than three fields: %s after the target",
				    span(h, s, n));
		if (c < 0x21 || c > 0x7e)
			return fail(h, 400, "HTTP version %s: byte 0x%02x is not allowed there",
				    span(h, s, i + 1), c);
	}
	if (n != 8 || memcmp(s, "HTTP/1.", 7) != 0 || (s[7] != '1' && s[7] != '0'))
		return fail(h, 505, "HTTP version %s: not supported (only HTTP/1.1 and HTTP/1.0)",
			    span(h, s, n));
	req->minor0 = s[7] == '0';
	return 1;
}

static int parse_request_line(struct head *h, const char *s, size_t n, bool partial,
			      struct http_request *req)
{
	size_t at = 0, used = 0;
	int r;

	r = parse_method(h, s, n, partial, req, &at);
	if (r <= 0)
		return r;
	r = parse_target(h, s + at, n - at, partial, req, &used);
	if (r <= 0)
		return r;
	at += used;
	return partial ? 0 : parse_version(h, s + at, n - at, req);
}

static int too_many_headers(struct head *h)
{
	return fail(h, 431, "more than %d header lines", HTTP_MAX_HEADERS);
}

static int content_length(struct head *h, const char *v, size_t n)
{
	size_t len = 0;

	if (n == 0)
		return fail(h, 400, "Content-Length is empty: not a number");
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return fail(h, 400, "Content-Length %s: not a number", span(h, v, n));
		/* Past the limit it only has to stay past it. */
		if (len <= HTTP_MAX_BODY)
			len = len * 10 + (size_t)(v[i] - '0');
	}
	/* Two lengths are how a request is smuggled past a proxy that reads the other. */
	if (h->has_length && len != h->length)
		return fail(h, 400, "Content-Length %s: differs from the %zu before it",
			    span(h, v, n), h->length);
	if (len > HTTP_MAX_BODY)
		return fail(h, 413, "Content-Length %s: over the limit of %u bytes", span(h, v, n),
			    HTTP_MAX_BODY);
	h->has_length = true;
	h->length = len;
	return 0;
}

/* Connection is a list of tokens: only close and keep-alive mean anything here. */
static void connection(struct head *h, const char *v, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t start, end;

		while (i < n && (is_ows(v[i]) || v[i] == ','))
			i++;
		for (start = i; i < n && v[i] != ','; i++)
			;
		for (end = i; end > start && is_ows(v[end - 1]); end--)
			;
		if (same_name(v + start, end - start, "close"))
			h->close = true;
		else if (same_name(v + start, end - start, "keep-alive"))
			h->keep_alive = true;
	}
}

static int header_field(struct head *h, const char *name, size_t name_len, const char *v,
			size_t n)
{
	if (same_name(name, name_len, "Content-Length"))
		return content_length(h, v, n);
	if (same_name(name, name_len, "Transfer-Encoding"))
		return fail(h, 501, "Transfer-Encoding %s is not supported: send Content-Length",
			    span(h, v, n));
	if (same_name(name, name_len, "Expect")) {
		if (!same_name(v, n, "100-continue"))
			return fail(h, 417, "Expect %s: only 100-continue is supported",
				    span(h, v, n));
		h->expect = true;
	} else if (same_name(name, name_len, "Connection")) {
		connection(h, v, n);
	}
	return 0;
}

/* "Name: value" in s[0..n), n > 0, without its line end. */
static int parse_header(struct head *h, const char *s, size_t n)
{
	size_t colon, v, end;

	if (++h->headers > HTTP_MAX_HEADERS)
		return too_many_headers(h);
	if (is_ows(s[0]))
		return fail(h, 400, "header line %s: starts with white space (obsolete line folding)",
			    span(h, s, n));
	for (colon = 0; colon < n && s[colon] != ':'; colon++)
		if (!is_tchar((unsigned char)s[colon]))
			return fail(h, 400, "header line %s: byte 0x%02x in the name "
				    "(a token, and no space before the colon)",
				    span(h, s, n), (unsigned char)s[colon]);
	if (colon == n)
		return fail(h, 400, "header line %s: no colon", span(h, s, n));
	if (colon == 0)
		return fail(h, 400, "header line %s: no name before the colon", span(h, s, n));
	for (v = colon + 1; v < n && is_ows(s[v]); v++)
		;
	for (end = n; end > v && is_ows(s[end - 1]); end--)
		;
	for (size_t i = v; i < end; i++)
		if (is_ctl((unsigned char)s[i]))
			return fail(h, 400, "header %s: control byte 0x%02x in its value",
				    span(h, s, colon), (unsigned char)s[i]);
	return header_field(h, s, colon, s + v, end - v);
}

/*
 * The head's last line, s[0..n), has not ended. full: n reaches
 * HTTP_MAX_HEAD, so it never will within the limit.
 */
static int head_unfinished(struct head *h, const char *s, size_t n, bool started, bool full,
			   struct http_request *req)
{
	int r;

	if (n && s[n - 1] == '\r')
		n--; /* perhaps the CR of its CRLF: not a byte of the line yet */
	if (!started) {
		r = parse_request_line(h, s, n, true, req);
		if (r < 0)
			return r;
	} else if (n && h->headers == HTTP_MAX_HEADERS) {
		/* Whatever else it is, it is not the empty line that ends the head. */
		return too_many_headers(h);
	}
	if (full)
		return fail(h, 431, "request head (request line and headers) over %d bytes",
			    HTTP_MAX_HEAD);
	return 0;
}

/*
 * The head within buf[0..n), n at most HTTP_MAX_HEAD: 1 with *head_len
 * (up to and including its empty line) once that has come, 0 for more, or
 * -status. Lines end in CRLF or a bare LF.
 */
static int parse_head(struct head *h, const char *buf, size_t n, struct http_request *req,
		      size_t *head_len)
{
	bool started = false; /* the request line has been read */
	size_t pos = 0;

	for (;;) {
		const char *nl = pos < n ? memchr(buf + pos, '\n', n - pos) : NULL;
		size_t end, len;
		int r;

		if (!nl)
			return head_unfinished(h, buf + pos, n - pos, started, n == HTTP_MAX_HEAD, req);
		end = (size_t)(nl - buf);
		len = end - pos;
		if (len && buf[end - 1] == '\r')
			len--;
		if (started && len == 0) {
			*head_len = end + 1;
			return 1;
		}
		/* RFC 9112 2.2: empty lines before a request line are skipped (after a body's stray CRLF). */
		if (len) {
			r = started ? parse_header(h, buf + pos, len)
				    : parse_request_line(h, buf + pos, len, false, req);
			if (r < 0)
				return r;
			started = true;
		}
		pos = end + 1;
	}
}

int http_parse_request(const char *buf, size_t len, struct http_request *req, char *why,
		       size_t why_len)
{
	struct head h = { .why = why, .why_len = why_len };
	size_t head_len = 0;
	int r;

	*req = (struct http_request){ 0 };
	if (why && why_len)
		why[0] = '\0';
	if (len == 0)
		return 0;
	r = parse_head(&h, buf, len < HTTP_MAX_HEAD ? len : HTTP_MAX_HEAD, req, &head_len);
	if (r <= 0) {
		*req = (struct http_request){ 0 };
		return r;
	}
	req->keep_alive = req->minor0 ? h.keep_alive && !h.close : !h.close;
	/* RFC 9110 10.1.1: an HTTP/1.0 client does not wait for 100 Continue. */
	req->expect_continue = h.expect && !req->minor0;
	if (len - head_len < h.length)
		return 0;
	if (h.length) {
		req->body = buf + head_len;
		req->body_len = h.length;
	}
	return (int)(head_len + h.length);
}

const char *http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "";
	}
}

int http_format_head(char *out, size_t cap, int status, size_t body_len, bool keep_alive)
{
	bool interim = status >= 100 && status < 200;
	bool bodiless = interim || status == 204;
	char length[48] = "";
	int n;

	if (status < 100 || status > 999 || (bodiless && body_len))
		return -EINVAL;
	if (!bodiless)
		snprintf(length, sizeof(length), "Content-Length: %zu\r\n", body_len);
	n = snprintf(out, cap, "HTTP/1.1 %d %s\r\n%s%s%s\r\n", status, http_reason(status),
		     body_len ? "Content-Type: application/json\r\n" : "", length,
		     keep_alive || interim ? "" : "Connection: close\r\n");
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}
