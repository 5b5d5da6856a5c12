/* SPDX-License-Identifier: MIT */
#ifndef CORE_LOG_H
#define CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Messages at or below this level are printed (default LOG_WARN; -v raises it). */
extern enum log_level log_threshold;

void log_msg(enum log_level level, const char *prefix, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * How many guest-triggered warnings one device has printed this second:
 * one in each device instance, so that a noisy device does not silence
 * another, and shared by whichever vCPU or I/O thread is serving it.
 * All zeros is a valid start.
 */
struct log_ratelimit {
	uint64_t state; /* the second << 8 | messages in it; read and set atomically */
};

/* True at most a burst of times per second for rl, so a guest cannot flood the host's log. */
bool log_ratelimit(struct log_ratelimit *rl);

/*
 * The last error this thread logged (without "vmm: error: "), "" if none
 * since log_clear_last_error(): what an API request that failed answers.
 */
const char *log_last_error(void);
void log_clear_last_error(void);

/*
 * Why a resource cannot be had (a file, a tap), for a caller that prints it
 * as one line: formats into a per-thread buffer (the next call on this
 * thread reuses it), points *why at it when why is not NULL, sets errno
 * to err and returns -err.
 */
int log_why(const char **why, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * A size for a message, into buf, which it returns: in the largest unit
 * up to TiB that it reaches, whole when it is a multiple of it ("128 B",
 * "512 KiB", "4 GiB"), else to one decimal ("4.1 GiB"); just over a whole
 * number, where a decimal would read as equal, with the rest in the unit
 * below, rounded up ("128 GiB + 1 MiB").
 */
const char *log_fmt_size(char *buf, size_t len, uint64_t bytes);

#define pr_err(...)   log_msg(LOG_ERR, NULL, __VA_ARGS__)
#define pr_warn(...)  log_msg(LOG_WARN, NULL, __VA_ARGS__)
#define pr_info(...)  log_msg(LOG_INFO, NULL, __VA_ARGS__)
#define pr_debug(...) log_msg(LOG_DEBUG, NULL, __VA_ARGS__)

/* Device-prefixed logging: "uart: ..." */
#define dev_err(name, ...)   log_msg(LOG_ERR, (name), __VA_ARGS__)
#define dev_warn(name, ...)  log_msg(LOG_WARN, (name), __VA_ARGS__)
#define dev_info(name, ...)  log_msg(LOG_INFO, (name), __VA_ARGS__)
#define dev_debug(name, ...) log_msg(LOG_DEBUG, (name), __VA_ARGS__)

/* For paths a guest can drive: at most a burst of messages per second from rl's device. */
#define dev_warn_rl(rl, name, ...)                                       \
	do {                                                             \
		if (log_ratelimit(rl))                                   \
			log_msg(LOG_WARN, (name), __VA_ARGS__);          \
	} while (0)

#endif
