// SPDX-License-Identifier: MIT
#include "log.h"

#include <errno.h>

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

enum log_level log_threshold = LOG_WARN;

/* This thread's last error line: what an API request that failed answers with. */
static __thread char last_error[1024];

const char *log_last_error(void)
{
	return last_error;
}

void log_clear_last_error(void)
{
	last_error[0] = '\0';
}

void log_msg(enum log_level level, const char *prefix, const char *fmt, ...)
{
	static const char *const tag[] = { "error", "warning", "info", "debug" };
	char line[1024];
	va_list ap;

	if (level > log_threshold && level != LOG_ERR)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (level == LOG_ERR) {
		/* Cut at the buffer's end, as the line itself is. */
		int n = snprintf(last_error, sizeof(last_error), "%.200s%s", prefix ? prefix : "",
				 prefix ? ": " : "");

		snprintf(last_error + n, sizeof(last_error) - (size_t)n, "%.*s",
			 (int)(sizeof(last_error) - (size_t)n - 1), line);
	}
	if (level > log_threshold)
		return;
	/* One fprintf per line so lines from different threads do not interleave. */
	if (prefix)
		fprintf(stderr, "vmm: %s: %s: %s\n", tag[level], prefix, line);
	else
		fprintf(stderr, "vmm: %s: %s\n", tag[level], line);
}

bool log_ratelimit(struct log_ratelimit *rl)
{
	enum { BURST = 10 };
	struct timespec ts;
	uint64_t now, old, new;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec << 8;
	old = __atomic_load_n(&rl->state, __ATOMIC_RELAXED);
	/* A compare-and-swap rather than a lock: no init, and nothing to destroy with the device. */
	do {
		if ((old & ~0xffull) != now)
			new = now | 1;
		else if ((old & 0xff) < BURST)
			new = old + 1;
		else
			return false;
	} while (!__atomic_compare_exchange_n(&rl->state, &old, new, true, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	return true;
}

const char *log_fmt_size(char *buf, size_t len, uint64_t bytes)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;

	while (u < 4 && bytes >> (10 * (u + 1)))
		u++;
	if (bytes % (1ull << (10 * u)) == 0) {
		snprintf(buf, len, "%llu %s", (unsigned long long)(bytes >> (10 * u)), unit[u]);
		return buf;
	}
	/*
	 * Just over a whole number of units, where one decimal would read as
	 * equal to it ("128.0 GiB" for a window that needs 48 MiB more):
	 * "128 GiB + 48 MiB", the remainder rounded up so that it never
	 * reads as less than it is.
	 */
	uint64_t unit_bytes = 1ull << (10 * u), rem = bytes % unit_bytes;

	if (u > 0 && rem * 20 < unit_bytes) {
		uint64_t below = unit_bytes >> 10;

		snprintf(buf, len, "%llu %s + %llu %s", (unsigned long long)(bytes >> (10 * u)),
			 unit[u], (unsigned long long)((rem + below - 1) / below), unit[u - 1]);
		return buf;
	}
	/* Just below a unit, "1.0 MiB" rather than "1024.0 KiB". */
	if (u < 4 && (double)bytes / (double)(1ull << (10 * u)) >= 1023.95)
		u++;
	snprintf(buf, len, "%.1f %s", (double)bytes / (double)(1ull << (10 * u)), unit[u]);
	return buf;
}

/* Room for a long path and the reason. */
static _Thread_local char why_buf[4200];

int log_why(const char **why, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why_buf, sizeof(why_buf), fmt, ap);
	va_end(ap);
	if (why)
		*why = why_buf;
	errno = err;
	return -err;
}
