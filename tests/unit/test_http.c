// SPDX-License-Identifier: MIT
/* The API socket's HTTP/1.1 parser, fed what curl and ch-remote send, and what they must not. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http.h"

static char why[256];

/* Parses s (a string) from an exactly-sized heap copy, so ASan sees any read past len. */
static int parse_n(const char *s, size_t len, struct http_request *req)
{
	char *copy = malloc(len ? len : 1);
	int r;

	cr_assert(copy);
	memcpy(copy, s, len);
	r = http_parse_request(copy, len, req, why, sizeof(why));
	/* The body points into the buffer: move it to s before the copy goes. */
	if (req->body)
		req->body = s + (req->body - copy);
	free(copy);
	return r;
}

static int parse(const char *s, struct http_request *req)
{
	return parse_n(s, strlen(s), req);
}

/* The status s is refused with, and why must contain text. */
static void assert_refused(const char *s, int status, const char *text)
{
	struct http_request req;
	int r = parse(s, &req);

	cr_assert_eq(r, -status, "%s: %d (%s), not -%d", s, r, why, status);
	cr_assert(strstr(why, text), "%s: why is \"%s\", without \"%s\"", s, why, text);
	cr_assert_eq(req.method[0], 0, "req is all zero after an error");
}

Test(http, a_get_with_curls_headers)
{
	const char *s = "GET /api/v1/vm.info HTTP/1.1\r\nHost: localhost\r\n"
			"User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
	struct http_request req;

	cr_assert_eq(parse(s, &req), (int)strlen(s));
	cr_assert_str_eq(req.method, "GET");
	cr_assert_str_eq(req.path, "/api/v1/vm.info");
	cr_assert_null(req.body);
	cr_assert_eq(req.body_len, 0);
	cr_assert(req.keep_alive, "HTTP/1.1 keeps the connection");
	cr_assert_not(req.minor0);
	cr_assert_not(req.expect_continue);
	cr_assert_str_eq(why, "");
}

Test(http, a_put_with_a_json_body)
{
	const char *body = "{\"desired_vcpus\":4}";
	const char *s = "PUT /api/v1/vm.resize HTTP/1.1\r\nHost: localhost\r\n"
			"Content-Type: application/json\r\nContent-Length: 19\r\n\r\n"
			"{\"desired_vcpus\":4}";
	struct http_request req;

	cr_assert_eq(parse(s, &req), (int)strlen(s));
	cr_assert_str_eq(req.method, "PUT");
	cr_assert_str_eq(req.path, "/api/v1/vm.resize");
	cr_assert_eq(req.body, s + strlen(s) - strlen(body), "the body is the last 19 bytes");
	cr_assert_eq(req.body_len, strlen(body));
	cr_assert_eq(memcmp(req.body, body, req.body_len), 0);
}

Test(http, a_put_without_a_length_has_an_empty_body)
{
	struct http_request req;
	const char *s = "PUT /api/v1/vm.pause HTTP/1.1\r\n\r\n";

	cr_assert_eq(parse(s, &req), (int)strlen(s));
	cr_assert_null(req.body);
	cr_assert_eq(req.body_len, 0);
	cr_assert_eq(parse("PUT /api/v1/vm.pause HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &req),
		     (int)strlen("PUT /api/v1/vm.pause HTTP/1.1\r\nContent-Length: 0\r\n\r\n"));
	cr_assert_null(req.body, "Content-Length: 0 is no body either");
}

Test(http, pipelined_requests_come_one_at_a_time)
{
	const char *a = "PUT /api/v1/vm.pause HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}";
	const char *b = "\r\nGET /api/v1/vm.info HTTP/1.1\r\n\r\n"; /* after a stray CRLF */
	const char *c = "PUT /api/v1/vm.resume HTTP/1.1\r\n";
	char s[256];
	struct http_request req;
	size_t at = 0;
	int r;

	snprintf(s, sizeof(s), "%s%s%s", a, b, c);
	r = parse(s, &req);
	cr_assert_eq(r, (int)strlen(a));
	cr_assert_str_eq(req.path, "/api/v1/vm.pause");
	cr_assert_eq(req.body_len, 2);
	at += (size_t)r;
	r = parse(s + at, &req);
	cr_assert_eq(r, (int)strlen(b), "the CRLF before it is part of it");
	cr_assert_str_eq(req.method, "GET");
	cr_assert_str_eq(req.path, "/api/v1/vm.info");
	at += (size_t)r;
	cr_assert_eq(parse(s + at, &req), 0, "the third has not ended");
	cr_assert_str_eq(req.method, "", "nothing of an unfinished head");
}

/* The bytes a client may send in any number of writes. */
static const char *const whole[] = {
	("PUT /api/v1/vm.resize HTTP/1.1\r\nHost: localhost\r\nContent-Length: 19\r\n\r\n"
	 "{\"desired_vcpus\":4}"),
	"GET /api/v1/vm.info?pretty=1 HTTP/1.0\nConnection: keep-alive\n\n",
	"\r\n\nPUT /api/v1/vm.shutdown HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
};

Test(http, a_request_split_anywhere_is_incomplete_until_its_last_byte)
{
	for (size_t k = 0; k < sizeof(whole) / sizeof(whole[0]); k++) {
		const char *s = whole[k];
		size_t len = strlen(s);
		struct http_request want, got;
		char longer[512];

		cr_assert_eq(parse(s, &want), (int)len, "%s: %s", s, why);
		for (size_t n = 0; n < len; n++)
			cr_assert_eq(parse_n(s, n, &got), 0, "%s cut after %zu bytes: %s", s, n, why);
		/* Then whole, and with the next request's first bytes behind it. */
		snprintf(longer, sizeof(longer), "%sGET / HTTP/1.1\r\n", s);
		for (size_t n = len; n <= strlen(longer); n++) {
			cr_assert_eq(parse_n(longer, n, &got), (int)len);
			cr_assert_str_eq(got.method, want.method);
			cr_assert_str_eq(got.path, want.path);
			cr_assert_eq(got.body_len, want.body_len);
			cr_assert_eq(got.body ? got.body - longer : -1, want.body ? want.body - s : -1);
			cr_assert_eq(got.keep_alive, want.keep_alive);
			cr_assert_eq(got.expect_continue, want.expect_continue);
			cr_assert_eq(got.minor0, want.minor0);
		}
	}
}

Test(http, a_query_is_dropped_from_the_path)
{
	struct http_request req;

	cr_assert_gt(parse("GET /api/v1/vm.info?x=1&y=2 HTTP/1.1\r\n\r\n", &req), 0);
	cr_assert_str_eq(req.path, "/api/v1/vm.info");
	cr_assert_gt(parse("GET /? HTTP/1.1\r\n\r\n", &req), 0);
	cr_assert_str_eq(req.path, "/");
}

Test(http, bare_lf_lines_and_header_names_in_any_case)
{
	const char *s = "PUT /api/v1/vm.pause HTTP/1.1\ncontent-LENGTH: \t 3 \t\r\n"
			"CONNECTION:Close\n\nabc";
	struct http_request req;

	cr_assert_eq(parse(s, &req), (int)strlen(s), "%s", why);
	cr_assert_eq(req.body_len, 3, "the value trimmed of spaces and tabs");
	cr_assert_eq(memcmp(req.body, "abc", 3), 0);
	cr_assert_not(req.keep_alive, "close, in capitals");
}

Test(http, keep_alive_by_version_and_connection)
{
	static const struct {
		const char *s;
		bool keep_alive, minor0;
	} cases[] = {
		{ "GET / HTTP/1.1\r\n\r\n", true, false },
		{ "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false, false },
		{ "GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n", false, false },
		{ "GET / HTTP/1.1\r\nConnection: Upgrade\r\n\r\n", true, false },
		{ "GET / HTTP/1.0\r\n\r\n", false, true },
		{ "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true, true },
		{ "GET / HTTP/1.0\r\nConnection: TE,keep-alive\r\n\r\n", true, true },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false, true },
		{ "GET / HTTP/1.0\r\nConnection: keep-alives\r\n\r\n", false, true },
	};
	struct http_request req;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_gt(parse(cases[i].s, &req), 0, "%s: %s", cases[i].s, why);
		cr_assert_eq(req.keep_alive, cases[i].keep_alive, "%s", cases[i].s);
		cr_assert_eq(req.minor0, cases[i].minor0, "%s", cases[i].s);
	}
}

Test(http, expect_100_continue_is_flagged_before_the_body_comes)
{
	const char *head = "PUT /api/v1/vm.create HTTP/1.1\r\nContent-Length: 4\r\n"
			   "Expect: 100-continue\r\n\r\n";
	char s[256];
	struct http_request req;

	cr_assert_eq(parse_n(head, strlen(head) - 1, &req), 0);
	cr_assert_not(req.expect_continue, "the head has not ended: no 100 Continue yet");
	cr_assert_eq(parse(head, &req), 0, "the body has not come");
	cr_assert(req.expect_continue, "the client waits for 100 Continue");
	cr_assert_str_eq(req.path, "/api/v1/vm.create", "the head is there to route on");
	cr_assert_null(req.body);
	snprintf(s, sizeof(s), "%s{}{}", head);
	cr_assert_eq(parse(s, &req), (int)strlen(s));
	cr_assert(req.expect_continue);
	cr_assert_eq(req.body_len, 4);

	cr_assert_eq(parse("PUT / HTTP/1.0\r\nContent-Length: 4\r\nExpect: 100-Continue\r\n\r\n",
			   &req), 0);
	cr_assert_not(req.expect_continue, "an HTTP/1.0 client does not wait (RFC 9110 10.1.1)");
}

Test(http, the_request_line_is_refused_with_its_status)
{
	char long_target[300], just_fits[300];
	struct http_request req;

	assert_refused("get / HTTP/1.1\r\n\r\n", 400, "method g: only the letters A-Z");
	assert_refused("DESCRIBE / HTTP/1.1\r\n\r\n", 400, "method DESCRIBE: longer than 7 letters");
	assert_refused(" GET / HTTP/1.1\r\n\r\n", 400, "starts with a space");
	assert_refused("GET\r\n\r\n", 400, "request line GET: no request target");
	assert_refused("GET  / HTTP/1.1\r\n\r\n", 400, "two spaces");
	assert_refused("GET http://localhost/api HTTP/1.1\r\n\r\n", 400,
		       "request target starting h: must be a path, starting with /");
	assert_refused("OPTIONS * HTTP/1.1\r\n\r\n", 400, "must be a path");
	assert_refused("GET /a\x01 HTTP/1.1\r\n\r\n", 400, "request target /a\\x01: byte 0x01");
	assert_refused("GET /a\tb HTTP/1.1\r\n\r\n", 400, "byte 0x09");
	assert_refused("GET /\xc3\xa9 HTTP/1.1\r\n\r\n", 400, "request target /\\xc3: byte 0xc3");
	assert_refused("GET /a b HTTP/1.1\r\n\r\n", 400, "more than three fields: b HTTP/1.1");
	assert_refused("GET /\r\n\r\n", 400, "request line ends after /: no HTTP version");
	assert_refused("GET / \r\n\r\n", 400, "ends with a space, not an HTTP version");
	assert_refused("GET / HTTP/2.0\r\n\r\n", 505, "HTTP version HTTP/2.0: not supported");
	assert_refused("GET / HTTP/1.2\r\n\r\n", 505, "only HTTP/1.1 and HTTP/1.0");
	assert_refused("GET / http/1.1\r\n\r\n", 505, "HTTP version http/1.1");
	assert_refused("GET / HTTP/1.1\r\r\n\r\n", 400, "HTTP version HTTP/1.1\\x0d: byte 0x0d");

	memset(long_target, 'a', sizeof(long_target));
	memcpy(long_target, "GET /", 5);
	strcpy(long_target + 4 + 256, " HTTP/1.1\r\n\r\n");
	assert_refused(long_target, 414, "longer than 255 bytes");
	memcpy(just_fits, long_target, sizeof(just_fits));
	strcpy(just_fits + 4 + 255, " HTTP/1.1\r\n\r\n");
	cr_assert_gt(parse(just_fits, &req), 0, "a 255-byte path fits: %s", why);
	cr_assert_eq(strlen(req.path), 255);
}

Test(http, a_long_target_is_refused_before_its_line_ends)
{
	char s[300];
	struct http_request req;

	memset(s, 'a', sizeof(s) - 1);
	memcpy(s, "PUT /", 5);
	s[sizeof(s) - 1] = '\0';
	cr_assert_eq(parse_n(s, 4 + 255, &req), 0, "255 bytes of target are fine");
	cr_assert_eq(parse_n(s, 4 + 256, &req), -414, "not a byte more: %s", why);
	cr_assert_eq(parse(s, &req), -414);
}

Test(http, headers_are_refused_with_their_status)
{
	assert_refused("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400, "obsolete line folding");
	assert_refused("GET / HTTP/1.1\r\n\tfolded\r\n\r\n", 400, "obsolete line folding");
	assert_refused("GET / HTTP/1.1\r\nHost localhost\r\n\r\n", 400, "byte 0x20 in the name");
	assert_refused("GET / HTTP/1.1\r\nHost : localhost\r\n\r\n", 400, "no space before the colon");
	assert_refused("GET / HTTP/1.1\r\nHost\r\n\r\n", 400, "header line Host: no colon");
	assert_refused("GET / HTTP/1.1\r\n: x\r\n\r\n", 400, "no name before the colon");
	assert_refused("GET / HTTP/1.1\r\nX-A: b\x01" "c\r\n\r\n", 400, "header X-A: control byte 0x01");
	assert_refused("GET / HTTP/1.1\r\nX-A: b\x7f\r\n\r\n", 400, "control byte 0x7f");
	assert_refused("GET / HTTP/1.1\r\nX-A: b\rc\r\n\r\n", 400, "control byte 0x0d");
	assert_refused("GET / HTTP/1.1\r\nX-A: b\r\r\n\r\n", 400, "control byte 0x0d");
	assert_refused("GET / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", 417,
		       "Expect 200-ok: only 100-continue is supported");
}

Test(http, a_nul_anywhere_in_the_head_is_refused)
{
	/* The extra LF ends the line that a NUL in the last one would leave open. */
	const char s[] = "PUT /api/v1/vm.pause HTTP/1.1\r\nX-A: 1\r\n\r\n\n";
	struct http_request req;

	for (size_t i = 0; i < sizeof(s) - 2; i++) {
		char copy[sizeof(s)];

		memcpy(copy, s, sizeof(s));
		copy[i] = '\0';
		cr_assert_eq(parse_n(copy, sizeof(s) - 1, &req), -400, "a NUL at %zu: %s", i, why);
	}
}

Test(http, content_length_is_refused_with_its_status)
{
	assert_refused("PUT / HTTP/1.1\r\nContent-Length: 12x\r\n\r\n", 400,
		       "Content-Length 12x: not a number");
	assert_refused("PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "not a number");
	assert_refused("PUT / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", 400, "not a number");
	assert_refused("PUT / HTTP/1.1\r\nContent-Length: 1 1\r\n\r\n", 400, "not a number");
	assert_refused("PUT / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400, "not a number");
	assert_refused("PUT / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400, "Content-Length is empty");
	assert_refused("PUT / HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 3\r\n\r\n", 400,
		       "Content-Length 3: differs from the 2 before it");
	assert_refused("PUT / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n", 413,
		       "Content-Length 1048577: over the limit of 1048576 bytes");
	assert_refused("PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413,
		       "over the limit");
	assert_refused("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501,
		       "Transfer-Encoding chunked is not supported: send Content-Length");
	assert_refused("PUT / HTTP/1.1\r\nContent-Length: 2\r\ntransfer-encoding: identity\r\n\r\n",
		       501, "Transfer-Encoding identity is not supported");
}

Test(http, content_length_up_to_the_limit_and_repeated_alike)
{
	const char *twice = "PUT / HTTP/1.1\r\nContent-Length: 02\r\nContent-Length: 2\r\n\r\nab";
	struct http_request req;

	cr_assert_eq(parse("PUT / HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n", &req), 0,
		     "1 MiB is allowed, and has not come: %s", why);
	cr_assert_eq(parse(twice, &req), (int)strlen(twice), "the same length twice: %s", why);
	cr_assert_eq(req.body_len, 2);
}

/* n header lines "X-Hn: v" after the request line; the end of the head when end. */
static char *with_headers(unsigned n, size_t value_len, bool end)
{
	size_t cap = 64 + n * (value_len + 16);
	char *s = malloc(cap);
	size_t at;

	cr_assert(s);
	at = (size_t)snprintf(s, cap, "GET / HTTP/1.1\r\n");
	for (unsigned i = 0; i < n; i++) {
		at += (size_t)snprintf(s + at, cap - at, "X-H%u: ", i);
		memset(s + at, 'v', value_len);
		at += value_len;
		at += (size_t)snprintf(s + at, cap - at, "\r\n");
	}
	snprintf(s + at, cap - at, "%s", end ? "\r\n" : "");
	return s;
}

Test(http, sixty_four_header_lines_and_no_more)
{
	struct http_request req;
	char *ok = with_headers(HTTP_MAX_HEADERS, 1, true);
	char *over = with_headers(HTTP_MAX_HEADERS + 1, 1, true);
	char *open = with_headers(HTTP_MAX_HEADERS, 1, false);
	size_t n = strlen(open);

	cr_assert_gt(parse(ok, &req), 0, "%s", why);
	assert_refused(over, 431, "more than 64 header lines");
	/* The 65th has begun: no need to wait for the rest. */
	cr_assert_eq(parse(open, &req), 0);
	strcat(open, "\r");
	cr_assert_eq(parse(open, &req), 0, "perhaps the end of the head");
	open[n] = 'X';
	cr_assert_eq(parse_n(open, n + 1, &req), -431, "%s", why);
	cr_assert_str_eq(why, "more than 64 header lines");
	free(ok);
	free(over);
	free(open);
}

Test(http, a_head_over_8_kib_is_refused_before_it_ends)
{
	struct http_request req;
	/* 16 + 8 * (6 + 1000 + 2) = 8080 bytes: the last line below decides the size. */
	char *s = with_headers(8, 1000, false);
	size_t n = strlen(s);
	char *full = realloc(s, HTTP_MAX_HEAD + 64);

	cr_assert(full);
	cr_assert_eq(n, 8080);
	/* "X-Last: vvv...\r\n\r\n" so that the head ends exactly at 8192 bytes. */
	memcpy(full + n, "X-Last: ", 8);
	memset(full + n + 8, 'v', HTTP_MAX_HEAD - n - 8 - 4);
	memcpy(full + HTTP_MAX_HEAD - 4, "\r\n\r\n", 5);
	cr_assert_eq(parse(full, &req), HTTP_MAX_HEAD, "a head of 8192 bytes fits: %s", why);

	/* One byte more in the value and the head's end falls past the limit. */
	memset(full + n + 8, 'v', HTTP_MAX_HEAD - n - 8 - 3);
	memcpy(full + HTTP_MAX_HEAD - 3, "\r\n\r\n", 5);
	cr_assert_eq(parse_n(full, HTTP_MAX_HEAD - 1, &req), 0, "within the limit, still coming");
	cr_assert_eq(parse_n(full, HTTP_MAX_HEAD, &req), -431, "8192 bytes and no end: %s", why);
	cr_assert_str_eq(why, "request head (request line and headers) over 8192 bytes");
	cr_assert_eq(parse(full, &req), -431, "the end, past the limit, is not looked for");
	free(full);
}

Test(http, why_may_be_null_or_short)
{
	struct http_request req;
	char small[8];

	cr_assert_eq(http_parse_request("get / HTTP/1.1\r\n\r\n", 18, &req, NULL, 0), -400);
	cr_assert_eq(http_parse_request("get / HTTP/1.1\r\n\r\n", 18, &req, small, sizeof(small)),
		     -400);
	cr_assert_str_eq(small, "method ", "cut, and NUL-terminated");
	cr_assert_eq(http_parse_request(NULL, 0, &req, small, sizeof(small)), 0);
	cr_assert_str_eq(small, "");
}

Test(http, why_quotes_the_input_as_printable_ascii)
{
	assert_refused("PUT / HTTP/1.1\r\nContent-Length: 1\xff\\\r\n\r\n", 400,
		       "Content-Length 1\\xff\\x5c: not a number");
	assert_refused("PUT / HTTP/1.1\r\nContent-Length: "
		       "1234567890123456789012345678901234567890123456789x\r\n\r\n",
		       400, "Content-Length 123456789012345678901234567890123456789012345678...: ");
}

Test(http, reason_phrases)
{
	cr_assert_str_eq(http_reason(200), "OK");
	cr_assert_str_eq(http_reason(204), "No Content");
	cr_assert_str_eq(http_reason(400), "Bad Request");
	cr_assert_str_eq(http_reason(404), "Not Found");
	cr_assert_str_eq(http_reason(405), "Method Not Allowed");
	cr_assert_str_eq(http_reason(413), "Content Too Large");
	cr_assert_str_eq(http_reason(431), "Request Header Fields Too Large");
	cr_assert_str_eq(http_reason(500), "Internal Server Error");
	cr_assert_str_eq(http_reason(505), "HTTP Version Not Supported");
	cr_assert_str_eq(http_reason(299), "");
}

Test(http, response_heads)
{
	char out[256];

	cr_assert_eq(http_format_head(out, sizeof(out), 200, 17, true), 71);
	cr_assert_str_eq(out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			      "Content-Length: 17\r\n\r\n");
	cr_assert_gt(http_format_head(out, sizeof(out), 404, 30, false), 0);
	cr_assert_str_eq(out, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
			      "Content-Length: 30\r\nConnection: close\r\n\r\n");
	cr_assert_gt(http_format_head(out, sizeof(out), 500, 0, true), 0);
	cr_assert_str_eq(out, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
			 "no body, no Content-Type");
}

Test(http, no_content_and_continue_have_no_length)
{
	char out[128];

	cr_assert_gt(http_format_head(out, sizeof(out), 204, 0, true), 0);
	cr_assert_str_eq(out, "HTTP/1.1 204 No Content\r\n\r\n");
	cr_assert_gt(http_format_head(out, sizeof(out), 204, 0, false), 0);
	cr_assert_str_eq(out, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
	cr_assert_gt(http_format_head(out, sizeof(out), 100, 0, false), 0);
	cr_assert_str_eq(out, "HTTP/1.1 100 Continue\r\n\r\n", "interim: the connection goes on");
	cr_assert_eq(http_format_head(out, sizeof(out), 204, 5, true), -EINVAL);
	cr_assert_eq(http_format_head(out, sizeof(out), 42, 0, true), -EINVAL);
}

Test(http, a_head_that_does_not_fit_is_enospc)
{
	const char *want = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			   "Content-Length: 2\r\n\r\n";
	size_t len = strlen(want);
	char out[128];

	cr_assert_eq(http_format_head(out, len, 200, 2, true), -ENOSPC, "no room for the NUL");
	cr_assert_eq(http_format_head(NULL, 0, 200, 2, true), -ENOSPC);
	cr_assert_eq(http_format_head(out, len + 1, 200, 2, true), (int)len);
	cr_assert_str_eq(out, want);
}
