/* SPDX-License-Identifier: MIT */
#ifndef API_API_H
#define API_API_H

/*
 * The API socket: HTTP/1.1 on a UNIX socket, as Cloud Hypervisor's
 * --api-socket. This file is the transport only: the listener, its
 * clients, requests parsed (http.h) and replies written. What a request
 * does is the handler's (vmm/api_vm.c). Everything runs on the thread
 * that calls api_serve(), the vmm's main thread, from its poll loop: no
 * lock, and no client, however slow or malformed, can hold a vCPU.
 *
 * Bounded: API_MAX_CLIENTS at once (one more is told 503 and closed), a
 * request's head and body as http.h limits them, API_IDLE_MS without a
 * byte before a client is dropped. Only peers of this process's uid are
 * served (SO_PEERCRED), and a socket made from a path has mode 0600.
 *
 * File descriptors passed with SCM_RIGHTS belong to the first request
 * that completes with the bytes they came with, API_MAX_FDS of them at
 * most (more, or control data cut short: that request is answered 400 and
 * the connection closed). The handler sees them in the request
 * (http_request's fds) and takes those it keeps; every other one is
 * closed when the handler returns, or when the client goes before its
 * request is whole.
 */

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

struct http_request;

#define API_MAX_CLIENTS 8
#define API_IDLE_MS 30000
#define API_MAX_FDS 16

struct api_reply {
	int status;   /* 200, 204, 4xx, 5xx */
	char *body;   /* JSON, malloc'd (api_serve frees it); NULL: none */
};

/* Fills reply for one request that parsed. */
typedef void api_handler_fn(void *opaque, const struct http_request *req, struct api_reply *reply);

struct api;

/*
 * spec: PATH, a socket made there with mode 0600 (a stale socket left by
 * a dead vmm is replaced; any other file, or a socket someone still
 * listens on, is refused); or fd=N, a listening UNIX socket a supervisor
 * made and passed (left open for it on api_close). 0 or -errno with why.
 */
int api_open(struct api **out, const char *spec, char *why, size_t len)
	__attribute__((warn_unused_result));
/* Closes every client and the listener; unlinks the path it made. */
void api_close(struct api *api);
const char *api_path(const struct api *api);

/* The fds to poll (listener, then clients) into p[0..max): how many. */
unsigned api_pollfds(const struct api *api, struct pollfd *p, unsigned max);
/* After poll: accepts, reads, answers and writes what p says is ready. */
void api_serve(struct api *api, const struct pollfd *p, unsigned n, api_handler_fn *fn,
	       void *opaque);
/* Milliseconds until an idle client is due to be dropped; -1: none. */
int api_timeout_ms(const struct api *api);

/* A JSON error body for reply: {"error": "..."}, printf-style; status set too. */
void api_reply_error(struct api_reply *reply, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
