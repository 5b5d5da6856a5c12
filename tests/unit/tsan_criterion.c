// SPDX-License-Identifier: MIT
/*
 * Linked into every unit test of a ThreadSanitizer build (-Db_sanitize=thread).
 *
 * Criterion's runner (BoxFort) shares an arena with each test's process and
 * places it at a random address it draws with rand_r(): BoxFort's base
 * 0x2000'0000'0000 plus the draw (22 bits) times 16 MiB. TSan keeps most of
 * that span for its shadow and refuses the mapping, so every test binary
 * would abort at start ("Could not initialize inheritable arena",
 * Criterion issue 274). These draws put the arena in
 * 0x5660'0000'0000..0x5680'0000'0000, the top of the span TSan leaves to PIE
 * programs, above where the kernel loads them. Each draw differs: BoxFort
 * draws again when the place is taken.
 */
#include <stdatomic.h>
#include <stdlib.h>

#define ARENA_DRAW_FIRST 0x366000 /* (0x5660'0000'0000 - 0x2000'0000'0000) / 16 MiB */
#define ARENA_DRAWS      32       /* 512 MiB apart: up to 0x567f'0000'0000 */

int rand_r(unsigned int *seed)
{
	static atomic_uint n;

	(void)seed;
	return ARENA_DRAW_FIRST + (int)(atomic_fetch_add(&n, 1) % ARENA_DRAWS) * 0x100;
}

/* A race must fail its test: by default TSan reports it and the test still passes. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "halt_on_error=1";
}
