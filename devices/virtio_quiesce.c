// SPDX-License-Identifier: MIT
/*
 * Quiescing a virtio device's workers (virtio.h, struct virtio_quiesce).
 *
 * The owner (the device's quiesce op) sets wanted and makes fd readable;
 * every worker has fd in its poll set, so it wakes, finishes what it has
 * started (a blk request in the kernel, a net batch), and parks on cond
 * until wanted is cleared or the device stops. It does not read its kick
 * eventfds or the tap on the way: what the driver or the host signalled
 * meanwhile is still there when it polls again after resume.
 *
 * fd stays readable for as long as wanted is set (workers never read it;
 * virtio_quiesce_end() does), so a worker started while the device is
 * quiesced parks at once, and no worker can miss the request.
 */
#include "virtio.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../core/log.h"

int virtio_quiesce_init(struct virtio_quiesce *q)
{
	pthread_condattr_t attr;
	int ret;

	memset(q, 0, sizeof(*q));
	q->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->fd < 0)
		return -errno;
	pthread_condattr_init(&attr);
	/* A deadline that the wall clock's steps cannot stretch or cut short. */
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	ret = pthread_cond_init(&q->cond, &attr);
	pthread_condattr_destroy(&attr);
	if (ret) {
		close(q->fd);
		q->fd = -1;
		return -ret;
	}
	pthread_mutex_init(&q->lock, NULL);
	return 0;
}

void virtio_quiesce_destroy(struct virtio_quiesce *q)
{
	if (q->fd < 0)
		return;
	close(q->fd);
	q->fd = -1;
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
}

bool virtio_quiesce_wanted(struct virtio_quiesce *q)
{
	return __atomic_load_n(&q->wanted, __ATOMIC_ACQUIRE);
}

/* With q->lock held. */
static void quiesce_clear(struct virtio_quiesce *q)
{
	uint64_t v;

	__atomic_store_n(&q->wanted, false, __ATOMIC_RELEASE);
	if (read(q->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pr_debug("quiesce eventfd: %s", strerror(errno));
	pthread_cond_broadcast(&q->cond);
}

int virtio_quiesce_begin(struct virtio_quiesce *q, unsigned workers, unsigned timeout_ms,
			 const char *name)
{
	uint64_t one = 1;
	struct timespec until;
	int ret = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&q->lock);
	if (!q->wanted) {
		__atomic_store_n(&q->wanted, true, __ATOMIC_RELEASE);
		if (write(q->fd, &one, sizeof(one)) != sizeof(one))
			dev_err(name, "quiesce eventfd: %s", strerror(errno));
	}
	while (q->parked < workers && !ret)
		ret = pthread_cond_timedwait(&q->cond, &q->lock, &until);
	if (q->parked < workers) {
		unsigned parked = q->parked;

		quiesce_clear(q);
		pthread_mutex_unlock(&q->lock);
		dev_err(name, "quiesce: %u of %u workers still busy after %u ms; the device "
			"runs on", workers - parked, workers, timeout_ms);
		return -ETIMEDOUT;
	}
	pthread_mutex_unlock(&q->lock);
	return 0;
}

void virtio_quiesce_end(struct virtio_quiesce *q)
{
	pthread_mutex_lock(&q->lock);
	quiesce_clear(q);
	pthread_mutex_unlock(&q->lock);
}

bool virtio_quiesce_park(struct virtio_quiesce *q)
{
	bool stopping;

	pthread_mutex_lock(&q->lock);
	q->parked++;
	pthread_cond_broadcast(&q->cond);
	while (q->wanted && !q->stopping)
		pthread_cond_wait(&q->cond, &q->lock);
	q->parked--;
	stopping = q->stopping;
	pthread_mutex_unlock(&q->lock);
	return !stopping;
}

void virtio_quiesce_stopping(struct virtio_quiesce *q, bool stopping)
{
	pthread_mutex_lock(&q->lock);
	q->stopping = stopping;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}
