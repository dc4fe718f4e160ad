/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the rig's guest test programs: vfio device setup, aligned
 * BAR mappings, fault and page-table accounting, and ptdump parsing.
 */
#ifndef RIG_UTIL_H
#define RIG_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
/* The kernel tree's gup_test ioctls (-I the tree); the series adds FOLLOW_PFNMAP_TEST. */
#include "mm/gup_test.h"

struct rig_vfio {
	int container_fd;
	int group_fd;
	int device_fd;
	bool type1;
	unsigned long long bar_size;
	unsigned long long bar_offset;
	unsigned int bar_flags;
};

/* Open @bdf (already bound to vfio-pci) in no-IOMMU mode or through a type1 container. */
static inline int rig_vfio_open(struct rig_vfio *v, const char *bdf, bool type1)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[PATH_MAX + 32], link[PATH_MAX];
	const char *grp;
	ssize_t n;

	memset(v, 0, sizeof(*v));
	v->type1 = type1;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) {
		fprintf(stderr, "# %s: %s\n", path, strerror(errno));
		return -1;
	}
	link[n] = '\0';
	grp = strrchr(link, '/');
	grp = grp ? grp + 1 : link;
	snprintf(path, sizeof(path), type1 ? "/dev/vfio/%s" : "/dev/vfio/noiommu-%s", grp);

	v->container_fd = open("/dev/vfio/vfio", O_RDWR);
	if (v->container_fd < 0) {
		fprintf(stderr, "# /dev/vfio/vfio: %s\n", strerror(errno));
		return -1;
	}
	if (ioctl(v->container_fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
		fprintf(stderr, "# unexpected VFIO API version\n");
		return -1;
	}
	v->group_fd = open(path, O_RDWR);
	if (v->group_fd < 0) {
		fprintf(stderr, "# %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (ioctl(v->group_fd, VFIO_GROUP_GET_STATUS, &status) ||
	    !(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		fprintf(stderr, "# group %s is not viable\n", path);
		return -1;
	}
	if (ioctl(v->group_fd, VFIO_GROUP_SET_CONTAINER, &v->container_fd)) {
		fprintf(stderr, "# VFIO_GROUP_SET_CONTAINER: %s\n", strerror(errno));
		return -1;
	}
	if (ioctl(v->container_fd, VFIO_SET_IOMMU, type1 ? VFIO_TYPE1v2_IOMMU : VFIO_NOIOMMU_IOMMU)) {
		fprintf(stderr, "# VFIO_SET_IOMMU: %s\n", strerror(errno));
		return -1;
	}
	v->device_fd = ioctl(v->group_fd, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (v->device_fd < 0) {
		fprintf(stderr, "# VFIO_GROUP_GET_DEVICE_FD: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static inline int rig_vfio_bar(struct rig_vfio *v, unsigned int index)
{
	struct vfio_region_info info = { .argsz = sizeof(info), .index = index };

	if (ioctl(v->device_fd, VFIO_DEVICE_GET_REGION_INFO, &info))
		return -1;
	v->bar_size = info.size;
	v->bar_offset = info.offset;
	v->bar_flags = info.flags;
	return 0;
}

static inline void rig_vfio_close(struct rig_vfio *v)
{
	close(v->device_fd);
	close(v->group_fd);
	close(v->container_fd);
}

/* PCI_COMMAND_MEMORY on or off through the vfio config region at @cfg_off. */
static inline int rig_vfio_set_memory(int device_fd, uint64_t cfg_off, bool on)
{
	uint16_t cmd;

	if (pread(device_fd, &cmd, sizeof(cmd), cfg_off + PCI_COMMAND) != sizeof(cmd))
		return -1;
	cmd = on ? cmd | PCI_COMMAND_MEMORY : cmd & ~PCI_COMMAND_MEMORY;
	return pwrite(device_fd, &cmd, sizeof(cmd), cfg_off + PCI_COMMAND) == sizeof(cmd) ? 0 : -1;
}

/* VFIO_DEVICE_FEATURE_SET of a feature without data (low power entry, exit). */
static inline int rig_vfio_feature(int device_fd, uint32_t feature)
{
	struct vfio_device_feature f = {
		.argsz = sizeof(f),
		.flags = VFIO_DEVICE_FEATURE_SET | feature,
	};

	return ioctl(device_fd, VFIO_DEVICE_FEATURE, &f);
}

/*
 * Is @msg, a kernel log record, the headline of a report that the kernel is
 * broken (not the lines of context that follow one)?
 */
static inline bool rig_splat(const char *msg)
{
	static const char *const headlines[] = {
		"WARNING:", "BUG:", "kernel BUG", "Oops", "general protection fault",
		"Unable to handle kernel", "Bad page", "bad pmd", "bad pud", "bad pte",
		"Bad rss-counter", "Bad swap", "page_table_check", "soft lockup", "hard LOCKUP",
		"hung task", "blocked for more than", "rcu_sched self-detected stall", "rcu: INFO",
		"possible circular locking", "possible recursive locking", "inconsistent lock state",
		"suspicious RCU usage", "UBSAN:", "list_add corruption", "list_del corruption",
		"Kernel panic",
	};
	unsigned int i;

	for (i = 0; i < sizeof(headlines) / sizeof(headlines[0]); i++)
		if (strstr(msg, headlines[i]))
			return true;
	return false;
}

static inline uint64_t rig_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static inline int rig_vfio_map_dma(struct rig_vfio *v, void *vaddr, uint64_t iova, uint64_t size,
				   double *ms)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)vaddr,
		.iova = iova,
		.size = size,
	};
	uint64_t t0 = rig_now_ns();
	int ret = ioctl(v->container_fd, VFIO_IOMMU_MAP_DMA, &map);

	*ms = (rig_now_ns() - t0) / 1e6;
	return ret;
}

static inline int rig_vfio_unmap_dma(struct rig_vfio *v, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap), .iova = iova, .size = size,
	};

	return ioctl(v->container_fd, VFIO_IOMMU_UNMAP_DMA, &unmap) ? -1 : 0;
}

/*
 * mmap @len bytes of @fd at @offset at an address aligned to @align: reserve
 * @len + @align of address space, then map the file over the aligned part.
 */
static inline void *rig_mmap_aligned(int fd, off_t offset, size_t len, size_t align, int prot)
{
	char *res, *want;
	void *p;

	res = mmap(NULL, len + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return MAP_FAILED;
	want = (char *)(((uintptr_t)res + align - 1) & ~(uintptr_t)(align - 1));
	p = mmap(want, len, prot, fd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE :
		 MAP_SHARED | MAP_FIXED, fd, offset);
	if (p == MAP_FAILED) {
		int e = errno;

		munmap(res, len + align);
		errno = e;
		return MAP_FAILED;
	}
	if (want > res)
		munmap(res, want - res);
	if (want + len < res + len + align)
		munmap(want + len, res + len + align - (want + len));
	return p;
}

/* The unsigned number in sysfs file @path, 0 if it cannot be read. */
static inline unsigned long rig_sysfs_ul(const char *path)
{
	unsigned long v = 0;
	FILE *f = fopen(path, "r");

	if (f) {
		if (fscanf(f, "%lu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

static inline long rig_minflt(void)
{
	struct rusage ru;

	/*
	 * Write the buffer first: after fork() its stack page may still be
	 * write-protected, and getrusage() takes the count before its copy-out
	 * breaks the copy-on-write, which the next count would then include.
	 */
	memset(&ru, 0, sizeof(ru));
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/*
 * Write the next 64 KiB of this thread's stack below the caller. After
 * fork(), the parent's stack pages are write-protected until it writes each
 * of them once; a copy-on-write fault on a stack page that a counted window
 * first writes (a deeper call's frame) would count with the mapping's
 * faults.
 */
static __attribute__((noinline, unused)) void rig_prefault_stack(void)
{
	volatile char buf[64 * 1024];
	size_t i;

	for (i = 0; i < sizeof(buf); i += 4096)
		buf[i] = 0;
}

/*
 * NUMA balancing (on in the debug kernel, as in distributions) takes hinting
 * faults on a program's own memory, its stack and its data, which
 * rig_minflt() counts with the mapping's: a program that counts faults
 * keeps it off, and it is put back at exit.
 */
#define RIG_NUMA_BALANCING "/proc/sys/kernel/numa_balancing"
static char rig_numa_saved[8];

static inline void rig_numa_balancing_restore(void)
{
	int fd = open(RIG_NUMA_BALANCING, O_WRONLY);

	if (fd >= 0) {
		if (write(fd, rig_numa_saved, strlen(rig_numa_saved)) < 0)
			perror(RIG_NUMA_BALANCING);
		close(fd);
	}
}

static inline void rig_numa_balancing_off(void)
{
	int fd = open(RIG_NUMA_BALANCING, O_RDWR);
	ssize_t n;

	if (fd < 0)
		return;
	n = read(fd, rig_numa_saved, sizeof(rig_numa_saved) - 1);
	if (n > 0 && pwrite(fd, "0", 1, 0) == 1) {
		rig_numa_saved[n] = '\0';
		atexit(rig_numa_balancing_restore);
	}
	close(fd);
}

/*
 * Faults that the first write to a present but clean PTE of the BAR costs: 0
 * where the CPU sets dirty bits itself (x86; arm64 with FEAT_HAFDBS), 1 where
 * the kernel does it in a fault (arm64 without hardware dirty-bit management,
 * such as QEMU 7.2's TCG "max" CPU). Measured on a two-page mapping whose
 * pages are both read first, so that both PTEs are present however much of
 * the mapping a fault maps. -1 if it cannot be mapped.
 */
static inline long rig_dirty_faults(int fd, off_t offset)
{
	volatile uint64_t *p = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
	long f;

	if (p == MAP_FAILED)
		return -1;
	(void)p[0];
	(void)p[512];
	f = rig_minflt();
	p[512] = p[512];
	f = rig_minflt() - f;
	munmap((void *)p, 2 * 4096);
	return f;
}

/* A field of /proc/self/status in kB, or -1. */
static inline long rig_status_kb(const char *field)
{
	char line[256];
	size_t n = strlen(field);
	long val = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, field, n) && line[n] == ':') {
			val = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

static inline long rig_vmpte_kb(void)
{
	return rig_status_kb("VmPTE");
}

/* The data pattern the host verifies in the BAR's backing file. */
static inline uint64_t rig_pattern(uint64_t seed, uint64_t page)
{
	uint64_t x = seed ^ (page * 0x9e3779b97f4a7c15ULL);

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 29;
	return x;
}

/*
 * The 4 KiB pages of [@p, @p + @len) whose first word is not
 * rig_pattern(@seed, page), where @p is page @first of the pattern.
 */
static inline unsigned long rig_bad_pattern_pages(const char *p, uint64_t first,
						  unsigned long len, uint64_t seed)
{
	unsigned long i, bad = 0;

	for (i = 0; i < len / 4096; i++)
		if (*(const volatile uint64_t *)(p + i * 4096) != rig_pattern(seed, first + i))
			bad++;
	return bad;
}

enum { RIG_PTE, RIG_PMD, RIG_PUD, RIG_NR_LEVELS };

struct rig_leaves {
	unsigned long count[RIG_NR_LEVELS];	/* leaves of each size */
	unsigned long long bytes[RIG_NR_LEVELS];	/* bytes mapped at each level */
	unsigned long long unmapped;		/* bytes not present */
	unsigned long long writable;		/* present bytes mapped RW */
};

#define RIG_PTDUMP "/sys/kernel/debug/page_tables/current_kernel"

/*
 * The per-process ptdump file is x86's. On arm64, 6.1's PTDUMP_DEBUGFS only
 * has /sys/kernel/debug/kernel_page_tables, which dumps the kernel's page
 * tables, never the current process's; there the leaves come from the series'
 * gup_test FOLLOW_PFNMAP_TEST. Only an unpatched arm64 tree has neither: tests
 * skip their leaf-size assertions there (and say so). Anywhere else, not
 * seeing the leaves is an error.
 */
#if defined(__x86_64__) || defined(FOLLOW_PFNMAP_TEST)
#define RIG_PTDUMP_OPTIONAL	0
#else
#define RIG_PTDUMP_OPTIONAL	1
#endif
#define RIG_PTDUMP_WHY "no " RIG_PTDUMP " on this architecture (arm64 6.1 dumps only the kernel's page tables), and no gup_test FOLLOW_PFNMAP_TEST (the unpatched base)"

/*
 * The leaf a huge pfnmap of a large, aligned BAR uses: 1 GiB PUD leaves on
 * x86_64, 2 MiB PMD leaves on arm64, which has no PUD pfnmaps.
 */
#if defined(__x86_64__)
#define RIG_HUGE_LEVEL		RIG_PUD
#define RIG_HUGE_SIZE		(1UL << 30)
#define RIG_HUGE_NAME		"1 GiB PUD"
#else
#define RIG_HUGE_LEVEL		RIG_PMD
#define RIG_HUGE_SIZE		(2UL << 20)
#define RIG_HUGE_NAME		"2 MiB PMD"
#endif

/*
 * The leaves of [start, end) as the series' follow_pfnmap_start() reports
 * them through /sys/kernel/debug/gup_test (CONFIG_GUP_TEST): each PMD or PUD
 * leaf is looked up once; in a run of PTEs the first and the last page of
 * each 2 MiB are, in a run of nothing also the first page of each 64 KiB
 * between them (the most that the series' first PTE fault in a 2 MiB block
 * maps). Returns 0, or -1 where the ioctl is missing.
 */
static inline int rig_follow_leaves(unsigned long start, unsigned long len, struct rig_leaves *out)
{
#ifdef FOLLOW_PFNMAP_TEST
	struct gup_test_follow_pfnmap ft, last;
	unsigned long a = start, end = start + len, next, chunk;
	int fd = open("/sys/kernel/debug/gup_test", O_RDWR), level;

	if (fd < 0)
		return -1;
	while (a < end) {
		chunk = (a | ((2UL << 20) - 1)) + 1;
		chunk = chunk < end ? chunk : end;
		memset(&ft, 0, sizeof(ft));
		ft.addr = a;
		if (ioctl(fd, FOLLOW_PFNMAP_TEST, &ft)) {
			next = a + 4096;
			last.addr = chunk - 4096;
			if (chunk - a > 4096 && ioctl(fd, FOLLOW_PFNMAP_TEST, &last)) {
				for (next = (a | 0xffffUL) + 1; next < chunk; next += 0x10000UL) {
					last.addr = next;
					if (!ioctl(fd, FOLLOW_PFNMAP_TEST, &last))
						break;
				}
				next = next < chunk ? next : chunk;
			}
			out->unmapped += next - a;
			a = next;
			continue;
		}
		level = ft.addr_mask == ~((1UL << 30) - 1) ? RIG_PUD :
			ft.addr_mask == ~((2UL << 20) - 1) ? RIG_PMD : RIG_PTE;
		next = (a | ~ft.addr_mask) + 1;
		if (level == RIG_PTE && chunk - a > 4096) {
			memset(&last, 0, sizeof(last));
			last.addr = chunk - 4096;
			if (!ioctl(fd, FOLLOW_PFNMAP_TEST, &last) &&
			    last.addr_mask == ft.addr_mask && last.writable == ft.writable)
				next = chunk;
		}
		next = next < end ? next : end;
		out->bytes[level] += next - a;
		out->count[level] += (next - a) >> (12 + 9 * level);
		if (ft.writable)
			out->writable += next - a;
		a = next;
	}
	close(fd);
	printf("# leaves from gup_test FOLLOW_PFNMAP_TEST (no %s)\n", RIG_PTDUMP);
	return 0;
#else
	(void)start;
	(void)len;
	(void)out;
	return -1;
#endif
}

/*
 * Which page-table leaves map [start, start + len) in the current process?
 * Parses the x86 ptdump file ("0xSTART-0xEND  SIZE  PROT...  LEVEL"); ranges
 * are clipped to the window. Where there is no such file (arm64), asks
 * follow_pfnmap_start() through gup_test instead. Returns 0, or -1 if
 * neither works.
 */
static inline int rig_ptdump_leaves(unsigned long start, unsigned long len, struct rig_leaves *out)
{
	unsigned long end = start + len, covered = 0;
	char line[512];
	FILE *f = fopen(RIG_PTDUMP, "r");

	memset(out, 0, sizeof(*out));
	if (!f)
		return rig_follow_leaves(start, len, out);
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b, lo, hi;
		char *lvl;
		int level;
		bool present;

		if (sscanf(line, "0x%lx-0x%lx", &a, &b) != 2)
			continue;
		if (b <= start || a >= end)
			continue;
		line[strcspn(line, "\n")] = '\0';
		lvl = strrchr(line, ' ');
		lvl = lvl ? lvl + 1 : line;
		if (!strcmp(lvl, "pte"))
			level = RIG_PTE;
		else if (!strcmp(lvl, "pmd"))
			level = RIG_PMD;
		else if (!strcmp(lvl, "pud"))
			level = RIG_PUD;
		else
			level = -1;
		present = strstr(line, " RW ") || strstr(line, " ro ");
		lo = a < start ? start : a;
		hi = b > end ? end : b;
		covered += hi - lo;
		printf("# ptdump: %s\n", line);
		if (!present || level < 0) {
			out->unmapped += hi - lo;
			continue;
		}
		out->bytes[level] += hi - lo;
		if (strstr(line, " RW "))
			out->writable += hi - lo;
		out->count[level] += (hi - lo) >> (12 + 9 * level);
	}
	fclose(f);
	out->unmapped += len - covered;
	return 0;
}

#endif
