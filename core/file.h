/* SPDX-License-Identifier: MIT */
#ifndef CORE_FILE_H
#define CORE_FILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Files the tools change on the host (/etc/default/grub, the state of
 * `vmm host bind`, a VM's UEFI variables) are replaced whole, never
 * rewritten in place: a full disk or a crash half-way leaves the old file
 * or the new one, not a cut-off mix that the next boot would read.
 */

/*
 * Writes all of buf to fd, again after a short write or EINTR. -errno; a
 * write that stops with nothing written and no error says -ENOSPC, so the
 * error is never a stale errno, and never 0 for bytes not written.
 */
int file_write_all(int fd, const void *buf, size_t len) __attribute__((warn_unused_result));

/*
 * Replaces path with len bytes of data: written to a temporary file in the
 * same directory, synced, renamed over path, and the directory synced.
 * An existing path keeps its mode and owner (and a symbolic link stays,
 * its target is replaced); a new one gets mode, exactly (no umask). On any
 * error, 0 else -errno, path is as it was and no temporary file remains.
 */
int file_replace(const char *path, const void *data, size_t len, mode_t mode)
	__attribute__((warn_unused_result));

/*
 * Syncs the directory holding path, so that a rename, creation or removal
 * of path survives a crash. 0 or -errno.
 */
int file_fsync_dir(const char *path) __attribute__((warn_unused_result));

#endif
