/* SPDX-License-Identifier: MIT */
#ifndef VFIO_IOMMUFD_ABI_H
#define VFIO_IOMMUFD_ABI_H

/*
 * The kernel ABI of iommufd (/dev/iommu, Linux 6.2) and of the VFIO device
 * cdev's binding to it (/dev/vfio/devices/vfioN, Linux 6.6), for builds
 * whose uapi headers predate them: Debian 12's linux-libc-dev is 6.1. The
 * layouts and numbers are the kernel's stable ABI (include/uapi/linux/
 * iommufd.h and vfio.h); newer headers, when present, are used instead.
 */

#include <linux/ioctl.h>
#include <linux/types.h>
#include <linux/vfio.h>

#if defined(__has_include) && __has_include(<linux/iommufd.h>)
#include <linux/iommufd.h>
#endif

#ifndef IOMMU_IOAS_ALLOC
#define IOMMUFD_TYPE (';')

struct iommu_ioas_alloc {
	__u32 size;
	__u32 flags;
	__u32 out_ioas_id;
};
#define IOMMU_IOAS_ALLOC _IO(IOMMUFD_TYPE, 0x81)

enum {
	IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0,
	IOMMU_IOAS_MAP_WRITEABLE = 1 << 1,
	IOMMU_IOAS_MAP_READABLE = 1 << 2,
};

struct iommu_ioas_map {
	__u32 size;
	__u32 flags;
	__u32 ioas_id;
	__u32 __reserved;
	__aligned_u64 user_va;
	__aligned_u64 length;
	__aligned_u64 iova;
};
#define IOMMU_IOAS_MAP _IO(IOMMUFD_TYPE, 0x85)

struct iommu_ioas_unmap {
	__u32 size;
	__u32 ioas_id;
	__aligned_u64 iova;
	__aligned_u64 length;       /* in: bytes to unmap; out: bytes unmapped */
};
#define IOMMU_IOAS_UNMAP _IO(IOMMUFD_TYPE, 0x86)
#endif

#ifndef VFIO_DEVICE_BIND_IOMMUFD
struct vfio_device_bind_iommufd {
	__u32 argsz;
	__u32 flags;
	__s32 iommufd;
	__u32 out_devid;
};
#define VFIO_DEVICE_BIND_IOMMUFD _IO(VFIO_TYPE, VFIO_BASE + 18)

struct vfio_device_attach_iommufd_pt {
	__u32 argsz;
	__u32 flags;
	__u32 pt_id;
};
#define VFIO_DEVICE_ATTACH_IOMMUFD_PT _IO(VFIO_TYPE, VFIO_BASE + 19)
#endif

/*
 * The hot reset under iommufd (Linux 6.6): GET_PCI_HOT_RESET_INFO then
 * gives each affected function's device id in place of its group (the
 * same 32 bits of struct vfio_pci_dependent_device), and says whether
 * all of them are bound to the caller's iommufd.
 */
#ifndef VFIO_PCI_HOT_RESET_FLAG_DEV_ID
#define VFIO_PCI_HOT_RESET_FLAG_DEV_ID       (1 << 0)
#define VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED (1 << 1)
#define VFIO_PCI_DEVID_OWNED                 0
#define VFIO_PCI_DEVID_NOT_OWNED             (-1)
#endif

#endif
