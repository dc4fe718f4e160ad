// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark a vfio BAR mmap: for a 1 GiB-aligned, a 2 MiB-aligned and a
 * 1 MiB-skewed address, print the faults, page-table memory and time it takes
 * to touch every 4 KiB page, the cost of random 8-byte reads across the BAR
 * (TLB reach), and the munmap time. Numbers only: no pass/fail on speed.
 * The leaves (pud/pmd/pte counts) come from ptdump; where it cannot show the
 * process's page tables (arm64) they print as "n/a" and the correctness
 * check rests on the data alone. x86_64 maps an aligned BAR with 1 GiB PUD
 * leaves, arm64 with 2 MiB PMD leaves at most.
 *
 * Usage: bar_bench --bdf BDF [--size BYTES]
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest.h"
#include "rig_util.h"

#define SZ_4K	4096UL
#define SZ_1M	(1UL << 20)
#define SZ_2M	(2UL << 20)
#define SZ_1G	(1UL << 30)
#define READS	(1UL << 20)

static char *map_skewed(struct rig_vfio *dev, unsigned long len, unsigned long skew)
{
	char *res, *want;

	res = mmap(NULL, len + 2 * SZ_1G, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return res;
	want = (char *)(((uintptr_t)res + SZ_1G - 1) & ~(SZ_1G - 1)) + skew;
	munmap(res, len + 2 * SZ_1G);
	return mmap(want, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		    dev->device_fd, dev->bar_offset);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bdf", required_argument, NULL, 'b' },
		{ "size", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct { const char *name; unsigned long skew; } cases[] = {
		{ "1G-aligned", 0 }, { "2M-aligned", SZ_2M }, { "1M-skewed", SZ_1M },
	};
	unsigned long len = 2 * SZ_1G, i, c;
	const char *bdf = NULL;
	struct rig_vfio dev;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'b')
			bdf = optarg;
		else if (o == 's')
			len = strtoul(optarg, NULL, 0);
		else
			return KSFT_FAIL;
	}
	ksft_print_header();
	ksft_set_plan(3);
	if (!bdf || rig_vfio_open(&dev, bdf, false) || rig_vfio_bar(&dev, 2))
		ksft_exit_fail_msg("cannot open the BAR device through vfio\n");
	if (len > dev.bar_size)
		len = dev.bar_size;

	for (c = 0; c < 3; c++) {
		struct rig_leaves l;
		char leaves[64];
		bool have_leaves;
		double first_us, pop_ms, rand_ns, unmap_ms;
		long f0, faults, pte0, pte;
		uint64_t t0, x = 88172645463325252ULL, sum = 0;
		char *p = map_skewed(&dev, len, cases[c].skew);

		if (p == MAP_FAILED) {
			ksft_test_result_fail("%s: mmap failed\n", cases[c].name);
			continue;
		}
		pte0 = rig_vmpte_kb();
		rig_now_ns();
		f0 = rig_minflt();
		t0 = rig_now_ns();
		*(volatile uint64_t *)p = 1;
		first_us = (rig_now_ns() - t0) / 1e3;
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
		t0 = rig_now_ns();
		munmap(p, len);
		unmap_ms = (rig_now_ns() - t0) / 1e6;
		ksft_print_msg("BENCH %s size_MiB=%lu faults=%ld vmpte_kB=%ld leaves=%s first_access_us=%.1f populate_ms=%.2f rand_read_ns=%.1f munmap_ms=%.2f\n",
			       cases[c].name, len >> 20, faults, pte, leaves, first_us, pop_ms,
			       rand_ns, unmap_ms);
	}
	rig_vfio_close(&dev);
	ksft_finished();
}
