// SPDX-License-Identifier: GPL-2.0
/*
 * vfio BAR smoke test for the rig: open the ivshmem device through vfio-pci
 * (no-IOMMU mode or a type1 container behind the vIOMMU), mmap its BAR2 at a
 * 1 GiB-aligned address, write a pattern into every 4 KiB page and report what
 * the kernel did: minor faults, VmPTE growth, the page-table leaves over the
 * mapping (from ptdump, or from gup_test's FOLLOW_PFNMAP_TEST where ptdump
 * cannot show the process) and the populate time. With a type1 container it also times
 * VFIO_IOMMU_MAP_DMA of the BAR mapping (the follow_pfn path).
 *
 * --expect=pte asserts the unpatched 6.1 behaviour (the whole BAR mapped with
 * PTEs by one fault); --expect=huge asserts huge leaves and no PTE pages: 1 GiB
 * PUD leaves on x86_64, 2 MiB PMD leaves on arm64 (no PUD pfnmaps there).
 * Where neither can show the leaves (arm64 without the series), the leaf
 * assertions are skipped with the reason, and the behaviour is asserted from
 * the fault count and VmPTE alone.
 * The host checks the pattern in the BAR's backing file after poweroff.
 *
 * Usage: vfio_bar_smoke --bdf DDDD:BB:DD.F --mode noiommu|type1
 *                       --seed N --expect pte|huge
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "kselftest.h"
#include "rig_util.h"

#define SZ_4K	(4096UL)
#define SZ_2M	(2UL << 20)
#define SZ_1G	(1UL << 30)

static const char *bdf;
static const char *mode = "noiommu";
static const char *expect = "pte";
static uint64_t seed = 1;

static void usage(const char *argv0)
{
	fprintf(stderr, "usage: %s --bdf BDF --mode noiommu|type1 --seed N --expect pte|huge\n", argv0);
	exit(KSFT_FAIL);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bdf", required_argument, NULL, 'b' },
		{ "mode", required_argument, NULL, 'm' },
		{ "seed", required_argument, NULL, 's' },
		{ "expect", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	struct rig_vfio dev;
	struct rig_leaves leaves;
	bool have_leaves = true;
	long dirty, flt0, flt1, pte0, pte1;
	double t_first, t_all, t_zap;
	unsigned long npages, i, bad = 0;
	volatile uint64_t *p;
	uint64_t t0;
	char *bar;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b': bdf = optarg; break;
		case 'm': mode = optarg; break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'e': expect = optarg; break;
		default: usage(argv[0]);
		}
	}
	if (!bdf || (strcmp(mode, "noiommu") && strcmp(mode, "type1")) ||
	    (strcmp(expect, "pte") && strcmp(expect, "huge")))
		usage(argv[0]);

	ksft_print_header();
	ksft_set_plan(strcmp(mode, "type1") ? 7 : 8);

	if (rig_vfio_open(&dev, bdf, !strcmp(mode, "type1")))
		ksft_exit_fail_msg("cannot open %s through vfio (%s mode)\n", bdf, mode);
	ksft_test_result_pass("open %s via vfio-pci (%s)\n", bdf, mode);

	if (rig_vfio_bar(&dev, 2))
		ksft_exit_fail_msg("BAR2 region info failed\n");
	ksft_print_msg("BAR2: size %llu MiB, region offset 0x%llx, flags 0x%x\n",
		       dev.bar_size >> 20, dev.bar_offset, dev.bar_flags);
	ksft_test_result(dev.bar_size >= SZ_1G && (dev.bar_flags & VFIO_REGION_INFO_FLAG_MMAP),
			 "BAR2 is mmap-able and at least 1 GiB\n");

	rig_numa_balancing_off();
	bar = rig_mmap_aligned(dev.device_fd, dev.bar_offset, dev.bar_size, SZ_1G,
			       PROT_READ | PROT_WRITE);
	if (bar == MAP_FAILED)
		ksft_exit_fail_msg("mmap of BAR2 at a 1 GiB-aligned address failed: %s\n", strerror(errno));
	ksft_print_msg("BAR2 mapped at %p (1 GiB aligned)\n", bar);

	/*
	 * The loop below reads page 0 and then writes every page. Where the
	 * kernel, not the CPU, sets dirty bits, each write to a clean leaf
	 * that a read fault mapped costs one more fault.
	 */
	dirty = rig_dirty_faults(dev.device_fd, dev.bar_offset);
	if (dirty < 0 || dirty > 1)
		ksft_exit_fail_msg("cannot measure the cost of a first write to a clean PTE (%ld)\n", dirty);
	ksft_print_msg("a first write to a clean present PTE takes %ld fault(s) (%s)\n", dirty,
		       dirty ? "the kernel sets dirty bits" : "the CPU sets dirty bits");

	npages = dev.bar_size / SZ_4K;
	/* Warm up everything the measured loop uses, so it takes no fault of its own. */
	pte0 = rig_vmpte_kb();
	rig_now_ns();
	flt0 = rig_minflt();

	t0 = rig_now_ns();
	p = (volatile uint64_t *)bar;
	(void)p[0];
	t_first = (rig_now_ns() - t0) / 1e3;
	for (i = 0; i < npages; i++) {
		p = (volatile uint64_t *)(bar + i * SZ_4K);
		p[0] = rig_pattern(seed, i);
		p[1] = i;
	}
	t_all = (rig_now_ns() - t0) / 1e6;
	flt1 = rig_minflt();
	pte1 = rig_vmpte_kb();

	for (i = 0; i < npages; i++) {
		p = (volatile uint64_t *)(bar + i * SZ_4K);
		if (p[0] != rig_pattern(seed, i) || p[1] != i)
			bad++;
	}
	ksft_test_result(!bad, "pattern in all %lu pages reads back through the mapping (%lu bad)\n",
			 npages, bad);

	if (rig_ptdump_leaves((unsigned long)bar, dev.bar_size, &leaves)) {
		if (!RIG_PTDUMP_OPTIONAL)
			ksft_exit_fail_msg("cannot see the page-table leaves: no " RIG_PTDUMP ", and no gup_test FOLLOW_PFNMAP_TEST\n");
		have_leaves = false;
	}
	ksft_print_msg("RESULT populate: faults=%ld vmpte_kB=+%ld first_access_us=%.1f populate_ms=%.2f\n",
		       flt1 - flt0, pte1 - pte0, t_first, t_all);
	if (have_leaves) {
		ksft_print_msg("RESULT leaves: pud=%lu pmd=%lu pte=%lu (bytes %llu/%llu/%llu), unmapped %llu bytes\n",
			       leaves.count[RIG_PUD], leaves.count[RIG_PMD], leaves.count[RIG_PTE],
			       leaves.bytes[RIG_PUD], leaves.bytes[RIG_PMD], leaves.bytes[RIG_PTE],
			       leaves.unmapped);
		ksft_test_result(leaves.unmapped == 0,
				 "the page-table leaves map the whole BAR after populating it\n");
	} else {
		ksft_test_result_skip("the page-table leaves map the whole BAR: %s\n", RIG_PTDUMP_WHY);
	}

	/*
	 * VmPTE counts PTE and PMD table pages: each PTE page maps 2 MiB, each
	 * PMD page 1 GiB. Cross-check it against the leaves seen.
	 */
	if (have_leaves) {
		long want_pte_kb = leaves.bytes[RIG_PTE] / SZ_2M * 4;

		ksft_test_result(pte1 - pte0 >= want_pte_kb && pte1 - pte0 <= want_pte_kb + 16,
				 "VmPTE growth (+%ld kB) matches the PTE leaves seen (%ld kB of PTE pages)\n",
				 pte1 - pte0, want_pte_kb);
	} else {
		ksft_test_result_skip("VmPTE growth matches the PTE leaves seen: %s\n",
				      RIG_PTDUMP_WHY);
	}

	/*
	 * Unpatched, the read of page 0 maps the whole BAR with clean PTEs
	 * (one fault), and then each page's first write may cost a dirty-bit
	 * fault. With huge leaves, each leaf takes one fault; only leaf 0,
	 * mapped by the read, is clean when written (the others are mapped
	 * dirty by their write fault).
	 *
	 * Without the leaves the mapping is judged by what the process can measure:
	 * PTE-mapping the whole BAR takes one PTE table page (4 kB) per 2 MiB,
	 * plus at most a few upper-level table pages; huge leaves take none.
	 */
	if (!strcmp(expect, "pte")) {
		long want_pte_kb = dev.bar_size / SZ_2M * 4;
		long want = 1 + dirty * npages;

		if (have_leaves)
			ksft_test_result(leaves.bytes[RIG_PTE] == dev.bar_size && flt1 - flt0 == want,
					 "unpatched behaviour: one fault maps the whole BAR with 4 KiB PTEs (faults=%ld, want 1 + %ld dirty-bit faults)\n",
					 flt1 - flt0, want - 1);
		else
			ksft_test_result(flt1 - flt0 == want && pte1 - pte0 >= want_pte_kb &&
					 pte1 - pte0 <= want_pte_kb + 16,
					 "unpatched behaviour: one fault maps the whole BAR with 4 KiB PTEs (from faults=%ld and VmPTE +%ld kB, want 1 + %ld dirty-bit faults and %ld..%ld kB; leaves not seen)\n",
					 flt1 - flt0, pte1 - pte0, want - 1, want_pte_kb, want_pte_kb + 16);
	} else {
		unsigned long want = dev.bar_size / RIG_HUGE_SIZE;

		if (have_leaves)
			ksft_test_result(leaves.count[RIG_HUGE_LEVEL] == want && leaves.bytes[RIG_PTE] == 0 &&
					 flt1 - flt0 == (long)want + dirty,
					 "huge pfnmap: one fault per leaf maps the BAR with %lu %s leaves and no PTEs (faults=%ld, want %ld)\n",
					 want, RIG_HUGE_NAME, flt1 - flt0, (long)want + dirty);
		else
			ksft_test_result(flt1 - flt0 == (long)want + dirty && pte1 - pte0 <= 16,
					 "huge pfnmap: one fault per leaf maps the BAR with %lu %s leaves, no PTE table pages (faults=%ld, want %ld; VmPTE +%ld kB; leaves not seen)\n",
					 want, RIG_HUGE_NAME, flt1 - flt0, (long)want + dirty, pte1 - pte0);
	}

	if (!strcmp(mode, "type1")) {
		double ms;

		if (rig_vfio_map_dma(&dev, bar, 1ULL << 32, dev.bar_size, &ms)) {
			ksft_test_result_fail("VFIO_IOMMU_MAP_DMA of the BAR mapping: %s\n", strerror(errno));
		} else {
			ksft_print_msg("RESULT map_dma: %llu MiB in %.2f ms\n", dev.bar_size >> 20, ms);
			ksft_test_result(!rig_vfio_unmap_dma(&dev, 1ULL << 32, dev.bar_size),
					 "VFIO_IOMMU_MAP_DMA/UNMAP_DMA of the BAR mapping\n");
		}
	}

	t0 = rig_now_ns();
	if (munmap(bar, dev.bar_size))
		ksft_exit_fail_msg("munmap: %s\n", strerror(errno));
	t_zap = (rig_now_ns() - t0) / 1e6;
	ksft_print_msg("RESULT munmap_ms=%.2f\n", t_zap);
	ksft_test_result(rig_vmpte_kb() <= pte0, "munmap returns the page tables (VmPTE back to %ld kB)\n",
			 pte0);

	rig_vfio_close(&dev);
	ksft_finished();
}
