// SPDX-License-Identifier: MIT
/*
 * Split virtqueues, device side (virtio 1.2, 2.7). The guest's vCPUs write
 * the available ring and descriptors while we read them, and read the used
 * ring while we write it, so:
 *  - every guest field is read exactly once into a local copy (a driver
 *    changing a descriptor under us can only give us a different, still
 *    checked, value: never a check on one value and a use of another);
 *  - avail->idx is read first, then an acquire fence orders the reads of
 *    the ring entries and descriptors the driver published before it;
 *  - used ring entries are written, then a release fence, then used->idx;
 *  - the event index and flag reads that decide notifications come after
 *    a full fence, since they race with the driver's own index updates
 *    (a store followed by a load: only a full fence orders those).
 */
#include "virtq.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../core/log.h"
#include "../core/memory.h"

static uint16_t load16(const uint16_t *p)
{
	return le16toh(__atomic_load_n(p, __ATOMIC_RELAXED));
}

static void store16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, htole16(v), __ATOMIC_RELAXED);
}

static void store32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, htole32(v), __ATOMIC_RELAXED);
}

/* used_event sits after the avail ring, avail_event after the used ring. */
static uint16_t *used_event(const struct virtq *vq)
{
	return &vq->avail->ring[vq->size];
}

static uint16_t *avail_event(const struct virtq *vq)
{
	return (uint16_t *)&vq->used->ring[vq->size];
}

/*
 * A queue says only its first error; this limit is for a guest that
 * breaks and resets queues in a loop. One for every queue of every
 * device: per-queue state would sit in struct virtq (virtq.h).
 */
static struct log_ratelimit broken_rl;

/* Puts the queue in the error state; only the first error is logged. */
__attribute__((format(printf, 3, 4)))
static int broken(struct virtq *vq, int err, const char *fmt, ...)
{
	char why[160];
	va_list ap;

	if (vq->error)
		return vq->error;
	__atomic_store_n(&vq->error, err, __ATOMIC_RELEASE);
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	dev_warn_rl(&broken_rl, vq->name ? vq->name : "virtq", "queue broken (%s): %s",
		    virtq_strerror(err), why);
	return err;
}

const char *virtq_strerror(int err)
{
	switch (err) {
	case 0:       return "ok";
	case -EINVAL: return "malformed ring or descriptor";
	case -EFAULT: return "address outside guest RAM";
	case -ELOOP:  return "descriptor loop";
	case -E2BIG:  return "chain too long";
	default:      return "error";
	}
}

void virtq_reset(struct virtq *vq)
{
	const char *name = vq->name;
	const struct guest_mem *mem = vq->mem;

	memset(vq, 0, sizeof(*vq));
	vq->name = name;
	vq->mem = mem;
}

static void *map_ring(struct virtq *vq, uint64_t gpa, uint64_t len, uint64_t align,
		      const char *what)
{
	void *p;

	if (gpa % align) {
		broken(vq, -EINVAL, "%s ring at %#llx is not %llu-byte aligned", what,
		       (unsigned long long)gpa, (unsigned long long)align);
		return NULL;
	}
	p = guest_mem_ptr(vq->mem, gpa, len);
	if (!p)
		broken(vq, -EFAULT, "%s ring [%#llx, +%#llx) is not inside guest RAM", what,
		       (unsigned long long)gpa, (unsigned long long)len);
	return p;
}

int virtq_enable(struct virtq *vq, const struct virtq_config *cfg)
{
	uint32_t n = cfg->size;

	memset(vq, 0, sizeof(*vq));
	vq->name = cfg->name;
	vq->mem = cfg->mem;
	if (n == 0 || n > VIRTQ_MAX_SIZE || (n & (n - 1)))
		return broken(vq, -EINVAL, "queue size %u is not a power of two <= %u", n,
			      VIRTQ_MAX_SIZE);
	vq->desc = map_ring(vq, cfg->desc_gpa, VIRTQ_DESC_BYTES(n), 16, "descriptor");
	vq->avail = map_ring(vq, cfg->avail_gpa, VIRTQ_AVAIL_BYTES(n), 2, "available");
	vq->used = map_ring(vq, cfg->used_gpa, VIRTQ_USED_BYTES(n), 4, "used");
	if (vq->error)
		return vq->error;
	vq->size = (uint16_t)n;
	vq->indirect = cfg->features & (1ULL << VIRTIO_F_INDIRECT_DESC);
	vq->event_idx = cfg->features & (1ULL << VIRTIO_F_EVENT_IDX);
	vq->enabled = true;
	return 0;
}

/* One copy of a descriptor the guest may be rewriting; table may be unaligned. */
static void read_desc(const void *table, uint32_t i, struct virtq_desc *d)
{
	memcpy(d, (const uint8_t *)table + (size_t)i * sizeof(*d), sizeof(*d));
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
}

static int add_seg(struct virtq *vq, struct virtq_chain *chain, const struct virtq_desc *d)
{
	uint32_t limit = chain->cap < vq->size ? chain->cap : vq->size;
	bool writable = d->flags & VIRTQ_DESC_F_WRITE;
	void *hva;

	if (chain->nr >= limit)
		return broken(vq, -E2BIG, "chain from head %u has more than %u descriptors",
			      chain->head, limit);
	hva = guest_mem_ptr(vq->mem, d->addr, d->len);
	if (!hva)
		return broken(vq, -EFAULT, "buffer [%#llx, +%#x) is not inside guest RAM",
			      (unsigned long long)d->addr, d->len);
	chain->seg[chain->nr++] = (struct virtq_seg){ .hva = hva, .len = d->len,
						      .writable = writable };
	if (writable) {
		chain->nr_writable++;
		chain->writable_len += d->len;
	} else {
		chain->readable_after_writable |= chain->nr_writable != 0;
		chain->nr_readable++;
		chain->readable_len += d->len;
	}
	return 0;
}

/* An indirect table: its own descriptors, indices relative to the table. */
static int walk_indirect(struct virtq *vq, struct virtq_chain *chain, const struct virtq_desc *ind)
{
	uint32_t count, steps = 0, i = 0;
	struct virtq_desc d;
	const void *table;
	int ret;

	if (!vq->indirect)
		return broken(vq, -EINVAL, "indirect descriptor, but VIRTIO_F_INDIRECT_DESC "
			      "was not negotiated");
	if (ind->flags & VIRTQ_DESC_F_NEXT)
		return broken(vq, -EINVAL, "indirect descriptor with NEXT set");
	if (ind->len == 0 || ind->len % sizeof(d))
		return broken(vq, -EINVAL, "indirect table length %u is not a non-zero "
			      "multiple of 16", ind->len);
	count = ind->len / sizeof(d);
	if (count > VIRTQ_MAX_SIZE)
		return broken(vq, -E2BIG, "indirect table of %u entries", count);
	table = guest_mem_ptr(vq->mem, ind->addr, ind->len);
	if (!table)
		return broken(vq, -EFAULT, "indirect table [%#llx, +%#x) is not inside guest RAM",
			      (unsigned long long)ind->addr, ind->len);
	for (;;) {
		if (++steps > count)
			return broken(vq, -ELOOP, "indirect table loops (%u entries)", count);
		read_desc(table, i, &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT)
			return broken(vq, -EINVAL, "nested indirect descriptor");
		ret = add_seg(vq, chain, &d);
		if (ret)
			return ret;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= count)
			return broken(vq, -EINVAL, "indirect next %u >= table size %u", d.next, count);
		i = d.next;
	}
}

/*
 * A chain in the descriptor table has at most size distinct descriptors,
 * so a walk of more steps must have revisited one: a loop.
 */
static int walk_chain(struct virtq *vq, struct virtq_chain *chain)
{
	uint32_t steps = 0, i = chain->head;
	struct virtq_desc d;
	int ret;

	for (;;) {
		if (++steps > vq->size)
			return broken(vq, -ELOOP, "chain from head %u loops", chain->head);
		read_desc(vq->desc, i, &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT)
			return walk_indirect(vq, chain, &d);
		ret = add_seg(vq, chain, &d);
		if (ret)
			return ret;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= vq->size)
			return broken(vq, -EINVAL, "next %u >= queue size %u", d.next, vq->size);
		i = d.next;
	}
}

/* Entries the driver made available that we have not taken yet. */
static uint16_t pending(struct virtq *vq)
{
	uint16_t n = load16(&vq->avail->idx) - vq->last_avail;

	if (n == 0 && vq->event_idx) {
		/*
		 * Ask for a notification at the next entry, then look again:
		 * the driver may have added one before it could see the request.
		 */
		store16(avail_event(vq), vq->last_avail);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		n = load16(&vq->avail->idx) - vq->last_avail;
	}
	return n;
}

int virtq_pop(struct virtq *vq, struct virtq_chain *chain)
{
	uint16_t n, head;
	int ret;

	if (vq->error)
		return vq->error;
	if (!vq->enabled)
		return 0;
	n = pending(vq);
	if (n > vq->size)
		return broken(vq, -EINVAL, "avail idx is %u entries ahead, more than the queue "
			      "size %u", n, vq->size);
	if (n == 0)
		return 0;
	/* The ring entry and descriptors were written before avail->idx. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	head = load16(&vq->avail->ring[vq->last_avail & (vq->size - 1)]);
	if (head >= vq->size)
		return broken(vq, -EINVAL, "head %u >= queue size %u", head, vq->size);
	virtq_chain_init(chain, chain->seg, chain->cap);
	chain->head = head;
	ret = walk_chain(vq, chain);
	if (ret)
		return ret;
	vq->last_avail++;
	if (vq->event_idx)
		store16(avail_event(vq), vq->last_avail);
	return 1;
}

void virtq_push(struct virtq *vq, uint16_t head, uint32_t written)
{
	struct virtq_used_elem *e;

	if (!vq->enabled || vq->error)
		return;
	if (head >= vq->size) {
		/* A device bug, not the guest's: refuse rather than write a bad id. */
		dev_err(vq->name ? vq->name : "virtq", "push of head %u >= queue size %u",
			head, vq->size);
		return;
	}
	e = &vq->used->ring[vq->used_idx & (vq->size - 1)];
	store32(&e->id, head);
	store32(&e->len, written);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	vq->used_idx++;
	store16(&vq->used->idx, vq->used_idx);
}

void virtq_push_many(struct virtq *vq, const struct virtq_used_elem *elem, uint32_t n)
{
	uint16_t idx = vq->used_idx;

	if (!vq->enabled || vq->error)
		return;
	for (uint32_t i = 0; i < n; i++) {
		/* Device bugs, not the guest's: refuse rather than write bad entries. */
		if (n > vq->size || elem[i].id >= vq->size) {
			dev_err(vq->name ? vq->name : "virtq", "push of %u chains, head %u, on a "
				"queue of size %u", n, elem[i].id, vq->size);
			return;
		}
	}
	for (uint32_t i = 0; i < n; i++, idx++) {
		struct virtq_used_elem *e = &vq->used->ring[idx & (vq->size - 1)];

		store32(&e->id, elem[i].id);
		store32(&e->len, elem[i].len);
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
	vq->used_idx = idx;
	store16(&vq->used->idx, idx);
}

/*
 * virtio 1.2, 2.7.10: interrupt when used_event lies in
 * [old, new), i.e. the driver asked to hear about an entry just published.
 * Differences are taken mod 2^16, so it holds across the index wrap.
 */
static bool event_in_range(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

bool virtq_should_notify(struct virtq *vq)
{
	uint16_t old = vq->signalled_used, now = vq->used_idx;
	bool valid = vq->signalled_valid;

	if (!vq->enabled || vq->error)
		return false;
	vq->signalled_used = now;
	vq->signalled_valid = true;
	if (valid && old == now)
		return false;
	/* Our used->idx store must be visible before we read the driver's wishes. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(load16(&vq->avail->flags) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	if (!valid)
		return true;
	return event_in_range(load16(used_event(vq)), now, old);
}

void virtq_dump(const struct virtq *vq, FILE *f)
{
	if (!vq->enabled) {
		fprintf(f, "not enabled");
		return;
	}
	fprintf(f, "size %u avail.idx %u last_avail %u used_idx %u signalled %u%s avail.flags %#x",
		vq->size, load16(&vq->avail->idx), vq->last_avail, vq->used_idx,
		vq->signalled_used, vq->signalled_valid ? "" : " (none yet)",
		load16(&vq->avail->flags));
	if (vq->event_idx)
		fprintf(f, " used_event %u avail_event %u", load16(used_event(vq)),
			load16(avail_event(vq)));
	if (vq->error)
		fprintf(f, " broken (%s)", strerror(-vq->error));
}
