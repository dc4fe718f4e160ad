// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark vfio BAR mmaps. Numbers only: no pass/fail on speed; a test fails
 * only when a mapping is wrong (data does not read back, part of it is not
 * mapped, a DMA mapping does not unmap whole).
 *
 * bar_bench --bdf BDF [--size BYTES] [--mode noiommu|type1]
 *	For a 1 GiB-aligned, a 2 MiB-aligned and a 1 MiB-skewed address, print
 *	the first access (median over fresh mappings: first_access_us()), the
 *	faults, page-table memory and time it takes to touch every 4 KiB
 *	page, the cost of random 8-byte reads across the BAR (TLB reach), and
 *	the munmap time (each case's first fault is taken once, untimed,
 *	before any is measured, each case's populate is rehearsed once,
 *	untimed, before it is measured: rehearse_populate(), and the
 *	process's TLB is flushed, untimed, before each timed munmap:
 *	flush_own_tlb()). The leaves (pud/pmd/pte
 *	counts) come from ptdump; where it cannot show the process's page
 *	tables (arm64) they print as "n/a" and the correctness check rests on
 *	the data alone. x86_64 maps an aligned BAR with 1 GiB PUD leaves,
 *	arm64 with 2 MiB PMD leaves at most.
 *
 * bar_bench --scale [--procs N] [--dax /dev/daxN.M] BDF...
 *	Scale rows, all in one vfio type1 container (behind a vIOMMU), every
 *	mapping at a 1 GiB-aligned address:
 *	- each BAR size alone (the first device of each size);
 *	- the first device alone again, touched every 2 MiB (e.g. 1x2G-sparse),
 *	  where its own row touches it every 4 KiB;
 *	- all devices of the first device's size at once (e.g. 4x2G);
 *	- N processes (default 8) mapping the first device's BAR at once, with
 *	  a floor of its own: a fixed user loop (spin()) alone and as a phase
 *	  in all N processes, the scheduler's part of each of that row's phases;
 *	- "floor": munmap of the first BAR mapped but never touched and of an
 *	  anonymous mapping of its size, the kernel's munmap path without any
 *	  leaf, the full TLB flush a munmap of leaves ends with (an mprotect),
 *	  a system call that does nothing, and a write fault on a page
 *	  cache page (median of FLOOR_REPS each); the first BAR's first access
 *	  with each write right after a munmap; with --dax, the same for a
 *	  1 GiB device DAX mapping, whose PUD leaf 6.1 has without the series,
 *	  and its munmap (floor_row()); after the last row, the first BAR's
 *	  munmap untouched, written once a GiB and written every 4 KiB, in
 *	  FLOOR_REPS rounds of the three (floor_leaves_row()).
 *	For each row: faults and page-table memory (VmPTE growth, summed over
 *	mappings and processes), first access (first_access_us(), in each
 *	mapping's process), populate, VFIO_IOMMU_MAP_DMA and
 *	VFIO_IOMMU_UNMAP_DMA of the whole mapping, and munmap. BARs up to
 *	2 GiB are touched every 4 KiB, larger ones every 2 MiB (a BAR backed
 *	by a host tmpfs hole allocates a host page per 4 KiB touched); the
 *	row says which (touch_kB). Every BAR is touched that way once, untimed,
 *	before the rows, so that the host's first-touch costs stay out of them.
 *	A row of several mappings reports the mean
 *	first access and the total of every other time; the process row times
 *	each phase from the moment all processes start it to the moment the
 *	last one finishes. Every munmap, of every row, is timed after an
 *	untimed flush of its process's TLB (flush_own_tlb()).
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "kselftest.h"
#include "rig_util.h"

#define SZ_4K	4096UL
#define SZ_1M	(1UL << 20)
#define SZ_2M	(2UL << 20)
#define SZ_1G	(1UL << 30)
#define READS	(1UL << 20)
/* Larger BARs are touched once per 2 MiB (sparse host backing). */
#define DENSE_MAX	(2UL << 30)
#define IOVA_BASE	(1ULL << 32)
#define MAX_DEVS	16
#define MAX_PROCS	64
#define SPIN_LOOPS	(1UL << 18)

/* Map @len bytes of @fd at @offset, @skew bytes above a 1 GiB boundary. */
static char *map_fd_skewed(int fd, off_t offset, unsigned long long len, unsigned long skew)
{
	char *res, *want;

	res = mmap(NULL, len + 2 * SZ_1G, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return res;
	want = (char *)(((uintptr_t)res + SZ_1G - 1) & ~(SZ_1G - 1)) + skew;
	munmap(res, len + 2 * SZ_1G);
	return mmap(want, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, offset);
}

static char *map_skewed(struct rig_vfio *dev, unsigned long len, unsigned long skew)
{
	return map_fd_skewed(dev->device_fd, dev->bar_offset, len, skew);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * The first access of a mapping: the time of one write to a fresh mapping,
 * which takes the mapping's first fault. Under TCG a single such write
 * costs what the kernel does plus what the emulator does after the
 * process's last calls: right after the populate and the random reads of a
 * 2 GiB mapping, the first write to a fresh 2 MiB-aligned mapping took 110
 * to 360 us, on the series and on 6.12 alike, where the same write took 12
 * to 14 us when repeated on fresh mappings. One sample per row measured the
 * row before it. The first access is therefore the median of FIRST_REPS
 * fresh mappings, taken just before the mapping whose populate, munmap and
 * DMA mapping the row reports.
 *
 * The mappings are all made before the first of them is written, as a
 * process maps a BAR and then uses it: each write follows the previous
 * write's fault, not a munmap. A write straight after the munmap of a
 * mapping with a leaf (@after_munmap: map, write and unmap in turn) also
 * pays for what that munmap left, and 6.1's munmap leaves more than 6.12's
 * for any leaf: with 1 GiB device DAX, whose PUD leaves 6.1 has without the
 * series, that write took 7.2 us on 6.1 and 5.0 us on 6.12, where the
 * same write to mappings made first took 4.1 and 2.9 us. The floor row
 * reports both ways, for the first BAR and for a device DAX control
 * (floor_row()).
 */
#define FIRST_REPS	7

/* The time of one write to @p, in us: the first one takes its fault. */
static double write_us(char *p)
{
	uint64_t t0;

	rig_now_ns();
	t0 = rig_now_ns();
	*(volatile uint64_t *)p = 0;
	return (rig_now_ns() - t0) / 1e3;
}

static double first_access_us(int fd, off_t offset, unsigned long long len, unsigned long skew,
			      bool after_munmap)
{
	char *p[FIRST_REPS];
	double us[FIRST_REPS];
	unsigned int i, n = 0;

	if (after_munmap) {
		for (i = 0; i < FIRST_REPS; i++) {
			p[0] = map_fd_skewed(fd, offset, len, skew);
			if (p[0] == MAP_FAILED)
				continue;
			us[n++] = write_us(p[0]);
			munmap(p[0], len);
		}
	} else {
		for (i = 0; i < FIRST_REPS; i++)
			p[i] = map_fd_skewed(fd, offset, len, skew);
		for (i = 0; i < FIRST_REPS; i++)
			if (p[i] != MAP_FAILED)
				us[n++] = write_us(p[i]);
		for (i = 0; i < FIRST_REPS; i++)
			if (p[i] != MAP_FAILED)
				munmap(p[i], len);
	}
	if (!n)
		return -1;
	qsort(us, n, sizeof(us[0]), cmp_double);
	return us[n / 2];
}

/*
 * Flush this process's TLB, untimed, just before a timed munmap. Under TCG
 * the first full TLB flush after a populate has filled the emulated TLB
 * costs the emulator anything from under a millisecond to hundreds, and the
 * guest call that flushes first pays it: a munmap timed straight after the
 * populate, or on a kernel whose DMA mapping between the two takes seconds,
 * something before it. flush_own_tlb() makes the two touched pages of
 * flush_area, 8 GiB apart (made once by flush_area_init(), before anything
 * is measured), PROT_NONE and then writable again: the first step takes
 * away two present entries, which every kernel flushes (x86_64 skips the
 * flush when only a write bit that a fork's write protection already
 * cleared would go), over a range too long for x86_64 (more than 33 pages)
 * and arm64 (MAX_TLBI_RANGE_PAGES) to flush page by page, so the whole TLB
 * of the process is flushed on every CPU it is live on. (A fork would flush
 * too, but it write-protects all of the process's private pages, and the
 * next populate counted their write faults.) Then one anonymous page is
 * mapped, touched and unmapped, so that the code and data of the munmap
 * path are back in the TLB, as they are for a munmap that follows another.
 * The munmap timed next costs what the kernel does for the mapping, on
 * every kernel alike.
 */
#define FLUSH_SPAN	(8ULL << 30)

static char *flush_area;

static void flush_area_init(void)
{
	flush_area = mmap(NULL, FLUSH_SPAN + SZ_4K, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (flush_area == MAP_FAILED)
		ksft_exit_fail_msg("mmap of the TLB flush area: %s\n", strerror(errno));
	*(volatile char *)flush_area = 1;
	*(volatile char *)(flush_area + FLUSH_SPAN) = 1;
}

/* PROT_NONE takes away the two present entries: a flush of the whole TLB. */
static void protect_flush_area(int prot)
{
	if (mprotect(flush_area, FLUSH_SPAN + SZ_4K, prot))
		ksft_exit_fail_msg("mprotect of the TLB flush area: %s\n", strerror(errno));
}

static void flush_own_tlb(void)
{
	char *q;

	protect_flush_area(PROT_NONE);
	protect_flush_area(PROT_READ | PROT_WRITE);
	q = mmap(NULL, SZ_4K, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (q != MAP_FAILED) {
		*(volatile char *)q = 1;
		munmap(q, SZ_4K);
	}
}

/* munmap() of [@p, @p + @len) after flush_own_tlb(): its time in us. */
static double munmap_us(char *p, unsigned long long len)
{
	uint64_t t0;

	flush_own_tlb();
	t0 = rig_now_ns();
	munmap(p, len);
	return (rig_now_ns() - t0) / 1e3;
}

/* Both rig kernels have 4-level tables: a top-level entry spans 512 GiB. */
#define TOP_SHIFT	39

/*
 * A mapping that crosses a 512 GiB boundary needs a PUD table (x86_64; a
 * level 1 table on arm64) for the region below the boundary, which the
 * process may not have yet: 4 kB of VmPTE that depend on where ASLR put
 * the mmap area (the 32 and 64 GiB mappings cross in some boots), not on
 * the BAR. Map and touch one anonymous page just below such a mapping
 * before measuring, as anchor_mmap_area() does for the first mapping, so
 * that a row counts the BAR's own page tables only. Returns the page, to be
 * unmapped after the row, or NULL.
 */
static char *cover_lower_region(char *p, unsigned long long len)
{
	char *q;

	if ((uintptr_t)p >> TOP_SHIFT == ((uintptr_t)p + len - 1) >> TOP_SHIFT)
		return NULL;
	q = mmap(p - SZ_4K, SZ_4K, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (q == MAP_FAILED)
		return NULL;
	*(volatile char *)q = 1;
	return q;
}

static void rehearse_populate(struct rig_vfio *dev, unsigned long len, unsigned long skew);

static int bench_alignments(const char *bdf, unsigned long len, bool type1)
{
	static const struct { const char *name; unsigned long skew; } cases[] = {
		{ "1G-aligned", 0 }, { "2M-aligned", SZ_2M }, { "1M-skewed", SZ_1M },
	};
	struct rig_vfio dev;
	unsigned long i, c;

	ksft_print_header();
	ksft_set_plan(3);
	if (!bdf || rig_vfio_open(&dev, bdf, type1) || rig_vfio_bar(&dev, 2))
		ksft_exit_fail_msg("cannot open the BAR device through vfio\n");
	if (len > dev.bar_size)
		len = dev.bar_size;

	/*
	 * Take each case's first fault once, untimed. Under TCG the first run
	 * of kernel code in a boot pays for its translation, hundreds of
	 * microseconds, and which fault paths have run before depends on the
	 * kernel, not on the case being measured: 6.12 maps a single PTE with
	 * vmf_insert_pfn(), which a process has already run when it faulted in
	 * the vDSO's data page, while the series' PTE block is new code.
	 */
	for (c = 0; c < 3; c++) {
		char *p = map_skewed(&dev, len, cases[c].skew);

		if (p == MAP_FAILED)
			continue;
		*(volatile uint64_t *)p = *(volatile uint64_t *)p;
		munmap(p, len);
	}

	for (c = 0; c < 3; c++) {
		struct rig_leaves l;
		char leaves[64];
		bool have_leaves;
		double first_us, pop_ms, rand_ns, unmap_ms;
		long f0, faults, pte0, pte;
		uint64_t t0, x = 88172645463325252ULL, sum = 0;
		char *p, *cover;

		first_us = first_access_us(dev.device_fd, dev.bar_offset, len, cases[c].skew, false);
		rehearse_populate(&dev, len, cases[c].skew);
		p = map_skewed(&dev, len, cases[c].skew);
		if (p == MAP_FAILED) {
			ksft_test_result_fail("%s: mmap failed\n", cases[c].name);
			continue;
		}
		cover = cover_lower_region(p, len);
		pte0 = rig_vmpte_kb();
		rig_now_ns();
		f0 = rig_minflt();
		t0 = rig_now_ns();
		for (i = 0; i < len / SZ_4K; i++)
			*(volatile uint64_t *)(p + i * SZ_4K) = i;
		pop_ms = (rig_now_ns() - t0) / 1e6;
		faults = rig_minflt() - f0;
		pte = rig_vmpte_kb() - pte0;
		have_leaves = !rig_ptdump_leaves((unsigned long)p, len, &l);
		if (!have_leaves && !RIG_PTDUMP_OPTIONAL)
			ksft_exit_fail_msg("cannot see the page-table leaves: no " RIG_PTDUMP ", and no gup_test FOLLOW_PFNMAP_TEST\n");
		if (have_leaves)
			snprintf(leaves, sizeof(leaves), "%lu/%lu/%lu", l.count[RIG_PUD],
				 l.count[RIG_PMD], l.count[RIG_PTE]);
		else
			snprintf(leaves, sizeof(leaves), "n/a");

		t0 = rig_now_ns();
		for (i = 0; i < READS; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			sum += *(volatile uint64_t *)(p + ((x % (len / 8)) * 8));
		}
		rand_ns = (double)(rig_now_ns() - t0) / READS;

		/*
		 * Numbers are only worth printing for a correct mapping: all of
		 * it present after populating (when ptdump can tell), and the
		 * values written read back.
		 */
		ksft_test_result((!have_leaves || !l.unmapped) && *(volatile uint64_t *)(p + SZ_4K) == 1 &&
				 *(volatile uint64_t *)(p + len - SZ_4K) == len / SZ_4K - 1,
				 "%s: %s, data reads back (checksum %llx)\n", cases[c].name,
				 have_leaves ? "fully mapped" : "mapping not seen (" RIG_PTDUMP_WHY ")",
				 (unsigned long long)sum);
		unmap_ms = munmap_us(p, len) / 1e3;
		if (cover)
			munmap(cover, SZ_4K);
		ksft_print_msg("BENCH %s size_MiB=%lu faults=%ld vmpte_kB=%ld leaves=%s first_access_us=%.1f populate_ms=%.3f rand_read_ns=%.1f munmap_ms=%.3f\n",
			       cases[c].name, len >> 20, faults, pte, leaves, first_us, pop_ms,
			       rand_ns, unmap_ms);
	}
	rig_vfio_close(&dev);
	ksft_finished();
	return 0;
}

/* Scale mode: several devices in one type1 container. */
struct scale_dev {
	const char *bdf;
	int group_fd;
	int device_fd;
	unsigned long long size;
	unsigned long long offset;
};

static int container_fd = -1;
static bool iommu_set;

static int scale_open(struct scale_dev *d, const char *bdf)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	struct vfio_region_info info = { .argsz = sizeof(info), .index = 2 };
	char path[PATH_MAX + 32], link[PATH_MAX];
	const char *grp;
	ssize_t n;

	d->bdf = bdf;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) {
		ksft_print_msg("%s: %s\n", path, strerror(errno));
		return -1;
	}
	link[n] = '\0';
	grp = strrchr(link, '/');
	snprintf(path, sizeof(path), "/dev/vfio/%s", grp ? grp + 1 : link);
	if (container_fd < 0) {
		container_fd = open("/dev/vfio/vfio", O_RDWR);
		if (container_fd < 0 || ioctl(container_fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
			ksft_print_msg("/dev/vfio/vfio: cannot open, or unexpected API version\n");
			return -1;
		}
	}
	d->group_fd = open(path, O_RDWR);
	if (d->group_fd < 0 || ioctl(d->group_fd, VFIO_GROUP_GET_STATUS, &status) ||
	    !(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		ksft_print_msg("%s: cannot open, or the group is not viable (one device per group is needed)\n",
			       path);
		return -1;
	}
	if (ioctl(d->group_fd, VFIO_GROUP_SET_CONTAINER, &container_fd)) {
		ksft_print_msg("VFIO_GROUP_SET_CONTAINER %s: %s\n", path, strerror(errno));
		return -1;
	}
	/* The IOMMU model is set once, after the first group joins. */
	if (!iommu_set) {
		if (ioctl(container_fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) {
			ksft_print_msg("VFIO_SET_IOMMU (type1v2): %s\n", strerror(errno));
			return -1;
		}
		iommu_set = true;
	}
	d->device_fd = ioctl(d->group_fd, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (d->device_fd < 0) {
		ksft_print_msg("VFIO_GROUP_GET_DEVICE_FD %s: %s\n", bdf, strerror(errno));
		return -1;
	}
	if (ioctl(d->device_fd, VFIO_DEVICE_GET_REGION_INFO, &info) ||
	    !(info.flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		ksft_print_msg("%s: BAR2 is missing or cannot be mmap-ed\n", bdf);
		return -1;
	}
	d->size = info.size;
	d->offset = info.offset;
	return 0;
}

static int map_dma(void *vaddr, uint64_t iova, uint64_t size, double *ms)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)vaddr, .iova = iova, .size = size,
	};
	uint64_t t0 = rig_now_ns();
	int ret = ioctl(container_fd, VFIO_IOMMU_MAP_DMA, &map);

	*ms = (rig_now_ns() - t0) / 1e6;
	if (ret)
		ksft_print_msg("VFIO_IOMMU_MAP_DMA of %llu MiB at iova 0x%llx: %s\n",
			       (unsigned long long)size >> 20, (unsigned long long)iova, strerror(errno));
	return ret;
}

static int unmap_dma(uint64_t iova, uint64_t size, double *ms)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap), .iova = iova, .size = size,
	};
	uint64_t t0 = rig_now_ns();
	int ret = ioctl(container_fd, VFIO_IOMMU_UNMAP_DMA, &unmap);

	*ms = (rig_now_ns() - t0) / 1e6;
	if (ret || unmap.size != size) {
		ksft_print_msg("VFIO_IOMMU_UNMAP_DMA of %llu MiB at iova 0x%llx: %s, %llu bytes unmapped\n",
			       (unsigned long long)size >> 20, (unsigned long long)iova,
			       ret ? strerror(errno) : "ok", (unsigned long long)unmap.size);
		return -1;
	}
	return 0;
}

/* What one mapping (or one process) measured. */
struct sample {
	long faults;
	long vmpte_kb;
	double first_us, populate_ms, map_ms, unmap_ms, munmap_ms;
	int bad;		/* wrong data, a failed ioctl or mmap */
};

static unsigned long touch_stride(unsigned long long size)
{
	return size <= DENSE_MAX ? SZ_4K : SZ_2M;
}

/* Touch (write) one word per @stride bytes, then read two of them back. */
static void populate(char *p, unsigned long long size, unsigned long stride, struct sample *s)
{
	unsigned long i, n = size / stride;
	long f0, pte0;
	uint64_t t0;

	pte0 = rig_vmpte_kb();
	rig_now_ns();
	f0 = rig_minflt();
	t0 = rig_now_ns();
	for (i = 0; i < n; i++)
		*(volatile uint64_t *)(p + i * stride) = i;
	s->populate_ms = (rig_now_ns() - t0) / 1e6;
	s->faults = rig_minflt() - f0;
	s->vmpte_kb = rig_vmpte_kb() - pte0;
	if (*(volatile uint64_t *)(p + stride) != 1 ||
	    *(volatile uint64_t *)(p + (n - 1) * stride) != n - 1)
		s->bad = 1;
}

/*
 * Populate a mapping like the one about to be measured, untimed, and unmap it,
 * so that on every kernel the measured populate takes its page tables from
 * pages the kernel has just freed. What ran before differs: 6.1 maps the
 * whole mapping in each of first_access_us()'s faults and frees those page
 * tables again, the series and 6.12 map a few pages there. Without this the
 * series' populate of the 1 MiB-skewed mapping took 10 to 20 ms more, 6.1's
 * the same.
 */
static void rehearse_populate(struct rig_vfio *dev, unsigned long len, unsigned long skew)
{
	char *p = map_skewed(dev, len, skew);
	struct sample unused = { 0 };

	if (p == MAP_FAILED)
		return;
	populate(p, len, SZ_4K, &unused);
	munmap(p, len);
}

static void print_row(const char *name, unsigned int bars, unsigned int procs,
		      unsigned long long bar_size, unsigned long stride, const char *leaves,
		      const struct sample *t)
{
	unsigned long long size = bar_size * bars;

	ksft_print_msg("BENCH %s bars=%u procs=%u size_MiB=%llu touch_kB=%lu faults=%ld vmpte_kB=%ld leaves=%s first_access_us=%.1f populate_ms=%.3f munmap_ms=%.3f map_dma_ms=%.3f unmap_dma_ms=%.3f\n",
		       name, bars, procs, size >> 20, stride >> 10, t->faults, t->vmpte_kb,
		       leaves, t->first_us, t->populate_ms, t->munmap_ms, t->map_ms, t->unmap_ms);
}

/* The munmap time of each of @s[0..@n), in ms, into @buf: " 0.12 0.34 ...". */
static void munmap_times(char *buf, size_t len, const struct sample *s, unsigned int n)
{
	size_t off = 0;
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < n && off < len; i++)
		off += snprintf(buf + off, len - off, " %.3f", s[i].munmap_ms);
}

/*
 * Map the BARs of @devs at 1 GiB-aligned addresses into @p. Returns the
 * number mapped: @n, or the index of the one that failed, with those before
 * it unmapped again and errno kept.
 */
static unsigned int map_row(struct scale_dev **devs, unsigned int n, char **p)
{
	unsigned int i, j;
	int e;

	for (i = 0; i < n; i++) {
		p[i] = rig_mmap_aligned(devs[i]->device_fd, devs[i]->offset, devs[i]->size, SZ_1G,
					PROT_READ | PROT_WRITE);
		if (p[i] == MAP_FAILED) {
			e = errno;
			for (j = 0; j < i; j++)
				munmap(p[j], devs[j]->size);
			errno = e;
			return i;
		}
	}
	return n;
}

/* Unmap what map_row() mapped, in order, each after flush_own_tlb(); time each into @s. */
static void unmap_row(struct scale_dev **devs, unsigned int n, char **p, struct sample *s)
{
	unsigned int i;
	double us;

	for (i = 0; i < n; i++) {
		us = munmap_us(p[i], devs[i]->size);
		if (s)
			s[i].munmap_ms = us / 1e3;
	}
}

/*
 * @n devices of one process, each mapped, populated (one word written per
 * @stride bytes), DMA-mapped and unmapped in turn.
 */
static bool scale_devices(const char *name, struct scale_dev **devs, unsigned int n,
			  unsigned long stride)
{
	char *p[MAX_DEVS], *cover[MAX_DEVS];
	struct sample s[MAX_DEVS] = { 0 }, t = { 0 };
	double first[MAX_DEVS];
	char leaves[64] = "-";
	uint64_t iova = IOVA_BASE;
	unsigned int i;
	long pte0;
	bool ok = true;

	/*
	 * Rehearse the row once, untimed: map the BARs as below, touch one
	 * word of each and unmap them in the same order, each after
	 * flush_own_tlb(). Under TCG the first run of a kernel path in a boot
	 * pays for its translation, and the first row of several mappings is
	 * where munmap takes some paths for the first time: in every boot of
	 * the series, the second munmap of the first 4x2G row took 1.0 to 1.4
	 * ms, and the same munmap 0.1 ms when the row was run again.
	 */
	if (map_row(devs, n, p) == n) {
		for (i = 0; i < n; i++)
			*(volatile uint64_t *)p[i] = *(volatile uint64_t *)p[i];
		unmap_row(devs, n, p, NULL);
	}

	for (i = 0; i < n; i++)
		first[i] = first_access_us(devs[i]->device_fd, devs[i]->offset, devs[i]->size, 0,
					   false);
	i = map_row(devs, n, p);
	if (i < n) {
		ksft_test_result_fail("%s: mmap of %s failed: %s\n", name, devs[i]->bdf,
				      strerror(errno));
		return false;
	}
	for (i = 0; i < n; i++)
		cover[i] = cover_lower_region(p[i], devs[i]->size);
	pte0 = rig_vmpte_kb();
	for (i = 0; i < n; i++) {
		populate(p[i], devs[i]->size, stride, &s[i]);
		s[i].first_us = first[i];
		/* Where it landed: page-table growth depends on the 512 GiB regions crossed. */
		ksft_print_msg("%s: %s mapped at %p-%p\n", name, devs[i]->bdf, p[i],
			       p[i] + devs[i]->size);
	}
	t.vmpte_kb = rig_vmpte_kb() - pte0;
	if (n == 1) {
		struct rig_leaves l;

		if (!rig_ptdump_leaves((unsigned long)p[0], devs[0]->size, &l)) {
			snprintf(leaves, sizeof(leaves), "%lu/%lu/%lu", l.count[RIG_PUD],
				 l.count[RIG_PMD], l.count[RIG_PTE]);
			if (l.unmapped) {
				ksft_print_msg("%s: %llu bytes not mapped after populating\n", name,
					       l.unmapped);
				ok = false;
			}
		}
	}
	for (i = 0; i < n; i++) {
		s[i].bad |= map_dma(p[i], iova, devs[i]->size, &s[i].map_ms);
		iova += devs[i]->size;
	}
	iova = IOVA_BASE;
	for (i = 0; i < n; i++) {
		if (!s[i].bad)
			s[i].bad |= unmap_dma(iova, devs[i]->size, &s[i].unmap_ms);
		iova += devs[i]->size;
	}
	unmap_row(devs, n, p, s);
	for (i = 0; i < n; i++)
		if (cover[i])
			munmap(cover[i], SZ_4K);
	if (n > 1) {
		/* The row gives the total; where it goes is a diagnostic. */
		char each[16 * MAX_DEVS];

		munmap_times(each, sizeof(each), s, n);
		ksft_print_msg("%s: munmap of each mapping, in order (ms):%s\n", name, each);
	}
	for (i = 0; i < n; i++) {
		t.faults += s[i].faults;
		t.first_us += s[i].first_us / n;
		t.populate_ms += s[i].populate_ms;
		t.map_ms += s[i].map_ms;
		t.unmap_ms += s[i].unmap_ms;
		t.munmap_ms += s[i].munmap_ms;
		ok &= !s[i].bad;
	}
	ok &= rig_vmpte_kb() <= pte0;
	print_row(name, n, 1, devs[0]->size, stride, leaves, &t);
	ksft_test_result(ok, "%s: %u BAR(s) of %llu MiB mapped, data reads back, DMA-mapped and unmapped whole, page tables returned\n",
			 name, n, devs[0]->size >> 20);
	return ok;
}

/* Fixed user work, the same on every kernel: 0.3 to 0.5 ms under TCG. */
static void spin(void)
{
	unsigned long i;

	for (i = 0; i < SPIN_LOOPS; i++)
		__asm__ __volatile__("" : : : "memory");
}

/* Pipe barrier: the parent starts a phase in every child, then waits for all. */
struct barrier {
	int go[2], done[2];
};

static void child_wait(struct barrier *b)
{
	char c;

	if (read(b->go[0], &c, 1) != 1)
		_exit(1);
}

static void child_done(struct barrier *b)
{
	char c = 0;

	if (write(b->done[1], &c, 1) != 1)
		_exit(1);
}

/* Start a phase in @n children and return its wall time in ms. */
static double phase(struct barrier *b, unsigned int n)
{
	char c[MAX_PROCS] = { 0 };
	uint64_t t0 = rig_now_ns();
	unsigned int got = 0;
	ssize_t r;

	if (write(b->go[1], c, n) != (ssize_t)n)
		return -1;
	while (got < n) {
		r = read(b->done[0], c, n - got);
		if (r <= 0)
			return -1;
		got += r;
	}
	return (rig_now_ns() - t0) / 1e6;
}

/* Wait until each of @n children has said it is ready. */
static bool children_ready(struct barrier *b, unsigned int n)
{
	bool ok = true;
	unsigned int i;
	char c;

	for (i = 0; i < n; i++)
		if (read(b->done[0], &c, 1) != 1)
			ok = false;
	return ok;
}

/*
 * A fork() of a processes row failed: stop the @n children started so far,
 * which wait for their next phase, and close the pipes.
 */
static void stop_children(struct barrier *b, const pid_t *pid, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		kill(pid[i], SIGKILL);
		waitpid(pid[i], NULL, 0);
	}
	close(b->go[0]);
	close(b->go[1]);
	close(b->done[0]);
	close(b->done[1]);
}

/*
 * The end of a child of the processes rows, from its untimed TLB flush
 * phase: flush, unmap @p (of @size, unless MAP_FAILED) in the timed phase
 * that follows, into *@ms, and exit in one more, untimed: an exit tears
 * down the rest of the process's mm, which is not what the munmap phase
 * measures.
 */
static void __attribute__((noreturn)) child_flush_munmap_exit(struct barrier *b, void *p,
							      size_t size, double *ms)
{
	uint64_t t0;

	flush_own_tlb();
	child_done(b);
	child_wait(b);
	t0 = rig_now_ns();
	if (p != MAP_FAILED)
		munmap(p, size);
	*ms = (rig_now_ns() - t0) / 1e6;
	child_done(b);
	child_wait(b);
	child_done(b);
	_exit(0);
}

/* @n processes map the same BAR; each phase runs in all of them at once. */
static bool scale_procs(const char *name, struct scale_dev *d, unsigned int n)
{
	struct sample *s, t = { 0 };
	char each[16 * MAX_PROCS];
	struct barrier b;
	unsigned int i;
	double spin_all_ms, spin_ms;
	uint64_t t0;
	pid_t pid[MAX_PROCS];
	bool ok = true;
	int status;

	s = mmap(NULL, n * sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED || pipe(b.go) || pipe(b.done)) {
		ksft_test_result_fail("%s: no shared memory or pipes\n", name);
		return false;
	}
	memset(s, 0, n * sizeof(*s));
	for (i = 0; i < n; i++) {
		pid[i] = fork();
		if (pid[i] < 0) {
			ksft_test_result_fail("%s: fork: %s\n", name, strerror(errno));
			stop_children(&b, pid, i);
			munmap(s, n * sizeof(*s));
			return false;
		}
		if (!pid[i]) {
			uint64_t iova = IOVA_BASE + i * d->size;
			double first = first_access_us(d->device_fd, d->offset, d->size, 0, false);
			char *p = rig_mmap_aligned(d->device_fd, d->offset, d->size, SZ_1G,
						   PROT_READ | PROT_WRITE);

			if (p == MAP_FAILED)
				s[i].bad = 1;
			else
				cover_lower_region(p, d->size);
			child_done(&b);
			child_wait(&b);
			if (!s[i].bad) {
				populate(p, d->size, touch_stride(d->size), &s[i]);
				s[i].first_us = first;
			}
			child_done(&b);
			child_wait(&b);
			if (!s[i].bad)
				s[i].bad |= map_dma(p, iova, d->size, &s[i].map_ms);
			child_done(&b);
			child_wait(&b);
			if (!s[i].bad)
				s[i].bad |= unmap_dma(iova, d->size, &s[i].unmap_ms);
			child_done(&b);
			child_wait(&b);
			spin();
			child_done(&b);
			child_wait(&b);
			child_flush_munmap_exit(&b, p, d->size, &s[i].munmap_ms);
		}
	}
	/* All children have mapped the BAR: then the timed phases. */
	ok &= children_ready(&b, n);
	t.populate_ms = phase(&b, n);
	t.map_ms = phase(&b, n);
	t.unmap_ms = phase(&b, n);
	spin_all_ms = phase(&b, n);
	ok &= phase(&b, n) >= 0;	/* flush_own_tlb() in each, untimed */
	t.munmap_ms = phase(&b, n);
	/*
	 * The children exit only now, untimed: a child that exited as soon as
	 * it had unmapped tore down the rest of its mm while the others were
	 * still unmapping, and the phase timed those exits too (on 6.1 the
	 * munmap of each remaining vma costs several times what it does on
	 * 6.12: the "anonymous, untouched" floor).
	 */
	ok &= phase(&b, n) >= 0;
	for (i = 0; i < n; i++) {
		waitpid(pid[i], &status, 0);
		ok &= WIFEXITED(status) && !WEXITSTATUS(status) && !s[i].bad;
		t.faults += s[i].faults;
		t.vmpte_kb += s[i].vmpte_kb;
		t.first_us += s[i].first_us / n;
	}
	ok &= t.populate_ms >= 0 && t.map_ms >= 0 && t.unmap_ms >= 0 && spin_all_ms >= 0 &&
	      t.munmap_ms >= 0;
	print_row(name, 1, n, d->size, touch_stride(d->size), "-", &t);
	/*
	 * The scheduler's part of a phase, a floor that the series does not
	 * change: the same fixed user work (spin()) alone, and as a phase in
	 * all @n processes. The work alone would make a phase of @n / 2
	 * times it on two CPUs; the rest is waking, switching to and
	 * collecting the processes, which under TCG is most of a short phase
	 * (8 processes: about 0.2 ms alone, 1.6 to 2.6 ms as a phase, with
	 * the series and on 6.12 alike).
	 */
	t0 = rig_now_ns();
	spin();
	spin_ms = (rig_now_ns() - t0) / 1e6;
	munmap_times(each, sizeof(each), s, n);
	ksft_print_msg("%s: munmap in each process (ms):%s\n", name, each);
	if (spin_all_ms >= 0)
		ksft_print_msg("BENCH floor procs=%u spin_ms=%.3f procs_spin_ms=%.3f\n", n, spin_ms,
			       spin_all_ms);
	ksft_test_result(ok, "%s: %u processes mapped one %llu MiB BAR, data reads back, DMA-mapped and unmapped whole\n",
			 name, n, d->size >> 20);
	munmap(s, n * sizeof(*s));
	close(b.go[0]);
	close(b.go[1]);
	close(b.done[0]);
	close(b.done[1]);
	return ok;
}

/*
 * Open @dax, a /dev/daxN.M, for a device DAX control: only with 1 GiB
 * alignment, whose mappings every kernel here maps with PUD leaves. Returns
 * the file descriptor, or -1 after saying why there is no control; -1
 * without a word when there is no device (@dax NULL).
 */
static int open_dax_1g(const char *dax)
{
	const char *name = strrchr(dax ? dax : "", '/');
	unsigned long align;
	char path[256];
	int fd;

	if (!dax)
		return -1;
	snprintf(path, sizeof(path), "/sys/bus/dax/devices/%s/align", name ? name + 1 : dax);
	align = rig_sysfs_ul(path);
	if (align != SZ_1G) {
		ksft_print_msg("device DAX control: %s: alignment %lu, not 1 GiB: no control\n", dax, align);
		return -1;
	}
	fd = open(dax, O_RDWR);
	if (fd < 0)
		ksft_print_msg("device DAX control: %s: %s\n", dax, strerror(errno));
	return fd;
}

/*
 * The processes row's control: @n processes map 1 GiB of device DAX (@dax),
 * one PUD leaf that 6.1 maps without the series, and unmap it at once, as
 * scale_procs() does with the BAR. Prints the munmap phase and each
 * process's own munmap, tagged with @when, and the phase as the floor's
 * @key; nothing without a 1 GiB-aligned device.
 */
static void dax_procs_control(const char *dax, unsigned int n, const char *when, const char *key)
{
	struct sample *s;
	char each[16 * MAX_PROCS];
	struct barrier b;
	double ms;
	pid_t pid[MAX_PROCS];
	unsigned int i;
	bool ok = true;
	int fd, status;

	fd = open_dax_1g(dax);
	if (fd < 0)
		return;
	s = mmap(NULL, n * sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED || pipe(b.go) || pipe(b.done)) {
		ksft_print_msg("device DAX control, %u processes, %s: %s\n", n, when, strerror(errno));
		close(fd);
		return;
	}
	memset(s, 0, n * sizeof(*s));
	for (i = 0; i < n; i++) {
		pid[i] = fork();
		if (pid[i] < 0) {
			ksft_print_msg("device DAX control, %u processes, %s: fork: %s\n", n, when,
				       strerror(errno));
			stop_children(&b, pid, i);
			munmap(s, n * sizeof(*s));
			close(fd);
			return;
		}
		if (!pid[i]) {
			char *p = map_fd_skewed(fd, 0, SZ_1G, 0);

			if (p == MAP_FAILED)
				s[i].bad = 1;
			else
				*(volatile uint64_t *)p = i;
			child_done(&b);
			child_wait(&b);
			child_flush_munmap_exit(&b, p, SZ_1G, &s[i].munmap_ms);
		}
	}
	ok &= children_ready(&b, n);
	ok &= phase(&b, n) >= 0;	/* flush_own_tlb() */
	ms = phase(&b, n);
	ok &= phase(&b, n) >= 0;	/* exit */
	for (i = 0; i < n; i++) {
		waitpid(pid[i], &status, 0);
		ok &= WIFEXITED(status) && !WEXITSTATUS(status) && !s[i].bad;
	}
	munmap_times(each, sizeof(each), s, n);
	if (ok && ms >= 0) {
		ksft_print_msg("device DAX control, %u processes, %s: munmap phase %.3f ms; each (ms):%s\n",
			       n, when, ms, each);
		ksft_print_msg("BENCH floor %s=%.3f\n", key, ms);
	} else {
		ksft_print_msg("device DAX control, %u processes, %s: a process failed to map, write or unmap: no numbers\n",
			       n, when);
	}
	munmap(s, n * sizeof(*s));
	close(b.go[0]);
	close(b.go[1]);
	close(b.done[0]);
	close(b.done[1]);
	close(fd);
}

static void size_name(char *buf, size_t len, unsigned int count, unsigned long long size)
{
	if (size >= SZ_1G)
		snprintf(buf, len, "%ux%lluG", count, size >> 30);
	else
		snprintf(buf, len, "%ux%lluM", count, size >> 20);
}

#define FLOOR_REPS	15

/*
 * With 1 GiB device DAX (@dax, a /dev/daxN.M of 1 GiB alignment), a PUD leaf
 * that every kernel here maps, 6.1 without the series too: the first access
 * of a 1 GiB mapping both ways (first_access_us()), and the munmap of such
 * a mapping with its one leaf (median of FLOOR_REPS, each after
 * flush_own_tlb()). Against the same numbers for the BAR, they tell what the
 * series adds from what the kernel's own fault and munmap paths cost. Prints
 * nothing without the device (arm64 6.1 has no PUD device DAX leaves).
 */
static void dax_control(const char *dax, char *out, size_t len)
{
	double first, after, t[FLOOR_REPS];
	struct rig_leaves l;
	unsigned int r;
	int fd;

	out[0] = '\0';
	fd = open_dax_1g(dax);
	if (fd < 0)
		return;
	first = first_access_us(fd, 0, SZ_1G, 0, false);
	after = first_access_us(fd, 0, SZ_1G, 0, true);
	for (r = 0; r < FLOOR_REPS; r++) {
		char *p = map_fd_skewed(fd, 0, SZ_1G, 0);

		if (p == MAP_FAILED) {
			ksft_print_msg("device DAX control: mmap of %s: %s\n", dax, strerror(errno));
			close(fd);
			return;
		}
		*(volatile uint64_t *)p = r;
		/* It is a control only if the write mapped one PUD leaf, on every kernel. */
		if (!r && (rig_ptdump_leaves((unsigned long)p, SZ_1G, &l) ||
			   l.count[RIG_PUD] != 1)) {
			ksft_print_msg("device DAX control: %s is not mapped by one PUD leaf (pud=%lu pmd=%lu pte=%lu): no control\n",
				       dax, l.count[RIG_PUD], l.count[RIG_PMD], l.count[RIG_PTE]);
			munmap(p, SZ_1G);
			close(fd);
			return;
		}
		t[r] = munmap_us(p, SZ_1G);
	}
	close(fd);
	qsort(t, FLOOR_REPS, sizeof(double), cmp_double);
	if (first < 0 || after < 0) {
		ksft_print_msg("device DAX control: no mapping of %s took its first write\n", dax);
		return;
	}
	snprintf(out, len, " dax_first_us=%.2f dax_first_after_munmap_us=%.2f dax_munmap_us=%.1f",
		 first, after, t[FLOOR_REPS / 2]);
}

/*
 * What a munmap costs a kernel before any leaf is torn down: the median over
 * FLOOR_REPS of munmap of @d's BAR mapped as the rows map it but never
 * touched, and of an anonymous mapping of the same size never touched, each
 * after flush_own_tlb(). A row's munmap time is this floor plus the leaves;
 * the floor is the kernel's own munmap path, which the series does not change
 * (6.1's against 6.12's). Then the full TLB flush that such a munmap ends
 * with, the entry and fault floors below, the first access of @d's BAR in the
 * other way (each write right after a munmap: first_access_us()), and the
 * device DAX control (dax_control()).
 */
static void floor_row(struct scale_dev *d, const char *dax)
{
	double t[2][FLOOR_REPS], sys[FLOOR_REPS], flt[FLOOR_REPS], fl[FLOOR_REPS], after;
	char control[160];
	unsigned int kind, r;
	int mfd;

	for (kind = 0; kind < 2; kind++) {
		for (r = 0; r < FLOOR_REPS; r++) {
			char *p;

			if (kind)
				p = mmap(NULL, d->size, PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
			else
				p = rig_mmap_aligned(d->device_fd, d->offset, d->size, SZ_1G,
						     PROT_READ | PROT_WRITE);
			if (p == MAP_FAILED) {
				ksft_print_msg("munmap floor: mmap failed: %s\n", strerror(errno));
				return;
			}
			t[kind][r] = munmap_us(p, d->size);
		}
		qsort(t[kind], FLOOR_REPS, sizeof(double), cmp_double);
	}

	/*
	 * The TLB flush every munmap of a populated mapping ends with: the
	 * first step of flush_own_tlb(), a full flush of the process's TLB,
	 * timed on its own after flush_own_tlb(). Under TCG it is a large part
	 * of a munmap of leaves: on arm64 about as much as the series' work
	 * for the 1024 PMD leaves of a 2 GiB BAR.
	 */
	for (r = 0; r < FLOOR_REPS; r++) {
		uint64_t t0;

		flush_own_tlb();
		t0 = rig_now_ns();
		protect_flush_area(PROT_NONE);
		fl[r] = (rig_now_ns() - t0) / 1e3;
		protect_flush_area(PROT_READ | PROT_WRITE);
	}
	qsort(fl, FLOOR_REPS, sizeof(double), cmp_double);

	/*
	 * The entry and fault paths without a BAR: a system call that does
	 * nothing (getppid()), and a write fault that maps a page already in
	 * the page cache of a memfd, its page table already there (a write:
	 * a read fault would have mapped it with its neighbour, by fault
	 * around). Neither is code the series changes; a first access is
	 * this fault path plus what the kernel does for the BAR.
	 */
	mfd = memfd_create("bar_bench_floor", 0);
	if (mfd < 0 || ftruncate(mfd, 2 * SZ_4K)) {
		ksft_print_msg("entry floor: memfd: %s\n", strerror(errno));
		return;
	}
	for (r = 0; r < FLOOR_REPS; r++) {
		uint64_t t0;
		char *p;

		rig_now_ns();
		t0 = rig_now_ns();
		getppid();
		sys[r] = (rig_now_ns() - t0) / 1e3;
		p = mmap(NULL, 2 * SZ_4K, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
		if (p == MAP_FAILED) {
			ksft_print_msg("entry floor: mmap failed: %s\n", strerror(errno));
			close(mfd);
			return;
		}
		*(volatile char *)p = 1;
		*(volatile char *)(p + SZ_4K) = 1;
		/* Drop the entries, keep the page table and the pages. */
		madvise(p, 2 * SZ_4K, MADV_DONTNEED);
		*(volatile char *)p = 2;
		flt[r] = write_us(p + SZ_4K);
		munmap(p, 2 * SZ_4K);
	}
	close(mfd);
	qsort(sys, FLOOR_REPS, sizeof(double), cmp_double);
	qsort(flt, FLOOR_REPS, sizeof(double), cmp_double);
	after = first_access_us(d->device_fd, d->offset, d->size, 0, true);
	dax_control(dax, control, sizeof(control));
	ksft_print_msg("BENCH floor size_MiB=%llu bar_untouched_munmap_us=%.1f anon_untouched_munmap_us=%.1f tlb_flush_us=%.1f syscall_us=%.2f minor_fault_us=%.2f bar_first_after_munmap_us=%.2f%s\n",
		       d->size >> 20, t[0][FLOOR_REPS / 2], t[1][FLOOR_REPS / 2], fl[FLOOR_REPS / 2],
		       sys[FLOOR_REPS / 2], flt[FLOOR_REPS / 2], after, control);
}

/*
 * The floor row's munmap of @d's BAR again, and the same munmap with the
 * BAR's leaves there: written once per GiB (a PUD leaf each where the kernel
 * has them), and written every 4 KiB as the 1x2G and 1G-aligned rows write
 * it, in FLOOR_REPS rounds of the three, so that all three meet the same
 * emulator state. Less the untouched munmap of the same rounds, what the
 * kernel does for the leaves, apart from the munmap path that every munmap
 * takes; measured FLOOR_REPS times where those rows measure it once. Run
 * after the last row: writing 2 GiB every 4 KiB fifteen times leaves QEMU's
 * software TLB at its largest for a while, and what runs next pays for it
 * (run first in the floor row, it made a full TLB flush timed after it take
 * 1.3 ms instead of 45 us on every kernel; run just before the rows, it made
 * the series' munmap of the 64 GiB BAR take 2.4 to 3.2 ms instead of 0.1 ms
 * in every boot, the peer's not, whose rows spend seconds in MAP_DMA).
 * Numbers are printed only if every write read back.
 */
static void floor_leaves_row(struct scale_dev *d)
{
	static const unsigned long stride[3] = { 0, SZ_1G, SZ_4K };
	double w[3][FLOOR_REPS];
	unsigned int kind, r;

	for (r = 0; r < FLOOR_REPS; r++) {
		for (kind = 0; kind < 3; kind++) {
			char *p = rig_mmap_aligned(d->device_fd, d->offset, d->size, SZ_1G,
						   PROT_READ | PROT_WRITE);
			struct sample s = { 0 };

			if (p == MAP_FAILED) {
				ksft_print_msg("munmap of the leaves: mmap failed: %s\n", strerror(errno));
				return;
			}
			if (stride[kind])
				populate(p, d->size, stride[kind], &s);
			w[kind][r] = munmap_us(p, d->size);
			if (s.bad) {
				ksft_print_msg("munmap of the leaves: the BAR written every %lu kB did not read back\n",
					       stride[kind] >> 10);
				return;
			}
		}
	}
	for (kind = 0; kind < 3; kind++)
		qsort(w[kind], FLOOR_REPS, sizeof(double), cmp_double);
	ksft_print_msg("BENCH floor bar_untouched_again_munmap_us=%.1f bar_per_gib_munmap_us=%.1f bar_written_munmap_us=%.1f\n",
		       w[0][FLOOR_REPS / 2], w[1][FLOOR_REPS / 2], w[2][FLOOR_REPS / 2]);
}

static int bench_scale(char **bdfs, unsigned int ndev, unsigned int procs, const char *dax)
{
	struct scale_dev devs[MAX_DEVS], *group[MAX_DEVS];
	unsigned int i, j, n, plan = 0;
	char name[64];

	ksft_print_header();
	if (!ndev || ndev > MAX_DEVS || procs > MAX_PROCS)
		ksft_exit_fail_msg("--scale needs 1 to %d BDFs and at most %d processes\n", MAX_DEVS,
				   MAX_PROCS);
	for (i = 0; i < ndev; i++) {
		if (scale_open(&devs[i], bdfs[i]))
			ksft_exit_fail_msg("cannot open %s through a vfio type1 container\n", bdfs[i]);
		ksft_print_msg("%s: BAR2 %llu MiB\n", bdfs[i], devs[i].size >> 20);
	}
	/* Before any BAR is touched, and again after the rows (below). */
	if (procs > 1)
		dax_procs_control(dax, procs, "before the BARs", "dax_procs_before_ms");
	/*
	 * Touch every BAR once, untimed, the way the rows will: the host's
	 * cost of a first touch (QEMU's, and the host page a sparse backing
	 * file allocates) then stays out of every row alike.
	 */
	for (i = 0; i < ndev; i++) {
		unsigned long stride = touch_stride(devs[i].size), k;
		uint64_t t0 = rig_now_ns();
		char *p = rig_mmap_aligned(devs[i].device_fd, devs[i].offset, devs[i].size, SZ_1G,
					   PROT_READ | PROT_WRITE);

		if (p == MAP_FAILED)
			ksft_exit_fail_msg("mmap of %s failed: %s\n", bdfs[i], strerror(errno));
		for (k = 0; k < devs[i].size / stride; k++)
			*(volatile uint64_t *)(p + k * stride) = k;
		/*
		 * The first device is DMA-mapped and unmapped too, and then
		 * unmapped as a row does it: the first run of those paths in a
		 * boot pays for their translation (run twice in one boot, the
		 * 1x2G row's MAP_DMA took 1.79 and 0.24 ms, its munmap 0.13
		 * and 0.09 ms), and the first row should not.
		 */
		if (!i) {
			double ms;

			if (!map_dma(p, IOVA_BASE, devs[i].size, &ms))
				unmap_dma(IOVA_BASE, devs[i].size, &ms);
			flush_own_tlb();
		}
		munmap(p, devs[i].size);
		ksft_print_msg("%s: warm-up touch every %lu kB in %.0f ms\n", bdfs[i], stride >> 10,
			       (rig_now_ns() - t0) / 1e6);
	}
	floor_row(&devs[0], dax);
	/* One row per size, one for all devices of the first size, one for the processes. */
	for (i = 0; i < ndev; i++) {
		for (j = 0; j < i && devs[j].size != devs[i].size; j++)
			;
		plan += j == i;
	}
	for (i = n = 0; i < ndev; i++)
		n += devs[i].size == devs[0].size;
	plan += (n > 1) + (procs > 1) + (devs[0].size <= DENSE_MAX);
	ksft_set_plan(plan);

	for (i = 0; i < ndev; i++) {
		for (j = 0; j < i && devs[j].size != devs[i].size; j++)
			;
		if (j < i)
			continue;
		group[0] = &devs[i];
		size_name(name, sizeof(name), 1, devs[i].size);
		scale_devices(name, group, 1, touch_stride(devs[i].size));
	}
	/*
	 * The first BAR once more, touched once per 2 MiB as the larger BARs
	 * are. Against its dense row it shows which costs follow the number of
	 * pages touched rather than the leaves: under TCG, munmap's TLB flush
	 * costs in proportion to the pages the emulated TLB has seen.
	 */
	if (devs[0].size <= DENSE_MAX) {
		group[0] = &devs[0];
		size_name(name, sizeof(name), 1, devs[0].size);
		strcat(name, "-sparse");
		scale_devices(name, group, 1, SZ_2M);
	}
	if (n > 1) {
		for (i = n = 0; i < ndev; i++)
			if (devs[i].size == devs[0].size)
				group[n++] = &devs[i];
		size_name(name, sizeof(name), n, devs[0].size);
		scale_devices(name, group, n, touch_stride(devs[0].size));
	}
	if (procs > 1) {
		size_name(name, sizeof(name), 1, devs[0].size);
		snprintf(name + strlen(name), sizeof(name) - strlen(name), "-%uprocs", procs);
		scale_procs(name, &devs[0], procs);
		dax_procs_control(dax, procs, "after the rows", "dax_procs_after_ms");
		/*
		 * Once more after a pause: what the rows left running (deferred
		 * frees, queued work) has finished by then, what they left in
		 * place has not.
		 */
		sleep(2);
		dax_procs_control(dax, procs, "2 s after the rows", "dax_procs_later_ms");
	}
	floor_leaves_row(&devs[0]);
	for (i = 0; i < ndev; i++) {
		close(devs[i].device_fd);
		close(devs[i].group_fd);
	}
	close(container_fd);
	ksft_finished();
	return 0;
}

/*
 * Give the mmap area its upper page-table levels before anything is
 * measured. On x86_64, 6.1 maps the vDSO next to the stack and 6.12 in the
 * mmap area. A static program's first mmap on 6.1 may therefore be alone in
 * its 512 GiB of address space (about every other boot, as ASLR places the
 * mmap base): its first fault then allocates a PUD table, 4 kB of VmPTE
 * that is the layout's and not the BAR's, and munmap frees that table again.
 * One anonymous page, mapped and touched first and kept to the end, does
 * what the vDSO does on 6.12: the BAR mappings go below it, and the VmPTE
 * and munmap of every kernel show the BAR's own page tables.
 */
static void anchor_mmap_area(void)
{
	char *p = mmap(NULL, SZ_4K, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		ksft_exit_fail_msg("mmap of one anonymous page: %s\n", strerror(errno));
	*(volatile char *)p = 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bdf", required_argument, NULL, 'b' },
		{ "size", required_argument, NULL, 's' },
		{ "mode", required_argument, NULL, 'm' },
		{ "scale", no_argument, NULL, 'S' },
		{ "procs", required_argument, NULL, 'p' },
		{ "dax", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long len = 2 * SZ_1G;
	unsigned int procs = 8;
	const char *bdf = NULL, *mode = "noiommu", *dax = NULL;
	bool scale = false;
	int o;

	/* Faults are counted: no NUMA hinting faults on this program's own memory. */
	rig_numa_balancing_off();
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'b': bdf = optarg; break;
		case 's': len = strtoul(optarg, NULL, 0); break;
		case 'm': mode = optarg; break;
		case 'S': scale = true; break;
		case 'p': procs = strtoul(optarg, NULL, 0); break;
		case 'd': dax = optarg; break;
		default:
			fprintf(stderr, "usage: %s --bdf BDF [--size BYTES] [--mode noiommu|type1]\n"
				"       %s --scale [--procs N] [--dax /dev/daxN.M] BDF...\n", argv[0], argv[0]);
			return KSFT_FAIL;
		}
	}
	anchor_mmap_area();
	flush_area_init();
	if (scale)
		return bench_scale(argv + optind, argc - optind, procs, dax);
	if (strcmp(mode, "noiommu") && strcmp(mode, "type1")) {
		fprintf(stderr, "--mode is noiommu or type1, not '%s'\n", mode);
		return KSFT_FAIL;
	}
	return bench_alignments(bdf, len, !strcmp(mode, "type1"));
}
