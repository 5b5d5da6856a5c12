/* SPDX-License-Identifier: MIT */
#ifndef FIRMWARE_AML_H
#define FIRMWARE_AML_H

/*
 * A small AML encoder (ACPI 6.x, chapter 20) for the DSDT: names,
 * integers, strings, Scope/Device/Package/Buffer, the resource
 * descriptors a PC's _CRS needs, and the few control method terms that a
 * host bridge's _OSC needs (no general expression builder).
 *
 * Objects that carry a PkgLength are opened with *_begin(), which returns
 * a mark, and closed with the matching *_end(mark): the body is written
 * first and the PkgLength (1 to 4 bytes, which depends on the body's
 * size) is inserted in front of it at the end, so objects nest to any
 * depth without anyone knowing their sizes up front. Close them in the
 * reverse order of opening.
 *
 * Errors are sticky: the first failure (-ENOMEM, -EINVAL for a malformed
 * name or value, -E2BIG for an object over 2^28 bytes) is kept in err and
 * every later call does nothing; check aml_error() once at the end.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aml {
	uint8_t *buf;
	size_t len, cap;
	int err;
};

void aml_init(struct aml *a);
void aml_free(struct aml *a);
static inline int aml_error(const struct aml *a)
{
	return a->err;
}

void aml_byte(struct aml *a, uint8_t b);
void aml_bytes(struct aml *a, const void *p, size_t n);

/*
 * Encodes a PkgLength whose value (which counts the encoding's own bytes)
 * is value. Returns the number of bytes written to out, or -E2BIG.
 */
int aml_pkglen_encode(uint32_t value, uint8_t out[4]);

/* "\_SB.PCI0", "^FOO", "_S5": segments shorter than 4 are padded with '_'. */
void aml_namestring(struct aml *a, const char *path);

/* The shortest of ZeroOp, OneOp, OnesOp, Byte/Word/DWord/QWordPrefix. */
void aml_integer(struct aml *a, uint64_t v);
void aml_string(struct aml *a, const char *s);
/* A compressed EISA id such as "PNP0A03", as a DWord. */
void aml_eisaid(struct aml *a, const char *id);

/* Name(path, ...): the data object follows (integer, string, package...). */
void aml_name(struct aml *a, const char *path);
void aml_name_integer(struct aml *a, const char *path, uint64_t v);
void aml_name_string(struct aml *a, const char *path, const char *s);
void aml_name_eisaid(struct aml *a, const char *path, const char *id);

size_t aml_scope_begin(struct aml *a, const char *path);
size_t aml_device_begin(struct aml *a, const char *path);
size_t aml_package_begin(struct aml *a, uint8_t nelems);
/* Closes a Scope, Device or Package. */
void aml_end(struct aml *a, size_t mark);

/* Buffer: the size prefix is computed from what was written in between. */
size_t aml_buffer_begin(struct aml *a);
void aml_buffer_end(struct aml *a, size_t mark);

/* ResourceTemplate(): a Buffer of descriptors closed by an EndTag. */
size_t aml_restemplate_begin(struct aml *a);
void aml_restemplate_end(struct aml *a, size_t mark);

/*
 * Control methods (ACPI 6.x, 20.2.5). Operators are written the way AML
 * stores them, opcode first: each call below writes its opcode, and its
 * operands are the next terms written (aml_arg, aml_integer,
 * aml_namestring, aml_uuid or another operator), in the ASL order.
 */
/* Method(name, nargs, Serialized or NotSerialized): the body follows; close with aml_end. */
size_t aml_method_begin(struct aml *a, const char *name, unsigned nargs, bool serialized);
/* If(predicate) { ... }: the predicate, then the body; close with aml_end. */
size_t aml_if_begin(struct aml *a);
/* Else { ... }, right after an If's aml_end; close with aml_end. */
size_t aml_else_begin(struct aml *a);
/* CreateDWordField(ArgN, byte_index, name): names a DWORD of a method's buffer argument. */
void aml_create_dword_field(struct aml *a, unsigned arg, uint32_t byte_index, const char *name);
/* LEqual(x, y): two operands follow. */
void aml_lequal(struct aml *a);
/* Or(x, y, target): two operands and a target (a name) follow. */
void aml_or(struct aml *a);
/* Return(x): one operand follows. */
void aml_return(struct aml *a);
/* Arg0 to Arg6: a method's arguments. */
void aml_arg(struct aml *a, unsigned n);
/* ToUUID("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"): the 16-byte Buffer, in ACPI's byte order. */
void aml_uuid(struct aml *a, const char *uuid);

/* Resource descriptors (ACPI 6.x, 6.4), for use inside a resource template. */
void aml_res_io(struct aml *a, uint16_t base, uint8_t len);
void aml_res_irq_noflags(struct aml *a, uint8_t irq);
void aml_res_interrupt(struct aml *a, bool edge, bool active_low, bool shared, uint32_t gsi);
/* Producer ranges [min, max] with fixed bounds, as a host bridge's _CRS has them. */
void aml_res_word_bus(struct aml *a, uint16_t min, uint16_t max);
void aml_res_word_io(struct aml *a, uint16_t min, uint16_t max);
void aml_res_dword_mem(struct aml *a, uint32_t min, uint32_t max, bool cacheable);
void aml_res_qword_mem(struct aml *a, uint64_t min, uint64_t max, bool cacheable);

#endif
