// SPDX-License-Identifier: MIT
/*
 * The CFI flash as OVMF probes and drives it, what lands in the backing
 * file and when, read-only images, refused images, and hostile guests.
 */
#include <criterion/criterion.h>

#include "said.h"
#include <criterion/redirect.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "devices/devices.h"
#include "core/log.h"

#define SECTOR PFLASH_SECTOR_SIZE
#define OVMF_VARS "/usr/share/OVMF/OVMF_VARS_4M.fd"

#define SR_READY     0x80
#define SR_ERASE_ERR 0x20
#define SR_PROG_ERR  0x10
#define SR_LOCKED    0x02

static char dir[64];
static char path[128];
static char shm_path[64]; /* a tmpfs file a test made, removed by teardown */
static struct pflash *pf;

/* ---- helpers ---- */

static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i * 131 + (i >> 9) + 0x5a);
}

static void write_file(const char *p, const uint8_t *buf, size_t len)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	cr_assert_geq(fd, 0, "%s: %s", p, strerror(errno));
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	cr_assert_eq(close(fd), 0);
}

/* An image with the pattern, its first 16 bytes zero as in a firmware volume. */
static uint8_t *make_image(const char *p, size_t len)
{
	uint8_t *buf = malloc(len);

	cr_assert_not_null(buf);
	for (size_t i = 0; i < len; i++)
		buf[i] = i < 16 ? 0 : pattern(i);
	write_file(p, buf, len);
	return buf;
}

static uint8_t *read_whole(const char *p, size_t len)
{
	uint8_t *buf = malloc(len + 1);
	int fd = open(p, O_RDONLY);

	cr_assert_not_null(buf);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, buf, len + 1, 0), (ssize_t)len, "file size changed");
	close(fd);
	return buf;
}

static uint8_t file_byte(const char *p, uint64_t off)
{
	uint8_t b;
	int fd = open(p, O_RDONLY);

	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &b, 1, (off_t)off), 1);
	close(fd);
	return b;
}

static struct pflash *open_ok(const char *p, bool readonly)
{
	const char *why = NULL;
	struct pflash *f = pflash_open(p, readonly, &why);

	cr_assert_not_null(f, "pflash_open(%s): %s", p, why ? why : "?");
	return f;
}

static uint64_t rd(struct pflash *f, uint64_t off, unsigned size)
{
	return pflash_ops.read(f, off, size);
}

static uint8_t rd8(struct pflash *f, uint64_t off)
{
	return (uint8_t)rd(f, off, 1);
}

static void wr(struct pflash *f, uint64_t off, unsigned size, uint64_t val)
{
	pflash_ops.write(f, off, size, val);
}

static void wr8(struct pflash *f, uint64_t off, uint8_t val)
{
	wr(f, off, 1, val);
}

static void setup(void)
{
	strcpy(dir, "/tmp/test_pflash.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vars.fd", dir);
	pf = NULL;
}

static void teardown(void)
{
	char cmd[96];

	pflash_close(pf);
	if (shm_path[0])
		unlink(shm_path);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(pflash, .init = setup, .fini = teardown);

/* ---- OVMF's probe, as QemuFlashDetected does it ---- */

enum probe_result { PROBE_NO_LOCATION, PROBE_RAM, PROBE_ROM, PROBE_FLASH, PROBE_FLASH_WP,
		    PROBE_UNKNOWN };

static enum probe_result ovmf_probe(struct pflash *f)
{
	uint64_t off;
	uint8_t orig, probe;

	for (off = 0; off < SECTOR; off++) {
		probe = rd8(f, off);
		if (probe != 0x50 && probe != 0x70 && probe != 0x00)
			break;
	}
	if (off >= SECTOR)
		return PROBE_NO_LOCATION;
	orig = rd8(f, off);
	wr8(f, off, 0x50);
	probe = rd8(f, off);
	if (orig != 0x50 && probe == 0x50) {
		wr8(f, off, orig);
		return PROBE_RAM;
	}
	wr8(f, off, 0x70);
	probe = rd8(f, off);
	if (probe == orig)
		return PROBE_ROM;
	if (probe == 0x70) {
		wr8(f, off, orig);
		return PROBE_RAM;
	}
	if (probe != 0x00)
		return PROBE_UNKNOWN;
	/* Newer OVMF: program the byte over itself; bit 4 says write-protected. */
	wr8(f, off, 0x10);
	wr8(f, off, orig);
	wr8(f, off, 0x70);
	probe = rd8(f, off);
	wr8(f, off, 0xff);
	return probe & 0x10 ? PROBE_FLASH_WP : PROBE_FLASH;
}

/* QemuFlashWrite: 0x10 and the byte, for each byte; then 0xFF once. */
static void ovmf_write(struct pflash *f, uint64_t off, const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		wr8(f, off + i, 0x10);
		wr8(f, off + i, buf[i]);
	}
	if (len)
		wr8(f, off + len - 1, 0xff);
}

/* QemuFlashEraseBlock. */
static void ovmf_erase(struct pflash *f, uint64_t lba)
{
	wr8(f, lba * SECTOR, 0x20);
	wr8(f, lba * SECTOR, 0xd0);
}

/* ---- CFI ---- */

static void check_cfi(struct pflash *f, uint64_t size)
{
	uint64_t blocks, block_size;

	wr8(f, 0, 0x98);
	cr_assert_eq(rd8(f, 0x10), 'Q');
	cr_assert_eq(rd8(f, 0x11), 'R');
	cr_assert_eq(rd8(f, 0x12), 'Y');
	cr_assert_eq(rd(f, 0x13, 2), 0x0001, "Intel/Sharp extended command set");
	cr_assert_eq(rd(f, 0x15, 2), 0x0031);
	cr_assert_eq(rd(f, 0x27, 1) < 64, 1);
	cr_assert_geq(1ULL << rd8(f, 0x27), size, "device size 2^n holds the image");
	cr_assert_lt(1ULL << rd8(f, 0x27), 2 * size);
	cr_assert_eq(rd8(f, 0x2c), 1, "one erase block region");
	blocks = rd(f, 0x2d, 2) + 1;
	block_size = rd(f, 0x2f, 2) * 256;
	cr_assert_eq(block_size, SECTOR);
	cr_assert_eq(blocks * block_size, size);
	cr_assert_eq(rd8(f, 0x31), 'P');
	cr_assert_eq(rd8(f, 0x32), 'R');
	cr_assert_eq(rd8(f, 0x33), 'I');
	cr_assert_eq(rd(f, 0x10, 4), 0x01595251, "'QRY' and 0x01 in one 32-bit read");
	cr_assert_eq(rd8(f, 0xf0), 0, "past the table");
	wr8(f, 0, 0xff);
}

Test(pflash, cfi_query_4m_image)
{
	uint8_t *img = make_image(path, 4 << 20);

	pf = open_ok(path, false);
	cr_assert_eq(pflash_size(pf), 4 << 20);
	check_cfi(pf, 4 << 20);
	cr_assert_eq(rd8(pf, 0x27), pattern(0x27), "read array again after 0xFF");
	cr_assert_eq(memcmp(pflash_data(pf), img, 4 << 20), 0);
	free(img);
}

Test(pflash, cfi_query_ovmf_vars_size)
{
	const size_t size = 0x84000; /* OVMF_VARS_4M.fd: not a power of two */
	uint8_t *img = make_image(path, size);

	pf = open_ok(path, false);
	check_cfi(pf, size);
	cr_assert_eq(rd8(pf, 0x1010), pattern(0x1010), "back in read-array mode");
	free(img);
}

Test(pflash, read_identifier)
{
	free(make_image(path, 16 * SECTOR));
	pf = open_ok(path, false);
	wr8(pf, 0, 0x90);
	cr_assert_eq(rd8(pf, 0), PFLASH_VENDOR_ID);
	cr_assert_eq(rd8(pf, 1), PFLASH_DEVICE_ID);
	cr_assert_eq(rd8(pf, 3 * SECTOR + 2), 0, "block unlocked");
	wr8(pf, 0, 0xff);
	cr_assert_eq(rd8(pf, 1), 0, "read array again: the image's byte 1");
	cr_assert_eq(rd8(pf, 17), pattern(17));
}

/* ---- OVMF's probe ---- */

static void probe_keeps_contents(const char *p, size_t size, const uint8_t *img)
{
	uint8_t *now = read_whole(p, size);

	cr_assert_eq(memcmp(now, img, size), 0, "the probe changed the file");
	cr_assert_eq(memcmp(pflash_data(pf), img, size), 0);
	free(now);
}

Test(pflash, ovmf_probe_finds_writable_flash)
{
	uint8_t *img = make_image(path, 32 * SECTOR);

	pf = open_ok(path, false);
	cr_assert_eq(ovmf_probe(pf), PROBE_FLASH);
	cr_assert(pflash_array_mode(pf), "the probe leaves read-array mode");
	cr_assert_eq(rd(pf, 16, 4), pattern(16) | pattern(17) << 8 | pattern(18) << 16 |
		     (uint32_t)pattern(19) << 24);
	probe_keeps_contents(path, 32 * SECTOR, img);
	free(img);
}

Test(pflash, ovmf_probe_on_stock_vars)
{
	uint8_t *img;
	int fd = open(OVMF_VARS, O_RDONLY);

	if (fd < 0)
		cr_skip_test("%s: %s (Debian's ovmf package)", OVMF_VARS, strerror(errno));
	img = malloc(0x84000);
	cr_assert_eq(pread(fd, img, 0x84000, 0), 0x84000);
	close(fd);
	write_file(path, img, 0x84000);
	pf = open_ok(path, false);
	cr_assert_eq(ovmf_probe(pf), PROBE_FLASH);
	probe_keeps_contents(path, 0x84000, img);
	/* The store as OVMF reads it: a firmware volume, "_FVH" at 0x28. */
	cr_assert_eq(memcmp((const uint8_t *)pflash_data(pf) + 0x28, "_FVH", 4), 0);
	cr_assert_eq(rd(pf, 0x28, 4), 0x4856465f);
	free(img);
}

Test(pflash, ovmf_probe_sees_readonly_flash_as_write_protected)
{
	uint8_t *img = make_image(path, 8 * SECTOR);

	pf = open_ok(path, true);
	cr_assert_eq(ovmf_probe(pf), PROBE_FLASH_WP);
	probe_keeps_contents(path, 8 * SECTOR, img);
	free(img);
}

/* ---- program, status, erase ---- */

Test(pflash, program_status_and_read_back)
{
	uint8_t *img = make_image(path, 8 * SECTOR);
	const uint8_t *data;

	pf = open_ok(path, false);
	data = pflash_data(pf);
	wr8(pf, 0, 0x50);
	wr8(pf, 0x123, 0x10);
	cr_assert_not(pflash_array_mode(pf));
	wr8(pf, 0x123, 0xa5);
	cr_assert_eq(rd8(pf, 0x123), SR_READY, "status after a program");
	cr_assert_eq(rd8(pf, 0x7777), SR_READY, "status reads the same anywhere");
	wr8(pf, 0, 0x70);
	cr_assert_eq(rd(pf, 0, 2), SR_READY | SR_READY << 8);
	wr8(pf, 0, 0xff);
	cr_assert_eq(rd8(pf, 0x123), 0xa5);
	cr_assert_eq(data[0x123], 0xa5, "pflash_data() follows");
	cr_assert_eq(rd8(pf, 0x122), pattern(0x122));
	cr_assert_eq(rd8(pf, 0x124), pattern(0x124));

	/* Word program: 0x40, then a 32-bit (and a 64-bit) data write. */
	wr8(pf, 0x200, 0x40);
	wr(pf, 0x200, 4, 0x11223344);
	wr8(pf, 0x200, 0xff);
	cr_assert_eq(rd(pf, 0x200, 4), 0x11223344);
	cr_assert_eq(data[0x200], 0x44);
	cr_assert_eq(data[0x204], pattern(0x204));
	wr8(pf, 0x300, 0x10);
	wr(pf, 0x300, 8, 0x0102030405060708ULL);
	wr8(pf, 0, 0xff);
	cr_assert_eq(rd(pf, 0x300, 8), 0x0102030405060708ULL);

	/* A wide program may not spill into the next block. */
	wr8(pf, SECTOR - 2, 0x40);
	wr(pf, SECTOR - 2, 4, 0xaabbccdd);
	cr_assert_eq(rd8(pf, 0), SR_READY | SR_PROG_ERR);
	cr_assert_eq(memcmp(data + SECTOR - 2, img + SECTOR - 2, 4), 0);

	/* Clear status: 0x00, with no ready bit (what OVMF's probe insists on). */
	wr8(pf, 0, 0x50);
	wr8(pf, 0, 0x70);
	cr_assert_eq(rd8(pf, 0), 0x00);
	wr8(pf, 0, 0xff);
	free(img);
}

Test(pflash, ovmf_write_sequence)
{
	uint8_t buf[300];

	free(make_image(path, 8 * SECTOR));
	pf = open_ok(path, false);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i ^ 0xc3);
	ovmf_write(pf, 3 * SECTOR - 100, buf, sizeof(buf)); /* across a block boundary */
	for (size_t i = 0; i < sizeof(buf); i++)
		cr_assert_eq(rd8(pf, 3 * SECTOR - 100 + i), buf[i], "byte %zu", i);
	cr_assert_eq(rd8(pf, 3 * SECTOR - 101), pattern(3 * SECTOR - 101));
	cr_assert_eq(rd8(pf, 3 * SECTOR + 200), pattern(3 * SECTOR + 200));
}

static void check_block(const uint8_t *buf, uint64_t block, bool erased)
{
	for (uint64_t i = block * SECTOR; i < (block + 1) * SECTOR; i++)
		cr_assert_eq(buf[i], erased ? 0xff : pattern(i), "byte %#llx",
			     (unsigned long long)i);
}

Test(pflash, erase_block)
{
	uint8_t *img = make_image(path, 8 * SECTOR), *file;

	pf = open_ok(path, false);
	/* Confirm at another address of the block than the setup. */
	wr8(pf, 2 * SECTOR + 0x10, 0x20);
	wr8(pf, 2 * SECTOR + 0xffe, 0xd0);
	cr_assert_eq(rd8(pf, 2 * SECTOR), SR_READY);
	wr8(pf, 0, 0xff);
	for (uint64_t i = 2 * SECTOR; i < 3 * SECTOR; i += 97)
		cr_assert_eq(rd8(pf, i), 0xff);
	cr_assert_eq(rd(pf, 3 * SECTOR - 8, 8), ~0ULL);
	check_block(pflash_data(pf), 2, true);
	check_block(pflash_data(pf), 1, false);
	check_block(pflash_data(pf), 3, false);
	file = read_whole(path, 8 * SECTOR);
	check_block(file, 2, true);
	check_block(file, 1, false);
	check_block(file, 3, false);
	free(file);

	/* OVMF's own erase, then its write into the erased block. */
	ovmf_erase(pf, 5);
	ovmf_write(pf, 5 * SECTOR + 8, (const uint8_t *)"abc", 3);
	cr_assert_eq(rd8(pf, 5 * SECTOR + 7), 0xff);
	cr_assert_eq(rd(pf, 5 * SECTOR + 8, 4), 0xff636261);
	free(img);
}

Test(pflash, erase_cancelled_or_botched)
{
	uint8_t *img = make_image(path, 4 * SECTOR);

	pf = open_ok(path, false);
	wr8(pf, SECTOR, 0x20);
	wr8(pf, SECTOR, 0xff); /* cancels */
	cr_assert_eq(rd8(pf, SECTOR + 1), pattern(SECTOR + 1));
	wr8(pf, SECTOR, 0x20);
	wr8(pf, SECTOR, 0x42); /* not a confirm */
	cr_assert_eq(rd8(pf, SECTOR), SR_READY | SR_ERASE_ERR | SR_PROG_ERR);
	wr8(pf, 0, 0x50);
	cr_assert_eq(rd8(pf, SECTOR + 1), pattern(SECTOR + 1));
	cr_assert_eq(memcmp(pflash_data(pf), img, 4 * SECTOR), 0);
	free(img);
}

/* ---- the file ---- */

Test(pflash, file_holds_each_change_once_complete)
{
	struct pflash_stats st;

	free(make_image(path, 8 * SECTOR));
	pf = open_ok(path, false);
	wr8(pf, 0x456, 0x10);
	wr8(pf, 0x456, 0x3c);
	cr_assert_eq(file_byte(path, 0x456), 0x3c, "written through before the write returns");
	pflash_get_stats(pf, &st);
	cr_assert_eq(st.syncs, 0, "the sync waits for the guest to look");
	cr_assert_eq(rd8(pf, 0x456) & SR_READY, SR_READY);
	pflash_get_stats(pf, &st);
	cr_assert_eq(st.syncs, 1, "durable before the guest saw the ready bit");
	cr_assert_eq(st.programs, 1);

	ovmf_erase(pf, 6);
	cr_assert_eq(file_byte(path, 6 * SECTOR + 100), 0xff);
	cr_assert_eq(rd8(pf, 0) & SR_READY, SR_READY);
	pflash_get_stats(pf, &st);
	cr_assert_eq(st.syncs, 2);
	cr_assert_eq(st.erases, 1);
}

Test(pflash, ovmf_write_costs_one_sync)
{
	uint8_t buf[512];
	struct pflash_stats st;

	free(make_image(path, 8 * SECTOR));
	pf = open_ok(path, false);
	memset(buf, 0x77, sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++) {
		wr8(pf, SECTOR + i, 0x10);
		wr8(pf, SECTOR + i, buf[i]);
	}
	pflash_get_stats(pf, &st);
	cr_assert_eq(st.programs, sizeof(buf));
	cr_assert_eq(st.syncs, 0);
	cr_assert_eq(file_byte(path, SECTOR + 511), 0x77);
	wr8(pf, SECTOR + 511, 0xff); /* OVMF's end of write: it may read now */
	pflash_get_stats(pf, &st);
	cr_assert_eq(st.syncs, 1);
	cr_assert(pflash_array_mode(pf));
}

/*
 * What a user would check: the guest programs a byte, sees the ready bit,
 * and the VMM is killed with SIGKILL right then. The byte is in the file.
 */
Test(pflash, survives_sigkill_after_completion)
{
	int pipefd[2];
	pid_t pid;
	char c;
	int status;
	struct pollfd pfd;

	free(make_image(path, 8 * SECTOR));
	cr_assert_eq(pipe(pipefd), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct pflash *child = pflash_open(path, false, NULL);
		uint8_t sr;

		alarm(20); /* never outlive a broken parent */
		if (!child)
			_exit(2);
		wr8(child, 3 * SECTOR, 0x20);
		wr8(child, 3 * SECTOR, 0xd0);
		wr8(child, 3 * SECTOR + 0x42, 0x10);
		wr8(child, 3 * SECTOR + 0x42, 0x5e);
		do
			sr = rd8(child, 0);
		while (!(sr & SR_READY));
		if (sr != SR_READY)
			_exit(3);
		if (write(pipefd[1], "d", 1) != 1)
			_exit(4);
		for (;;)
			pause();
	}
	close(pipefd[1]);
	pfd = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
	cr_assert_eq(poll(&pfd, 1, 10000), 1, "the child never saw its program complete");
	cr_assert_eq(read(pipefd[0], &c, 1), 1);
	cr_assert_eq(kill(pid, SIGKILL), 0);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	close(pipefd[0]);

	cr_assert_eq(file_byte(path, 3 * SECTOR + 0x42), 0x5e);
	cr_assert_eq(file_byte(path, 3 * SECTOR + 0x41), 0xff, "the erase is there too");
	cr_assert_eq(file_byte(path, 2 * SECTOR + 0x42), pattern(2 * SECTOR + 0x42));
	/* And a new VMM opens it (the lock went with the killed process). */
	pf = open_ok(path, false);
	cr_assert_eq(rd8(pf, 3 * SECTOR + 0x42), 0x5e);
}

/* ---- read-only ---- */

/* 0, or which check failed (also usable in a child process). */
static int readonly_refuses(struct pflash *f)
{
	wr8(f, 0x100, 0x10);
	wr8(f, 0x100, 0x00);
	if (rd8(f, 0x100) != (SR_READY | SR_PROG_ERR | SR_LOCKED))
		return 1;
	wr8(f, 0, 0x50);
	if (rd8(f, 0x100) != pattern(0x100))
		return 2;
	ovmf_erase(f, 1);
	if (rd8(f, SECTOR) != (SR_READY | SR_ERASE_ERR | SR_LOCKED))
		return 3;
	wr8(f, 0, 0xff);
	if (rd8(f, SECTOR) != pattern(SECTOR))
		return 4;
	return 0;
}

static bool mapping_is_readonly(const void *p)
{
	char line[512];
	bool ro = false, found = false;
	FILE *maps = fopen("/proc/self/maps", "r");

	cr_assert_not_null(maps);
	while (fgets(line, sizeof(line), maps)) {
		unsigned long lo, hi;
		char perms[5];

		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) != 3)
			continue;
		if ((unsigned long)p >= lo && (unsigned long)p < hi) {
			found = true;
			ro = perms[0] == 'r' && perms[1] == '-';
		}
	}
	fclose(maps);
	cr_assert(found);
	return ro;
}

Test(pflash, readonly_refuses_program_and_erase)
{
	uint8_t *img = make_image(path, 4 * SECTOR), *file;
	struct pflash_stats st;

	pf = open_ok(path, true);
	cr_assert(pflash_readonly(pf));
	cr_assert_eq(readonly_refuses(pf), 0);
	wr8(pf, 0, 0x90);
	cr_assert_eq(rd8(pf, SECTOR + 2), 1, "blocks report locked");
	wr8(pf, 0, 0xff);
	file = read_whole(path, 4 * SECTOR);
	cr_assert_eq(memcmp(file, img, 4 * SECTOR), 0, "file unchanged");
	cr_assert_eq(memcmp(pflash_data(pf), img, 4 * SECTOR), 0);
	cr_assert(mapping_is_readonly(pflash_data(pf)), "a read-only image is mapped read-only");
	pflash_get_stats(pf, &st);
	cr_assert_eq(st.errors, 2);
	cr_assert_eq(st.programs + st.erases + st.syncs, 0);
	free(file);
	free(img);
}

/* A VARS file this user cannot write: read-only, with the error bits. */
Test(pflash, unwritable_file_becomes_readonly)
{
	uint8_t *img = make_image(path, 4 * SECTOR), *file;
	pid_t pid;
	int status;

	cr_assert_eq(chmod(path, 0444), 0);
	cr_assert_eq(chmod(dir, 0755), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct pflash *child;

		/* root writes anything: become somebody who cannot. */
		if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(10);
		child = pflash_open(path, false, NULL);
		if (!child)
			_exit(11);
		if (!pflash_readonly(child))
			_exit(12);
		status = readonly_refuses(child);
		pflash_close(child);
		_exit(status ? 20 + status : 0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "child died");
	cr_assert_eq(WEXITSTATUS(status), 0, "child failed with %d", WEXITSTATUS(status));
	file = read_whole(path, 4 * SECTOR);
	cr_assert_eq(memcmp(file, img, 4 * SECTOR), 0);
	free(file);
	free(img);
}

/* ---- a sync that fails ---- */

/*
 * The pflash test links with -Wl,--wrap=fdatasync: the device's syncs come
 * here, and fail with sync_errno while it is set (a disk that stops
 * taking writes: EIO, ENOSPC on thin storage).
 */
int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);

static int sync_errno;
static unsigned syncs_failed;

int __wrap_fdatasync(int fd)
{
	if (!sync_errno)
		return __real_fdatasync(fd);
	syncs_failed++;
	errno = sync_errno;
	return -1;
}

static void setup_said(void)
{
	sync_errno = 0;
	syncs_failed = 0;
	said_begin();
}

static void teardown_said(void)
{
	said_end();
}


static unsigned count_lines(const char *text, const char *what)
{
	unsigned n = 0;

	for (const char *p = text; (p = strstr(p, what)); p++)
		n++;
	return n;
}

/*
 * OVMF's variable update, erase then program, whose sync fails: the guest
 * reads back the block as it was (a firmware that verifies sees it), the
 * file holds it as it was, one line names the file and the error, and
 * the flash then fails every write, so that OVMF's probe at the next boot
 * finds it write-protected instead of trusting a store that lost a write.
 */
Test(pflash, failed_sync_fails_the_write_where_the_firmware_looks,
     .init = setup_said, .fini = teardown_said)
{
	uint8_t *img = make_image(path, 8 * SECTOR), *file, var[64];
	const uint8_t *data;
	struct pflash_stats st;
	char *text, *want;

	for (size_t i = 0; i < sizeof(var); i++)
		var[i] = (uint8_t)~pattern(2 * SECTOR + 0x100 + i);
	pf = open_ok(path, false);
	cr_assert_eq(ovmf_probe(pf), PROBE_FLASH);
	sync_errno = EIO;
	ovmf_erase(pf, 2);
	ovmf_write(pf, 2 * SECTOR + 0x100, var, sizeof(var));
	cr_assert_eq(syncs_failed, 1);

	/* What QemuFlashRead (a plain copy, in read-array mode) gets back: the old block. */
	data = pflash_data(pf);
	for (uint64_t i = 0; i < SECTOR; i++) {
		uint64_t off = 2 * SECTOR + i;

		cr_assert_eq(rd8(pf, off), img[off], "byte %#llx reads %#x, not the %#x it held",
			     (unsigned long long)off, rd8(pf, off), img[off]);
		cr_assert_eq(data[off], img[off]);
	}
	file = read_whole(path, 8 * SECTOR);
	cr_assert_eq(memcmp(file, img, 8 * SECTOR), 0, "the file holds the block as it was");
	free(file);
	text = said();
	cr_assert(asprintf(&want, "pflash: %s: fdatasync failed (%s)", path, strerror(EIO)) > 0);
	cr_assert_eq(count_lines(text, want), 1, "not one line \"%s\":\n%s", want, text);
	free(want);
	free(text);

	/* The disk is fine again, the device does not believe it: writes fail, loudly in status. */
	sync_errno = 0;
	wr8(pf, 0, 0x50);
	wr8(pf, 2 * SECTOR, 0x10);
	wr8(pf, 2 * SECTOR, 0x00);
	cr_assert_eq(rd8(pf, 2 * SECTOR), SR_READY | SR_PROG_ERR);
	wr8(pf, 0, 0x50);
	ovmf_erase(pf, 3);
	cr_assert_eq(rd8(pf, 0), SR_READY | SR_ERASE_ERR);
	wr8(pf, 0, 0xff);
	cr_assert_eq(rd8(pf, 2 * SECTOR), img[2 * SECTOR]);
	cr_assert_eq(rd8(pf, 3 * SECTOR + 5), img[3 * SECTOR + 5]);
	cr_assert_eq(ovmf_probe(pf), PROBE_FLASH_WP, "the next boot's probe must see it");
	pflash_get_stats(pf, &st);
	cr_assert_geq(st.errors, 3);
	file = read_whole(path, 8 * SECTOR);
	cr_assert_eq(memcmp(file, img, 8 * SECTOR), 0);
	text = said();
	cr_assert_eq(count_lines(text, "fdatasync"), 0, "said again:\n%s", text);
	free(text);
	free(file);
	free(img);
}

/* Syncs that succeed keep what was written: the undo is only for a failed one. */
Test(pflash, good_syncs_keep_every_write, .init = setup_said, .fini = teardown_said)
{
	uint8_t *img = make_image(path, 8 * SECTOR), var[16];

	memset(var, 0xa5, sizeof(var));
	pf = open_ok(path, false);
	ovmf_erase(pf, 1);
	ovmf_write(pf, SECTOR, var, sizeof(var));
	ovmf_write(pf, 4 * SECTOR + 7, var, sizeof(var));
	sync_errno = ENOSPC;
	ovmf_write(pf, 5 * SECTOR, var, sizeof(var));
	cr_assert_eq(syncs_failed, 1);
	cr_assert_eq(rd8(pf, SECTOR), 0xa5, "a write synced before the failure is kept");
	cr_assert_eq(rd8(pf, SECTOR + 16), 0xff);
	cr_assert_eq(rd8(pf, 4 * SECTOR + 7), 0xa5);
	cr_assert_eq(rd8(pf, 5 * SECTOR), img[5 * SECTOR], "the one the failed sync covered is undone");
	cr_assert_eq(file_byte(path, 5 * SECTOR), img[5 * SECTOR]);
	cr_assert_eq(file_byte(path, 4 * SECTOR + 7), 0xa5);
	free(img);
}

/* ---- images refused ---- */

static void refused(const char *p, int err, const char *reason)
{
	const char *why = NULL;
	struct pflash *f;

	errno = 0;
	f = pflash_open(p, false, &why);
	cr_assert_null(f, "%s opened", p);
	cr_assert_eq(errno, err, "%s: errno %d, not %d", p, errno, err);
	cr_assert_not_null(why);
	cr_assert_not_null(strstr(why, p), "'%s' names the file", why);
	cr_assert_not_null(strstr(why, reason), "'%s' says '%s'", why, reason);
}

static void make_sized(const char *p, off_t size)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, size), 0);
	close(fd);
}

Test(pflash, bad_images_refused_with_reason)
{
	char p[160];

	snprintf(p, sizeof(p), "%s/empty.fd", dir);
	make_sized(p, 0);
	refused(p, EINVAL, "empty");
	snprintf(p, sizeof(p), "%s/truncated.fd", dir);
	make_sized(p, 0x84000 - 100);
	refused(p, EINVAL, "not a multiple of the 4096-byte flash sector");
	make_sized(p, SECTOR + 1);
	refused(p, EINVAL, "not a multiple");
	snprintf(p, sizeof(p), "%s/huge.fd", dir);
	make_sized(p, PFLASH_MAX_SIZE + SECTOR);
	refused(p, EFBIG, "larger than");
	snprintf(p, sizeof(p), "%s/missing.fd", dir);
	refused(p, ENOENT, "No such file");
	refused(dir, EISDIR, "Is a directory"); /* O_RDWR on a directory */
	cr_assert_null(pflash_open(dir, true, NULL));
	cr_assert_eq(errno, EINVAL, "read-only open of a directory: not a regular file");

	/* The largest allowed and the smallest allowed do open. */
	make_sized(p, PFLASH_MAX_SIZE);
	pflash_close(open_ok(p, false));
	make_sized(p, SECTOR);
	pflash_close(open_ok(p, false));
}

Test(pflash, one_writer_per_file)
{
	struct pflash *ro1, *ro2;

	free(make_image(path, 4 * SECTOR));
	pf = open_ok(path, false);
	refused(path, EBUSY, "in use");
	cr_assert_null(pflash_open(path, true, NULL), "no reader beside a writer");
	pflash_close(pf);
	pf = NULL;
	ro1 = open_ok(path, true);
	ro2 = open_ok(path, true);
	refused(path, EBUSY, "in use");
	pflash_close(ro1);
	pflash_close(ro2);
	pf = open_ok(path, false);
}

/* ---- hostile guests ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint64_t hostile_offset(uint64_t size)
{
	switch (rng() % 8) {
	case 0:
		return size - 1 - rng() % 8; /* straddling the end */
	case 1:
		return size + rng() % 64;
	case 2:
		return UINT64_MAX - rng() % 8;
	case 3:
		return (rng() % (size / SECTOR)) * SECTOR; /* block starts */
	default:
		return rng() % size;
	}
}

static uint64_t hostile_value(void)
{
	static const uint8_t cmds[] = { 0x10, 0x20, 0x40, 0x50, 0x70, 0x90, 0x98, 0xd0, 0xff,
					0x00, 0x60, 0xe8, 0xb0, 0xf0 };

	if (rng() % 3)
		return cmds[rng() % sizeof(cmds)] | (rng() % 4 ? 0 : rng() << 8);
	return rng();
}

/*
 * Random commands, data, offsets and sizes. Only the block a write
 * addresses may change, the device never crashes (run this under ASan),
 * and at the end the file and the device agree.
 */
Test(pflash, hostile_sequences)
{
	static const unsigned sizes[] = { 1, 1, 1, 2, 4, 8, 0, 3, 5, 16 };
	const uint64_t size = 16 * SECTOR;
	char p[160] = "/dev/shm/test_pflash.XXXXXX"; /* fdatasync is free on tmpfs */
	uint8_t *shadow, *file;
	const uint8_t *data;
	unsigned ops = 200000;
	struct pflash_stats st;
	int fd;

	log_threshold = LOG_ERR; /* the device's rate-limited complaints are expected */
	fd = mkstemp(p);
	if (fd < 0) {
		snprintf(p, sizeof(p), "%s/hostile.fd", dir);
		ops = 5000; /* a real disk: fewer syncs */
	} else {
		close(fd);
		snprintf(shm_path, sizeof(shm_path), "%s", p);
	}
	shadow = make_image(p, size);
	pf = open_ok(p, false);
	data = pflash_data(pf);
	for (unsigned n = 0; n < ops; n++) {
		uint64_t off = hostile_offset(size);
		unsigned sz = sizes[rng() % 10];

		if (rng() % 3 == 0) {
			uint64_t v = rd(pf, off, sz);

			if (off >= size || sz == 0 || sz > 8 || sz > size - off)
				cr_assert_eq(v, sz >= 8 ? ~0ULL : (1ULL << (8 * sz)) - 1,
					     "outside: all ones");
			continue;
		}
		wr(pf, off, sz, hostile_value());
		if (off < size) {
			uint64_t b = off & ~(SECTOR - 1);

			cr_assert_eq(memcmp(data, shadow, b), 0, "op %u: below block %#llx", n,
				     (unsigned long long)b);
			cr_assert_eq(memcmp(data + b + SECTOR, shadow + b + SECTOR,
					    size - b - SECTOR), 0, "op %u: above block %#llx", n,
				     (unsigned long long)b);
			memcpy(shadow + b, data + b, SECTOR);
		} else {
			cr_assert_eq(memcmp(data, shadow, size), 0, "op %u: write outside", n);
		}
	}
	cr_assert_eq(pflash_flush(pf), 0);
	pflash_get_stats(pf, &st);
	cr_assert_gt(st.programs, ops / 100, "the sequences did program");
	cr_assert_gt(st.erases, ops / 5000, "and erase");
	file = read_whole(p, size);
	cr_assert_eq(memcmp(file, data, size), 0, "file and device agree");
	wr8(pf, 0, 0xff);
	for (uint64_t i = 0; i < size; i += 61)
		cr_assert_eq(rd8(pf, i), file[i]);
	free(file);
	free(shadow);
}

/* ---- the mode hook (mapping the array into the guest) ---- */

struct mode_rec {
	int calls;
	bool array;
};

static void mode_rec_hook(void *opaque, bool array_mode)
{
	struct mode_rec *r = opaque;

	r->calls++;
	r->array = array_mode;
}

Test(pflash, mode_hook_follows_read_array)
{
	struct mode_rec rec = { 0, true };

	free(make_image(path, 4 * SECTOR));
	pf = open_ok(path, false);
	pflash_set_mode_hook(pf, mode_rec_hook, &rec);
	cr_assert_eq(rec.calls, 0);
	wr8(pf, 0, 0xff);
	cr_assert_eq(rec.calls, 0, "already in read-array mode");
	ovmf_write(pf, 0x40, (const uint8_t *)"xyz", 3);
	cr_assert_eq(rec.calls, 2, "left once, came back once");
	cr_assert(rec.array);
	wr8(pf, 0, 0x98);
	cr_assert_eq(rec.calls, 3);
	cr_assert_not(rec.array, "query mode: reads must reach the device");
	wr8(pf, 0, 0x50);
	cr_assert_eq(rec.calls, 4);
	cr_assert(rec.array);
	ovmf_erase(pf, 2);
	cr_assert_eq(rec.calls, 5);
	cr_assert_not(rec.array, "after an erase the status shows");
	pflash_set_mode_hook(pf, NULL, NULL);
	wr8(pf, 0, 0xff);
	cr_assert_eq(rec.calls, 5);
	cr_assert_eq(ovmf_probe(pf), PROBE_FLASH, "the probe works on after a hook");
}
