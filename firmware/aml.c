// SPDX-License-Identifier: MIT
#include "aml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Opcodes and prefixes (ACPI 6.x, 20.2). */
#define AML_ZERO          0x00
#define AML_ONE           0x01
#define AML_NAME          0x08
#define AML_BYTE_PREFIX   0x0a
#define AML_WORD_PREFIX   0x0b
#define AML_DWORD_PREFIX  0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX  0x0e
#define AML_SCOPE         0x10
#define AML_BUFFER        0x11
#define AML_PACKAGE       0x12
#define AML_DUAL_NAME     0x2e
#define AML_MULTI_NAME    0x2f
#define AML_EXT_PREFIX    0x5b
#define AML_DEVICE        0x82 /* after AML_EXT_PREFIX */
#define AML_ROOT          '\\'
#define AML_PARENT        '^'
#define AML_ONES          0xff
#define AML_METHOD        0x14
#define AML_ARG0          0x68 /* to Arg6, 0x6e */
#define AML_OR            0x7d
#define AML_CREATE_DWORD_FIELD 0x8a
#define AML_LEQUAL        0x93
#define AML_IF            0xa0
#define AML_ELSE          0xa1
#define AML_RETURN        0xa4
#define AML_METHOD_SERIALIZED 0x08 /* MethodFlags bit 3; bits 0-2 count the arguments */

/* Resource descriptor tags (ACPI 6.x, 6.4.2 and 6.4.3). */
#define RES_IRQ_NOFLAGS   0x22 /* small, IRQ, 2 bytes */
#define RES_IO            0x47 /* small, I/O port, 7 bytes */
#define RES_END_TAG       0x79 /* small, end tag, 1 byte */
#define RES_DWORD_SPACE   0x87
#define RES_WORD_SPACE    0x88
#define RES_EXT_IRQ       0x89
#define RES_QWORD_SPACE   0x8a

/* Address space descriptor fields. */
#define SPACE_MEMORY      0
#define SPACE_IO          1
#define SPACE_BUS         2
/* Producer (bit 0 clear: Linux only takes producers as bridge windows), fixed bounds. */
#define SPACE_PRODUCER_FIXED 0x0c
#define SPACE_IO_ENTIRE_RANGE 0x03
#define SPACE_MEM_RW      0x01
#define SPACE_MEM_CACHEABLE 0x02

#define PKGLEN_MAX        0x0fffffffu /* 28 bits */

void aml_init(struct aml *a)
{
	memset(a, 0, sizeof(*a));
}

void aml_free(struct aml *a)
{
	free(a->buf);
	aml_init(a);
}

static void aml_fail(struct aml *a, int err)
{
	if (!a->err)
		a->err = err;
}

static int aml_reserve(struct aml *a, size_t extra)
{
	size_t cap = a->cap ? a->cap : 256;
	uint8_t *p;

	if (a->err)
		return a->err;
	if (a->len + extra <= a->cap)
		return 0;
	while (cap < a->len + extra)
		cap *= 2;
	p = realloc(a->buf, cap);
	if (!p) {
		aml_fail(a, -ENOMEM);
		return -ENOMEM;
	}
	a->buf = p;
	a->cap = cap;
	return 0;
}

/* Inserts n bytes at pos, moving what follows: how PkgLengths go in after the body. */
static void aml_insert(struct aml *a, size_t pos, const uint8_t *p, size_t n)
{
	if (aml_reserve(a, n))
		return;
	memmove(a->buf + pos + n, a->buf + pos, a->len - pos);
	memcpy(a->buf + pos, p, n);
	a->len += n;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (aml_reserve(a, n))
		return;
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

static void aml_le(struct aml *a, uint64_t v, unsigned n)
{
	uint8_t b[8];

	for (unsigned i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	aml_bytes(a, b, n);
}

int aml_pkglen_encode(uint32_t value, uint8_t out[4])
{
	unsigned follow;

	if (value <= 0x3f) {
		out[0] = (uint8_t)value;
		return 1;
	}
	if (value > PKGLEN_MAX)
		return -E2BIG;
	follow = value <= 0xfff ? 1 : value <= 0xfffff ? 2 : 3;
	/* Lead byte: count of following bytes in 7:6, the low nibble in 3:0. */
	out[0] = (uint8_t)(follow << 6 | (value & 0xf));
	for (unsigned i = 0; i < follow; i++)
		out[1 + i] = (uint8_t)(value >> (4 + 8 * i));
	return (int)follow + 1;
}

/* The PkgLength counts itself, so its size depends on the body plus its own size. */
static void aml_pkglen_insert(struct aml *a, size_t mark)
{
	size_t body = a->len - mark;
	uint8_t enc[4];
	int n;

	if (a->err)
		return;
	for (n = 1; n <= 4; n++) {
		if (body + n <= PKGLEN_MAX && aml_pkglen_encode((uint32_t)(body + n), enc) == n)
			break;
	}
	if (n > 4) {
		aml_fail(a, -E2BIG);
		return;
	}
	aml_insert(a, mark, enc, (size_t)n);
}

static int int_encode(uint64_t v, uint8_t out[9])
{
	unsigned n;

	if (v == 0 || v == 1 || v == UINT64_MAX) {
		out[0] = v == 0 ? AML_ZERO : v == 1 ? AML_ONE : AML_ONES;
		return 1;
	}
	if (v <= 0xff) {
		out[0] = AML_BYTE_PREFIX;
		n = 1;
	} else if (v <= 0xffff) {
		out[0] = AML_WORD_PREFIX;
		n = 2;
	} else if (v <= 0xffffffff) {
		out[0] = AML_DWORD_PREFIX;
		n = 4;
	} else {
		out[0] = AML_QWORD_PREFIX;
		n = 8;
	}
	for (unsigned i = 0; i < n; i++)
		out[1 + i] = (uint8_t)(v >> (8 * i));
	return (int)n + 1;
}

void aml_integer(struct aml *a, uint64_t v)
{
	uint8_t enc[9];

	aml_bytes(a, enc, (size_t)int_encode(v, enc));
}

void aml_string(struct aml *a, const char *s)
{
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

static bool seg_char_ok(char c, bool lead)
{
	if ((c >= 'A' && c <= 'Z') || c == '_')
		return true;
	return !lead && c >= '0' && c <= '9';
}

/* One NameSeg of 1..4 characters at s, padded to 4 with '_'. */
static int seg_parse(const char *s, size_t len, char seg[4])
{
	if (len == 0 || len > 4)
		return -EINVAL;
	for (size_t i = 0; i < 4; i++) {
		if (i >= len) {
			seg[i] = '_';
			continue;
		}
		if (!seg_char_ok(s[i], i == 0))
			return -EINVAL;
		seg[i] = s[i];
	}
	return 0;
}

static void aml_segs_prefix(struct aml *a, unsigned nsegs)
{
	if (nsegs == 0)
		aml_byte(a, 0x00); /* NullName */
	else if (nsegs == 2)
		aml_byte(a, AML_DUAL_NAME);
	else if (nsegs > 2) {
		aml_byte(a, AML_MULTI_NAME);
		aml_byte(a, (uint8_t)nsegs);
	}
}

void aml_namestring(struct aml *a, const char *path)
{
	char segs[255][4];
	unsigned nsegs = 0;
	const char *p = path;

	if (*p == AML_ROOT)
		aml_byte(a, (uint8_t)*p++);
	else
		while (*p == AML_PARENT)
			aml_byte(a, (uint8_t)*p++);
	while (*p) {
		size_t len = strcspn(p, ".");

		if (nsegs == 255 || seg_parse(p, len, segs[nsegs])) {
			aml_fail(a, -EINVAL);
			return;
		}
		nsegs++;
		p += len;
		if (*p == '.' && *++p == '\0') {
			aml_fail(a, -EINVAL);
			return;
		}
	}
	aml_segs_prefix(a, nsegs);
	aml_bytes(a, segs, 4 * (size_t)nsegs);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Three letters of 5 bits each and four hex digits, stored big-endian. */
void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v = 0;

	if (strlen(id) != 7) {
		aml_fail(a, -EINVAL);
		return;
	}
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z') {
			aml_fail(a, -EINVAL);
			return;
		}
		v = v << 5 | (uint32_t)(id[i] - '@');
	}
	for (int i = 3; i < 7; i++) {
		int d = hex_digit(id[i]);

		if (d < 0) {
			aml_fail(a, -EINVAL);
			return;
		}
		v = v << 4 | (uint32_t)d;
	}
	aml_byte(a, AML_DWORD_PREFIX);
	aml_le(a, __builtin_bswap32(v), 4);
}

void aml_name(struct aml *a, const char *path)
{
	aml_byte(a, AML_NAME);
	aml_namestring(a, path);
}

void aml_name_integer(struct aml *a, const char *path, uint64_t v)
{
	aml_name(a, path);
	aml_integer(a, v);
}

void aml_name_string(struct aml *a, const char *path, const char *s)
{
	aml_name(a, path);
	aml_string(a, s);
}

void aml_name_eisaid(struct aml *a, const char *path, const char *id)
{
	aml_name(a, path);
	aml_eisaid(a, id);
}

size_t aml_scope_begin(struct aml *a, const char *path)
{
	size_t mark;

	aml_byte(a, AML_SCOPE);
	mark = a->len;
	aml_namestring(a, path);
	return mark;
}

size_t aml_device_begin(struct aml *a, const char *path)
{
	size_t mark;

	aml_byte(a, AML_EXT_PREFIX);
	aml_byte(a, AML_DEVICE);
	mark = a->len;
	aml_namestring(a, path);
	return mark;
}

size_t aml_package_begin(struct aml *a, uint8_t nelems)
{
	size_t mark;

	aml_byte(a, AML_PACKAGE);
	mark = a->len;
	aml_byte(a, nelems);
	return mark;
}

void aml_end(struct aml *a, size_t mark)
{
	aml_pkglen_insert(a, mark);
}

size_t aml_buffer_begin(struct aml *a)
{
	aml_byte(a, AML_BUFFER);
	return a->len;
}

/* BufferSize goes between the PkgLength and the data, and is part of the package. */
void aml_buffer_end(struct aml *a, size_t mark)
{
	uint8_t enc[9];

	if (a->err)
		return;
	aml_insert(a, mark, enc, (size_t)int_encode(a->len - mark, enc));
	aml_pkglen_insert(a, mark);
}

size_t aml_restemplate_begin(struct aml *a)
{
	return aml_buffer_begin(a);
}

void aml_restemplate_end(struct aml *a, size_t mark)
{
	/* A zero checksum tells the OS to skip checking it. */
	aml_byte(a, RES_END_TAG);
	aml_byte(a, 0);
	aml_buffer_end(a, mark);
}

void aml_res_io(struct aml *a, uint16_t base, uint8_t len)
{
	aml_byte(a, RES_IO);
	aml_byte(a, 0x01); /* decodes all 16 address bits */
	aml_le(a, base, 2);
	aml_le(a, base, 2);
	aml_byte(a, 1);
	aml_byte(a, len);
}

void aml_res_irq_noflags(struct aml *a, uint8_t irq)
{
	if (irq > 15) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, RES_IRQ_NOFLAGS);
	aml_le(a, 1u << irq, 2);
}

void aml_res_interrupt(struct aml *a, bool edge, bool active_low, bool shared, uint32_t gsi)
{
	uint8_t flags = 0x01; /* consumer */

	flags |= (uint8_t)(edge << 1 | active_low << 2 | shared << 3);
	aml_byte(a, RES_EXT_IRQ);
	aml_le(a, 6, 2);
	aml_byte(a, flags);
	aml_byte(a, 1);
	aml_le(a, gsi, 4);
}

/*
 * Word, DWord and QWord address space descriptors share a layout: type,
 * flags, type-specific flags, then granularity, min, max, translation and
 * length, each of width bytes.
 */
static void aml_res_space(struct aml *a, uint8_t tag, unsigned width, uint8_t type,
			  uint8_t type_flags, uint64_t min, uint64_t max)
{
	uint64_t len = max - min + 1;

	/* A length the field cannot hold (0x10000 for WordIO 0-0xFFFF) is a caller bug. */
	if (max < min || len == 0 || (width < 8 && len >> (8 * width))) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, tag);
	aml_le(a, 3 + 5 * width, 2);
	aml_byte(a, type);
	aml_byte(a, SPACE_PRODUCER_FIXED);
	aml_byte(a, type_flags);
	aml_le(a, 0, width);
	aml_le(a, min, width);
	aml_le(a, max, width);
	aml_le(a, 0, width);
	aml_le(a, len, width);
}

void aml_res_word_bus(struct aml *a, uint16_t min, uint16_t max)
{
	aml_res_space(a, RES_WORD_SPACE, 2, SPACE_BUS, 0, min, max);
}

void aml_res_word_io(struct aml *a, uint16_t min, uint16_t max)
{
	aml_res_space(a, RES_WORD_SPACE, 2, SPACE_IO, SPACE_IO_ENTIRE_RANGE, min, max);
}

void aml_res_dword_mem(struct aml *a, uint32_t min, uint32_t max, bool cacheable)
{
	uint8_t flags = SPACE_MEM_RW | (cacheable ? SPACE_MEM_CACHEABLE : 0);

	aml_res_space(a, RES_DWORD_SPACE, 4, SPACE_MEMORY, flags, min, max);
}

void aml_res_qword_mem(struct aml *a, uint64_t min, uint64_t max, bool cacheable)
{
	uint8_t flags = SPACE_MEM_RW | (cacheable ? SPACE_MEM_CACHEABLE : 0);

	aml_res_space(a, RES_QWORD_SPACE, 8, SPACE_MEMORY, flags, min, max);
}

/* ---- control methods ---- */

size_t aml_method_begin(struct aml *a, const char *name, unsigned nargs, bool serialized)
{
	size_t mark;

	if (nargs > 7)
		aml_fail(a, -EINVAL);
	aml_byte(a, AML_METHOD);
	mark = a->len;
	aml_namestring(a, name);
	aml_byte(a, (uint8_t)((nargs & 7) | (serialized ? AML_METHOD_SERIALIZED : 0)));
	return mark;
}

/* An opcode whose PkgLength is inserted right after it by aml_end. */
static size_t aml_pkg_op_begin(struct aml *a, uint8_t op)
{
	aml_byte(a, op);
	return a->len;
}

size_t aml_if_begin(struct aml *a)
{
	return aml_pkg_op_begin(a, AML_IF);
}

size_t aml_else_begin(struct aml *a)
{
	return aml_pkg_op_begin(a, AML_ELSE);
}

void aml_arg(struct aml *a, unsigned n)
{
	if (n > 6) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, (uint8_t)(AML_ARG0 + n));
}

void aml_create_dword_field(struct aml *a, unsigned arg, uint32_t byte_index, const char *name)
{
	aml_byte(a, AML_CREATE_DWORD_FIELD);
	aml_arg(a, arg);
	aml_integer(a, byte_index);
	aml_namestring(a, name);
}

void aml_lequal(struct aml *a)
{
	aml_byte(a, AML_LEQUAL);
}

void aml_or(struct aml *a)
{
	aml_byte(a, AML_OR);
}

void aml_return(struct aml *a)
{
	aml_byte(a, AML_RETURN);
}

static int hex_digit_any(char c)
{
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : hex_digit(c);
}

/*
 * The first three groups are stored little-endian (they were a DWORD and
 * two WORDs), the last two as written: ACPI 6.x, 19.6.142 (ToUUID).
 */
void aml_uuid(struct aml *a, const char *uuid)
{
	static const uint8_t pos[16] = { 6, 4, 2, 0, 11, 9, 16, 14, 19, 21, 24, 26, 28, 30, 32, 34 };
	uint8_t b[16];
	size_t buf;

	if (strlen(uuid) != 36 || uuid[8] != '-' || uuid[13] != '-' || uuid[18] != '-' ||
	    uuid[23] != '-') {
		aml_fail(a, -EINVAL);
		return;
	}
	for (unsigned i = 0; i < 16; i++) {
		int hi = hex_digit_any(uuid[pos[i]]), lo = hex_digit_any(uuid[pos[i] + 1]);

		if (hi < 0 || lo < 0) {
			aml_fail(a, -EINVAL);
			return;
		}
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	buf = aml_buffer_begin(a);
	aml_bytes(a, b, sizeof(b));
	aml_buffer_end(a, buf);
}
