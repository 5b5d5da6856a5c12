// SPDX-License-Identifier: MIT
/* The logging helpers every subsystem's messages go through. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <time.h>

#include "core/log.h"

static const char *size(uint64_t bytes)
{
	static char buf[32];

	return log_fmt_size(buf, sizeof(buf), bytes);
}

Test(log, sizes_are_whole_in_the_largest_unit_they_fill)
{
	cr_assert_str_eq(size(0), "0 B");
	cr_assert_str_eq(size(128), "128 B", "an I/O BAR");
	cr_assert_str_eq(size(512 << 10), "512 KiB");
	cr_assert_str_eq(size(16ull << 20), "16 MiB");
	cr_assert_str_eq(size(128ull << 30), "128 GiB");
	cr_assert_str_eq(size(2ull << 40), "2 TiB");
	cr_assert_str_eq(size(2048ull << 40), "2048 TiB", "TiB is the largest unit");
}

Test(log, a_size_between_units_gets_one_decimal)
{
	cr_assert_str_eq(size((4ull << 30) + (64ull << 20)), "4.1 GiB", "guest RAM and the slack");
	cr_assert_str_eq(size(1536ull << 20), "1.5 GiB");
	cr_assert_str_eq(size(1536), "1.5 KiB");
	cr_assert_str_eq(size((1ull << 30) - 1), "1.0 GiB", "not 1024.0 MiB");
}

/* A BAR window that needs a little more than 128 GiB must not read as needing 128 GiB. */
Test(log, just_over_a_whole_unit_says_what_is_over)
{
	cr_assert_str_eq(size((128ull << 30) + (48ull << 20)), "128 GiB + 48 MiB");
	cr_assert_str_eq(size((128ull << 30) + (48ull << 20) + 1), "128 GiB + 49 MiB",
			 "the rest rounded up");
	cr_assert_str_eq(size((2ull << 20) + 1), "2 MiB + 1 KiB");
	cr_assert_str_eq(size((1ull << 30) + (51ull << 20)), "1 GiB + 51 MiB", "under a twentieth");
	cr_assert_str_eq(size((1ull << 30) + (52ull << 20)), "1.1 GiB", "a twentieth or more");
}

Test(log, a_short_buffer_is_cut_not_overrun)
{
	char buf[4] = "xxx";

	cr_assert_eq(log_fmt_size(buf, sizeof(buf), 128ull << 30), buf);
	cr_assert_str_eq(buf, "128");
}

static time_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* How many of n calls on rl pass, tried again if a second boundary fell inside. */
static unsigned passes(struct log_ratelimit *rl, unsigned n)
{
	for (;;) {
		time_t t = now_s();
		unsigned got = 0;

		*rl = (struct log_ratelimit){ 0 };
		for (unsigned i = 0; i < n; i++)
			got += log_ratelimit(rl);
		if (now_s() == t)
			return got;
	}
}

Test(log, a_burst_per_second_then_silence)
{
	struct log_ratelimit rl;

	cr_assert_eq(passes(&rl, 100), 10);
}

Test(log, each_device_has_its_own_budget)
{
	struct log_ratelimit noisy, quiet = { 0 };

	cr_assert_eq(passes(&noisy, 100), 10);
	cr_assert(log_ratelimit(&quiet), "a noisy device does not silence another");
}
