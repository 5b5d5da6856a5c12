// SPDX-License-Identifier: MIT
#include "size.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <strings.h>

#include "layout.h"

int size_parse(const char *s, uint64_t *out)
{
	char *end;
	uint64_t mult = SZ_1M;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);

	if (errno)
		return -ERANGE;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'K': mult = SZ_1K; end++; break;
	case 'M': mult = SZ_1M; end++; break;
	case 'G': mult = SZ_1G; end++; break;
	case 'T': mult = SZ_1G * 1024; end++; break;
	default: return -EINVAL;
	}
	if (*end && strcasecmp(end, "iB") != 0 && strcasecmp(end, "B") != 0)
		return -EINVAL;
	if (v > UINT64_MAX / mult)
		return -ERANGE;
	*out = v * mult;
	return 0;
}
