// SPDX-License-Identifier: MIT
/*
 * i8042 keyboard controller, as far as a guest needs it without a keyboard
 * or mouse: the reset line (command 0xFE, or the output port via 0xD1),
 * the command byte, and the self tests a driver runs when it probes, each
 * answered at once so that no probe waits on a timeout it could avoid.
 *
 * The window is 0x60..0x64. 0x61 is the PC's system control port B, which
 * KVM's in-kernel PIT emulates itself; 0x62/0x63 decode to nothing.
 */
#include "devices.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "../core/log.h"

#define I8042_DATA   0 /* port 0x60 */
#define I8042_STATUS 4 /* port 0x64: status on read, command on write */
#define I8042_NR_PORTS 5

#define STS_OBF      0x01 /* a byte waits in the output buffer */
#define STS_SYS      0x04 /* system flag: POST passed */
#define STS_CMD      0x08 /* last write went to the command port */
#define STS_UNLOCKED 0x10 /* keyboard not inhibited by the key lock */

#define CTR_SYS     0x04
#define CTR_KBD_DIS 0x10
#define CTR_AUX_DIS 0x20
#define CTR_XLATE   0x40

#define OUTPORT_RESET 0x01 /* low pulls the CPU's reset line */
#define OUTPORT_A20   0x02

enum {
	CMD_READ_CTR = 0x20,
	CMD_WRITE_CTR = 0x60,
	CMD_AUX_DISABLE = 0xa7,
	CMD_AUX_ENABLE = 0xa8,
	CMD_SELF_TEST = 0xaa,
	CMD_KBD_TEST = 0xab,
	CMD_KBD_DISABLE = 0xad,
	CMD_KBD_ENABLE = 0xae,
	CMD_READ_OUTPORT = 0xd0,
	CMD_WRITE_OUTPORT = 0xd1,
	CMD_PULSE_FIRST = 0xf0, /* 0xF0-0xFF pulse output port bits 3:0 low */
};

#define SELF_TEST_OK 0x55
#define KBD_TEST_OK  0x00

struct i8042 {
	pthread_mutex_t lock;
	struct power_ctl power;
	uint8_t ctr;     /* the command byte */
	uint8_t outport;
	uint8_t obuf;
	bool obf;
	bool last_cmd;   /* for STS_CMD */
	uint8_t pending; /* command still waiting for its data byte, or 0 */
	struct log_ratelimit warn_rl; /* dev_warn_rl()'s, for warnings a guest can drive */
};

static void i8042_output(struct i8042 *kbd, uint8_t byte)
{
	/* One byte deep, like the chip: an unread byte is overwritten. */
	kbd->obuf = byte;
	kbd->obf = true;
}

static uint8_t i8042_status(const struct i8042 *kbd)
{
	uint8_t sts = STS_UNLOCKED;

	if (kbd->obf)
		sts |= STS_OBF;
	if (kbd->ctr & CTR_SYS)
		sts |= STS_SYS;
	if (kbd->last_cmd)
		sts |= STS_CMD;
	return sts;
}

/* Returns true when the guest asked for a reset. */
static bool i8042_command(struct i8042 *kbd, uint8_t cmd)
{
	kbd->pending = 0;
	switch (cmd) {
	case CMD_READ_CTR:
		i8042_output(kbd, kbd->ctr);
		return false;
	case CMD_WRITE_CTR:
	case CMD_WRITE_OUTPORT:
		kbd->pending = cmd;
		return false;
	case CMD_AUX_DISABLE:
		kbd->ctr |= CTR_AUX_DIS;
		return false;
	case CMD_AUX_ENABLE:
		kbd->ctr &= ~CTR_AUX_DIS;
		return false;
	case CMD_SELF_TEST:
		i8042_output(kbd, SELF_TEST_OK);
		return false;
	case CMD_KBD_TEST:
		i8042_output(kbd, KBD_TEST_OK);
		return false;
	case CMD_KBD_DISABLE:
		kbd->ctr |= CTR_KBD_DIS;
		return false;
	case CMD_KBD_ENABLE:
		kbd->ctr &= ~CTR_KBD_DIS;
		return false;
	case CMD_READ_OUTPORT:
		i8042_output(kbd, kbd->outport);
		return false;
	}
	if (cmd >= CMD_PULSE_FIRST)
		return !(cmd & OUTPORT_RESET); /* 0xFE is the usual one */
	dev_warn_rl(&kbd->warn_rl, "i8042", "unsupported command 0x%02x ignored", cmd);
	return false;
}

/* Returns true when the guest asked for a reset. */
static bool i8042_data(struct i8042 *kbd, uint8_t val)
{
	uint8_t cmd = kbd->pending;

	kbd->pending = 0;
	switch (cmd) {
	case CMD_WRITE_CTR:
		kbd->ctr = val;
		return false;
	case CMD_WRITE_OUTPORT:
		kbd->outport = val;
		return !(val & OUTPORT_RESET);
	default:
		/* Bytes for the keyboard: none is attached. */
		dev_debug("i8042", "keyboard byte 0x%02x dropped", val);
		return false;
	}
}

static uint8_t i8042_read_port(struct i8042 *kbd, unsigned port)
{
	switch (port) {
	case I8042_DATA:
		/* Reading empties the buffer; an empty one repeats its last byte. */
		kbd->obf = false;
		return kbd->obuf;
	case I8042_STATUS:
		return i8042_status(kbd);
	default:
		return 0xff;
	}
}

static bool i8042_write_port(struct i8042 *kbd, unsigned port, uint8_t val)
{
	switch (port) {
	case I8042_DATA:
		kbd->last_cmd = false;
		return i8042_data(kbd, val);
	case I8042_STATUS:
		kbd->last_cmd = true;
		return i8042_command(kbd, val);
	default:
		return false; /* nothing decodes 0x61..0x63 (or past 0x64) here */
	}
}

/* Port of byte i of an access; I8042_NR_PORTS past the window. */
static unsigned i8042_port(uint64_t offset, unsigned i)
{
	if (offset >= I8042_NR_PORTS || offset + i >= I8042_NR_PORTS)
		return I8042_NR_PORTS;
	return (unsigned)(offset + i);
}

/* Byte-wide ports: a wider access is split, lowest address first. */
static uint64_t i8042_read(void *opaque, uint64_t offset, unsigned size)
{
	struct i8042 *kbd = opaque;
	uint64_t val = 0;

	if (size > 8)
		size = 8;
	pthread_mutex_lock(&kbd->lock);
	for (unsigned i = 0; i < size; i++)
		val |= (uint64_t)i8042_read_port(kbd, i8042_port(offset, i)) << (8 * i);
	pthread_mutex_unlock(&kbd->lock);
	return val;
}

static void i8042_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
	struct i8042 *kbd = opaque;
	bool reset = false;

	if (size > 8)
		size = 8;
	pthread_mutex_lock(&kbd->lock);
	for (unsigned i = 0; i < size; i++)
		reset |= i8042_write_port(kbd, i8042_port(offset, i), (uint8_t)(value >> (8 * i)));
	pthread_mutex_unlock(&kbd->lock);
	/* Outside the lock: the VMM may stop vCPUs, this one included. */
	if (reset)
		power_request(&kbd->power, POWER_RESET);
}

const struct bus_ops i8042_ops = {
	.name = "i8042",
	.read = i8042_read,
	.write = i8042_write,
};

struct i8042 *i8042_new(const struct power_ctl *power)
{
	struct i8042 *kbd = calloc(1, sizeof(*kbd));
	int err;

	if (!kbd)
		return NULL;
	err = pthread_mutex_init(&kbd->lock, NULL);
	if (err) {
		free(kbd);
		errno = err;
		return NULL;
	}
	if (power)
		kbd->power = *power;
	/* As firmware leaves it: POST passed, scancode translation on. */
	kbd->ctr = CTR_SYS | CTR_XLATE;
	kbd->outport = OUTPORT_RESET | OUTPORT_A20;
	return kbd;
}

void i8042_free(struct i8042 *kbd)
{
	if (!kbd)
		return;
	pthread_mutex_destroy(&kbd->lock);
	free(kbd);
}
