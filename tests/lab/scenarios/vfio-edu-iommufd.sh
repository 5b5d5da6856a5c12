# vfio-edu (issue 5, acceptance 1) on a lab host whose kernel has iommufd
# and the VFIO device cdevs, which no Debian kernel is built with:
# tests/lab/build-kernel makes one from Debian's Linux source (cached). The
# vmm, with --vfio-iommu left at auto, must take iommufd there: /dev/iommu,
# the device's cdev /dev/vfio/devices/vfioN bound and attached to an IOAS,
# guest RAM mapped with IOMMU_IOAS_MAP. The guest's checks are vfio-edu's:
# the ID register through the directly mapped BAR, DMA both ways with
# checksums, MSI counted. A second vmm asking for the device while the first
# runs is refused in one line; after both, nothing holds /dev/iommu or a
# VFIO node. The guest keeps Debian's kernel.

# shellcheck source=vfio-edu.sh
. "$lab_dir/scenarios/vfio-edu.sh"
lab_host_kernel=iommufd
lab_modules=()
edu_iommu_expected=iommufd
# vfio-edu's kill of a vmm mid-DMA (issue 21) and its runs without root
# (issue 19) are there, under type1, only.
guest_checks=edu
guest_cmdline=
lab_script='
EDU_KILL_FIRST=
EDU_AS_USER=
'"$lab_script"
EDU_KILL_FIRST=
EDU_AS_USER=
