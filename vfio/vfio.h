/* SPDX-License-Identifier: MIT */
#ifndef VFIO_VFIO_H
#define VFIO_VFIO_H

/*
 * Opening a passed-through device safely: check beforehand what would make
 * the kernel refuse (a group member on a host driver, a locked-memory limit
 * below guest RAM) and say it in one line, then open container, group and
 * device and read what the device offers (regions, interrupts), and map
 * guest RAM for the device's DMA.
 *
 * Two kernel interfaces hold the devices and their DMA mappings, behind the
 * same calls:
 *   - type1: the container /dev/vfio/vfio, each IOMMU group's node
 *     /dev/vfio/N joined to it, the device fd asked of the group;
 *   - iommufd (Linux 6.6 and later): /dev/iommu with one I/O address space
 *     (IOAS), each device opened on its own cdev /dev/vfio/devices/vfioN,
 *     bound to the iommufd and attached to the IOAS. Groups have no node
 *     to open there; the kernel still claims each group whole when a
 *     member binds, so viability matters as much.
 *
 * Every function that can fail returns 0 or -errno and, given why/len,
 * leaves there one line that says what is wrong and what to do.
 */

#include <linux/vfio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct host;
struct guest_mem;
struct vfio_iommu_ops;

/*
 * The kernel as VFIO sees it, so tests can put a fake one in its place.
 * Each returns what the syscall does, but -errno instead of -1. ioctl's arg
 * is the ioctl's third argument: a pointer, or an integer cast to one.
 */
struct vfio_sys {
	int (*open)(const char *path, int flags);
	int (*ioctl)(int fd, unsigned long req, void *arg);
	int (*close)(int fd);
	uint64_t (*now_ns)(void); /* a monotonic clock, for the mapping's progress line */
	/* Region reads and writes at the fd's offset; NULL: pread/pwrite themselves. */
	ssize_t (*pread)(int fd, void *buf, size_t n, off_t off);
	ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
};

extern const struct vfio_sys vfio_sys_linux;

/* One DMA mapping made through the container: what vfio_unmap_all() undoes. */
struct vfio_dma {
	uint64_t iova, size;
	void *hva;
};

struct vfio_container {
	const struct vfio_sys *sys; /* NULL while closed */
	const struct vfio_iommu_ops *iommu; /* the backend (vfio_iommu.h); NULL while closed */
	int fd;                     /* /dev/vfio/vfio, or /dev/iommu */
	uint32_t ioas;              /* iommufd: the IOAS all devices attach to and DMA maps go to */
	int iommu_type;             /* type1: VFIO_TYPE1v2_IOMMU or VFIO_TYPE1_IOMMU once a group set it */
	int want_type;              /* type1: the best one the kernel offers */
	unsigned groups;            /* groups attached */
	char root[256];             /* where dev/vfio lives: "" for the real / */
	struct vfio_dma *dma;
	size_t n_dma, cap_dma;
	FILE *progress;             /* the progress line of long mappings; NULL: stderr */
};

struct vfio_group {
	struct vfio_container *c;   /* NULL while closed */
	const struct vfio_sys *sys; /* the container's, kept should it close first */
	const struct vfio_iommu_ops *iommu; /* the container's, kept likewise */
	int fd;                     /* /dev/vfio/N; -1 under iommufd, which opens no group node */
	int group;
	bool viable;
};

/* A region of the device fd; sparse areas, when the kernel gives them, are all that may be mmapped. */
struct vfio_region {
	uint32_t flags;             /* VFIO_REGION_INFO_FLAG_* */
	uint64_t size, offset;
	bool sparse;                /* a sparse mmap capability came: mmap only the areas */
	uint32_t nr_areas;
	struct vfio_region_sparse_mmap_area *areas;
};

struct vfio_irq {
	uint32_t flags;             /* VFIO_IRQ_INFO_* */
	uint32_t count;             /* 0: the device has none of this kind */
};

/* BAR0-5, the ROM and config space (VFIO_PCI_*_REGION_INDEX). */
#define VFIO_DEV_REGIONS (VFIO_PCI_CONFIG_REGION_INDEX + 1)

struct vfio_device {
	struct vfio_group *g;       /* NULL while closed */
	const struct vfio_sys *sys;
	int fd;
	char bdf[13];               /* "0000:01:00.0", as the kernel names it */
	char cdev[32];              /* iommufd: "vfio3", its node under /dev/vfio/devices */
	struct vfio_device_info info;
	struct vfio_region region[VFIO_DEV_REGIONS];
	struct vfio_irq irq[VFIO_PCI_NUM_IRQS]; /* INTx, MSI, MSI-X, ERR, REQ */
};

/*
 * Whether the kernel would let bdf be opened: it exists, it has an IOMMU
 * group, and every member of the group is on vfio-pci (bdf itself must be),
 * pci-stub or no driver, or is a bridge on pcieport. -EINVAL (not a BDF,
 * or a bridge), -ENODEV, -ENOENT (no group) or -EBUSY (members on host
 * drivers: why names them and the `vmm host bind` that fixes it).
 */
int vfio_check_viable(const struct host *h, const char *bdf, char *why, size_t len)
	__attribute__((warn_unused_result));

/*
 * Whether guest_bytes of RAM can be pinned for DMA under this process's
 * RLIMIT_MEMLOCK (type1 charges every pinned page to it) unless it has
 * CAP_IPC_LOCK. -ENOMEM with how much is needed and how to raise it.
 */
int vfio_memlock_check(uint64_t guest_bytes, char *why, size_t len)
	__attribute__((warn_unused_result));
/* The same verdict on a given soft limit (RLIM_INFINITY: none) and capability. */
int vfio_memlock_verdict(uint64_t guest_bytes, uint64_t limit, bool cap_ipc_lock,
			 char *why, size_t len) __attribute__((warn_unused_result));
/* What the limit must be for guest_bytes: guest RAM and some room for other locked pages. */
uint64_t vfio_memlock_needed(uint64_t guest_bytes);

/* root: "" or "/" for the real /dev/vfio; a test's directory otherwise. */
int vfio_container_open(struct vfio_container *c, const char *root, char *why, size_t len)
	__attribute__((warn_unused_result));
int vfio_container_open_sys(struct vfio_container *c, const struct vfio_sys *sys,
			    const char *root, char *why, size_t len)
	__attribute__((warn_unused_result));
/*
 * The iommufd alternative to the container: /dev/iommu and an IOAS in c,
 * which then maps DMA through IOMMU_IOAS_MAP and opens devices by cdev.
 */
int vfio_iommufd_open(struct vfio_container *c, const char *root, char *why, size_t len)
	__attribute__((warn_unused_result));
int vfio_iommufd_open_sys(struct vfio_container *c, const struct vfio_sys *sys,
			  const char *root, char *why, size_t len)
	__attribute__((warn_unused_result));
/* The backend c was opened with: "type1" or "iommufd" ("closed" when it is not open). */
const char *vfio_iommu_name(const struct vfio_container *c);
/* Whether root/dev/iommu exists: the kernel has iommufd (CONFIG_IOMMUFD, loaded). */
bool vfio_iommufd_present(const char *root);
/*
 * The name of bdf's VFIO cdev ("vfio3"), from root/sys/bus/pci/devices/
 * BDF/vfio-dev/: 0, or -ENOENT when the kernel gives it none (no
 * CONFIG_VFIO_DEVICE_CDEV, or bdf is not on vfio-pci).
 */
int vfio_cdev_name(const char *root, const char *bdf, char *name, size_t len);

/*
 * The PCI function behind a VFIO device cdev, from the char device's
 * number (fstat's st_rdev): root/sys/dev/char/MAJOR:MINOR leads to
 * .../BDF/vfio-dev/vfioN. bdf gets the function's address, cdev (may be
 * NULL) the node's name ("vfio3"). 0; -ENOENT: no such char device;
 * -ENODEV: a char device, but not a PCI function's VFIO cdev.
 */
int vfio_cdev_bdf(const char *root, unsigned major, unsigned minor, char *bdf, size_t bdf_len,
		  char *cdev, size_t cdev_len);

/* Why a device cdev fd given by a client cannot be used under type1. */
#define VFIO_CDEV_FD_NEEDS_IOMMUFD "a device cdev fd needs --vfio-iommu iommufd (this vmm " \
	"holds its devices through the type1 container)"

/*
 * Opens /dev/vfio/N into c; the first group also sets c's IOMMU type.
 * Under iommufd it only records the group: its devices open by cdev.
 */
int vfio_group_open(struct vfio_container *c, struct vfio_group *g, int group,
		    char *why, size_t len) __attribute__((warn_unused_result));
int vfio_device_open(struct vfio_group *g, const char *bdf, struct vfio_device *d,
		     char *why, size_t len) __attribute__((warn_unused_result));
/*
 * The same from fd, bdf's VFIO cdev as someone else opened it (a
 * supervisor that passed it over the API socket), for a vmm that may not
 * open /dev/vfio/devices/ itself. iommufd only: it is bound and attached
 * as vfio_device_open() does with the node it opens; under type1 it is
 * refused (VFIO_CDEV_FD_NEEDS_IOMMUFD). fd is taken in every case: d's
 * from now on (vfio_device_close() closes it), closed through the
 * group's vfio_sys on failure. That fd is bdf's cdev is the caller's to
 * make sure of (vfio_cdev_bdf()).
 */
int vfio_device_open_fd(struct vfio_group *g, const char *bdf, int fd, struct vfio_device *d,
			char *why, size_t len) __attribute__((warn_unused_result));
/*
 * The fd that proves to KVM's VFIO device (and to a hot reset) that this
 * process owns d: its group's node under type1, its own cdev under
 * iommufd. Functions of one group share it under type1. -1 when closed.
 */
int vfio_device_owner_fd(const struct vfio_device *d);

/* Maps [iova, iova + size) to hva for the devices' DMA, pinning it; recorded in c. */
int vfio_dma_map(struct vfio_container *c, uint64_t iova, void *hva, uint64_t size)
	__attribute__((warn_unused_result));
/* Undoes one vfio_dma_map exactly (same iova and size); -ENOENT if none was made. */
int vfio_dma_unmap(struct vfio_container *c, uint64_t iova, uint64_t size);
/*
 * Every RAM region at its gpa, in 1 GiB mappings so that a long pinning can
 * report progress (on c->progress); on failure nothing it mapped stays mapped.
 */
int vfio_map_guest_ram(struct vfio_container *c, const struct guest_mem *mem,
		       char *why, size_t len) __attribute__((warn_unused_result));
void vfio_unmap_all(struct vfio_container *c);

/*
 * n bytes at off inside region index of d (a BAR, the config space), read
 * or written whole through the device fd: 0, -EINVAL past the region's
 * end, -EIO for a short access, or -errno.
 */
int vfio_region_read(const struct vfio_device *d, unsigned index, uint64_t off, void *buf,
		     size_t n);
int vfio_region_write(const struct vfio_device *d, unsigned index, uint64_t off,
		      const void *buf, size_t n);

/* Close devices, then groups, then the container; each is idempotent. */
void vfio_device_close(struct vfio_device *d);
void vfio_group_close(struct vfio_group *g);
void vfio_container_close(struct vfio_container *c);

#endif
