// SPDX-License-Identifier: MIT
#include "pci_addr.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

bool host_is_bdf(const char *s)
{
	static const char shape[] = "xxxx:xx:xx.x";

	if (strlen(s) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; shape[i]; i++) {
		if (shape[i] == 'x' ? !isxdigit((unsigned char)s[i]) : s[i] != shape[i])
			return false;
	}
	return s[11] <= '7';
}

int host_parse_bdf(const char *arg, char out[HOST_BDF_LEN])
{
	char tmp[HOST_BDF_LEN];
	size_t len = strlen(arg);

	if (len == 7)
		snprintf(tmp, sizeof(tmp), "0000:%s", arg);
	else if (len == 12)
		memcpy(tmp, arg, 13);
	else
		return -EINVAL;
	for (char *p = tmp; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!host_is_bdf(tmp))
		return -EINVAL;
	memcpy(out, tmp, HOST_BDF_LEN);
	return 0;
}

bool host_same_slot(const char *a, const char *b)
{
	return !strncmp(a, b, 10);
}
