/* SPDX-License-Identifier: MIT */
#ifndef CORE_SIZE_H
#define CORE_SIZE_H

#include <stdint.h>

/*
 * Parses a size such as 512M, 2G, 1024K or 4096 (no suffix: MiB, as in
 * QEMU's -m). Returns 0 or -EINVAL; -ERANGE on overflow. For `vmm run
 * --memory` and `vmm host check --memory` alike.
 */
int size_parse(const char *s, uint64_t *out);

#endif
