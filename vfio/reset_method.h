/* SPDX-License-Identifier: MIT */
#ifndef VFIO_RESET_METHOD_H
#define VFIO_RESET_METHOD_H

/*
 * sysfs reset_method of a PCI function (Linux 5.15 and later): the methods
 * the kernel offers for it, space-separated, in the order it tries them
 * ("flr bus"). Writing a list there (root) makes the kernel's next reset
 * of the function try only those; writing the old list back restores it.
 * `vmm run` narrows it to one method for the moment of a reset (reset=),
 * `vmm bench vfio` and `vmm bench reset` for a whole series of them.
 */

#include <stddef.h>

/* bdf's methods into buf (0, or -errno: -ENOENT when the kernel has no such file). */
int vfio_reset_methods_read(const char *bdf, char *buf, size_t len);
/* Writes methods there; 0 or -errno (the kernel refuses a method it does not offer: -EINVAL). */
int vfio_reset_methods_write(const char *bdf, const char *methods);
/* The same under sysroot root ("" or "/": the real one), for tests' fake trees. */
int vfio_reset_methods_read_at(const char *root, const char *bdf, char *buf, size_t len);
int vfio_reset_methods_write_at(const char *root, const char *bdf, const char *methods);

#endif
