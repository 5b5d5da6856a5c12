// SPDX-License-Identifier: MIT
/*
 * A sorted array of non-overlapping ranges, searched by bisection. Port
 * I/O has a few dozen ranges and MMIO not many more, so an array beats a
 * tree on both lookup cost and code size. Lookups take the lock shared,
 * so vCPUs never serialize on each other; registration and BAR moves take
 * it exclusively.
 */
#include "bus.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

int bus_init(struct bus *bus, const char *name)
{
	int ret;

	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	bus->defer = &bus->own_queue;
	ret = pthread_mutex_init(&bus->own_queue.lock, NULL);
	if (ret)
		return -ret;
	ret = pthread_rwlock_init(&bus->lock, NULL);
	if (ret)
		pthread_mutex_destroy(&bus->own_queue.lock);
	return -ret;
}

void bus_destroy(struct bus *bus)
{
	free(bus->ranges);
	bus->ranges = NULL;
	bus->nr = bus->cap = 0;
	pthread_rwlock_destroy(&bus->lock);
	pthread_mutex_destroy(&bus->own_queue.lock);
}

void bus_share_defer_queue(struct bus *bus, struct bus *other)
{
	other->defer = bus->defer;
}

int bus_defer(struct bus *bus, void (*fn)(void *arg), void *arg)
{
	struct bus_defer_queue *q = bus->defer;
	int ret = 0;
	unsigned n;

	pthread_mutex_lock(&q->lock);
	n = atomic_load(&q->nr);
	for (unsigned i = 0; i < n; i++)
		if (q->item[i].fn == fn && q->item[i].arg == arg)
			goto out;
	if (n == BUS_DEFER_MAX) {
		ret = -ENOSPC;
		goto out;
	}
	q->item[n] = (struct bus_deferred){ .fn = fn, .arg = arg };
	atomic_store(&q->nr, n + 1);
out:
	pthread_mutex_unlock(&q->lock);
	return ret;
}

void bus_run_deferred(struct bus *bus)
{
	struct bus_defer_queue *q = bus->defer;
	struct bus_deferred work[BUS_DEFER_MAX];
	unsigned n;

	while (atomic_load(&q->nr)) {
		pthread_mutex_lock(&q->lock);
		n = atomic_load(&q->nr);
		memcpy(work, q->item, n * sizeof(work[0]));
		atomic_store(&q->nr, 0);
		pthread_mutex_unlock(&q->lock);
		for (unsigned i = 0; i < n; i++)
			work[i].fn(work[i].arg);
	}
}

/* Index of the first range whose end lies beyond addr. */
static unsigned lower_bound(const struct bus *bus, uint64_t addr)
{
	unsigned lo = 0, hi = bus->nr;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &bus->ranges[mid];

		if (addr - r->base >= r->len && addr > r->base)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const struct bus_range *find(const struct bus *bus, uint64_t addr)
{
	unsigned i = lower_bound(bus, addr);

	if (i < bus->nr && addr >= bus->ranges[i].base &&
	    addr - bus->ranges[i].base < bus->ranges[i].len)
		return &bus->ranges[i];
	return NULL;
}

/* Where [base, base + len) would go, or -EEXIST when it overlaps. */
static int insert_pos(const struct bus *bus, uint64_t base, uint64_t len, unsigned skip)
{
	unsigned i;

	for (i = 0; i < bus->nr; i++) {
		const struct bus_range *r = &bus->ranges[i];

		if (i == skip)
			continue;
		if (base + len - 1 < r->base)
			break;
		if (base <= r->base + r->len - 1)
			return -EEXIST;
	}
	return (int)i;
}

static bool valid_span(uint64_t base, uint64_t len)
{
	return len != 0 && base + len - 1 >= base;
}

static int insert_at(struct bus *bus, unsigned pos, const struct bus_range *nr)
{
	if (bus->nr == bus->cap) {
		unsigned cap = bus->cap ? bus->cap * 2 : 16;
		struct bus_range *n = realloc(bus->ranges, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		bus->ranges = n;
		bus->cap = cap;
	}
	memmove(&bus->ranges[pos + 1], &bus->ranges[pos], (bus->nr - pos) * sizeof(*nr));
	bus->ranges[pos] = *nr;
	bus->nr++;
	return 0;
}

static void remove_at(struct bus *bus, unsigned pos)
{
	memmove(&bus->ranges[pos], &bus->ranges[pos + 1],
		(bus->nr - pos - 1) * sizeof(bus->ranges[0]));
	bus->nr--;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *opaque)
{
	struct bus_range r = { .base = base, .len = len, .ops = ops, .opaque = opaque };
	int pos, ret;

	if (!valid_span(base, len) || !ops)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	pos = insert_pos(bus, base, len, ~0u);
	ret = pos < 0 ? pos : insert_at(bus, (unsigned)pos, &r);
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

static int index_of(const struct bus *bus, uint64_t base)
{
	for (unsigned i = 0; i < bus->nr; i++)
		if (bus->ranges[i].base == base)
			return (int)i;
	return -ENOENT;
}

int bus_unregister(struct bus *bus, uint64_t base)
{
	int i;

	pthread_rwlock_wrlock(&bus->lock);
	i = index_of(bus, base);
	if (i >= 0)
		remove_at(bus, (unsigned)i);
	pthread_rwlock_unlock(&bus->lock);
	return i < 0 ? i : 0;
}

int bus_move(struct bus *bus, uint64_t old_base, uint64_t new_base)
{
	struct bus_range r;
	int i, pos, ret = 0;

	pthread_rwlock_wrlock(&bus->lock);
	i = index_of(bus, old_base);
	if (i < 0) {
		ret = i;
		goto out;
	}
	r = bus->ranges[i];
	r.base = new_base;
	if (!valid_span(new_base, r.len)) {
		ret = -EINVAL;
		goto out;
	}
	pos = insert_pos(bus, new_base, r.len, (unsigned)i);
	if (pos < 0) {
		ret = pos;
		goto out;
	}
	/* Remove first: pos was computed with the old slot still counted. */
	remove_at(bus, (unsigned)i);
	if (pos > i)
		pos--;
	ret = insert_at(bus, (unsigned)pos, &r); /* cannot fail: capacity is there */
out:
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

static bool size_ok(unsigned size)
{
	return size == 1 || size == 2 || size == 4 || size == 8;
}

bool bus_read(struct bus *bus, uint64_t addr, void *data, unsigned size)
{
	const struct bus_range *r;
	uint64_t v = ~0ULL;
	bool hit = false;

	pthread_rwlock_rdlock(&bus->lock);
	r = find(bus, addr);
	if (r && size_ok(size) && size <= r->len - (addr - r->base)) {
		v = r->ops->read ? r->ops->read(r->opaque, addr - r->base, size) : 0;
		hit = true;
	}
	pthread_rwlock_unlock(&bus->lock);
	memcpy(data, &v, size > 8 ? 8 : size); /* x86 host: little-endian like the guest */
	if (atomic_load(&bus->defer->nr))
		bus_run_deferred(bus);
	return hit;
}

bool bus_write(struct bus *bus, uint64_t addr, const void *data, unsigned size)
{
	const struct bus_range *r;
	uint64_t v = 0;
	bool hit = false;

	if (!size_ok(size))
		return false;
	memcpy(&v, data, size);
	pthread_rwlock_rdlock(&bus->lock);
	r = find(bus, addr);
	if (r && size <= r->len - (addr - r->base)) {
		if (r->ops->write)
			r->ops->write(r->opaque, addr - r->base, size, v);
		hit = true;
	}
	pthread_rwlock_unlock(&bus->lock);
	if (atomic_load(&bus->defer->nr))
		bus_run_deferred(bus);
	return hit;
}
