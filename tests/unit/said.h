/* SPDX-License-Identifier: MIT */
#ifndef TESTS_UNIT_SAID_H
#define TESTS_UNIT_SAID_H

/*
 * What the code under test said on stderr, for tests that check its lines:
 * said_begin() in a test's .init redirects stderr through criterion,
 * said() returns what came since the last call (malloc'd), and said_end()
 * in .fini gives the real stderr back, so that what LeakSanitizer reports
 * at exit is seen.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <unistd.h>

static int said_real_stderr = -1;

static inline void said_begin(void)
{
	said_real_stderr = dup(STDERR_FILENO);
	cr_assert_geq(said_real_stderr, 0);
	cr_redirect_stderr();
}

static inline void said_end(void)
{
	fflush(stderr);
	dup2(said_real_stderr, STDERR_FILENO);
	close(said_real_stderr);
}

static inline char *said(void)
{
	char *buf = NULL, line[1024];
	size_t len;
	FILE *all = open_memstream(&buf, &len), *err;

	fflush(stderr);
	err = cr_get_redirected_stderr();
	while (fgets(line, sizeof(line), err))
		fputs(line, all);
	clearerr(err);
	fclose(all);
	return buf;
}

#endif
