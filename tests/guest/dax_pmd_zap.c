// SPDX-License-Identifier: GPL-2.0
/*
 * munmap() and MADV_DONTNEED across runs of 2 MiB PMD leaves of a device DAX
 * mapping.
 *
 * A DAX VMA is one that vma_is_special_huge() is true for, so its PMD leaves
 * are zapped in runs, under one page-table lock each (patch "mm/memory: Zap
 * runs of special PMD leaves under one lock"), as the leaves of a pfnmap are.
 * Unlike a pfnmap's, they are devmap leaves, and the data behind them stays
 * when they are zapped, so what a zap took away can be faulted back and
 * checked.
 *
 * Maps a device DAX instance with 2 MiB alignment at a 2 MiB-aligned
 * address and writes a pattern to runs of 1 to 9 blocks, each followed by a
 * block left untouched (no entry). Then:
 * - munmap() from inside one run to inside another, both ends on block
 *   boundaries (device DAX refuses to split inside its alignment): the hole
 *   has no entry left (ptdump shows page tables without a VMA on x86_64), the
 *   leaves on both sides stay (exact count), reading them takes no fault and
 *   gives the pattern;
 * - MADV_DONTNEED over a range that starts and ends inside runs: exactly the
 *   touched blocks in it lose their leaves, the others keep theirs, and
 *   reading the range back faults once per block that had a leaf and finds
 *   the pattern;
 * - fork() with the blocks before the hole mapped: the child finds the
 *   pattern there and PMD leaves only, and the parent keeps its leaves;
 * - mremap() of blocks from inside one run to inside another, after the
 *   hole, to a fresh 2 MiB-aligned place: each leaf moves whole (the new
 *   place reads back with no fault), the old place keeps no entry, and the
 *   blocks on both sides keep theirs;
 * - munmap() of the rest: no leaf and no page table left (VmPTE).
 *
 * Usage: dax_pmd_zap [/dev/dax1.0]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest.h"
#include "rig_util.h"

#define SZ_4K	4096UL
#define SZ_2M	(2UL << 20)
#define BLOCKS	128UL

static bool touched[BLOCKS];

/* Blocks [first, last) that were written. */
static unsigned long touched_in(unsigned long first, unsigned long last)
{
	unsigned long b, n = 0;

	for (b = first; b < last; b++)
		n += touched[b];
	return n;
}

/*
 * Pages of blocks [first, last), block @first mapped at @p, that were
 * written and read back wrong.
 */
static unsigned long bad_pages(char *p, unsigned long first, unsigned long last, uint64_t seed)
{
	unsigned long b, bad = 0;

	for (b = first; b < last; b++)
		if (touched[b])
			bad += rig_bad_pattern_pages(p + (b - first) * SZ_2M, b * (SZ_2M / SZ_4K),
						     SZ_2M, seed);
	return bad;
}

static void leaves(char *p, unsigned long len, struct rig_leaves *l)
{
	if (rig_ptdump_leaves((unsigned long)p, len, l))
		ksft_exit_fail_msg("cannot read %s\n", RIG_PTDUMP);
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/dax1.0";
	const char *name = strrchr(dev, '/') ? strrchr(dev, '/') + 1 : dev;
	unsigned long size, align, len = BLOCKS * SZ_2M, b, i, run = 1, hole0, hole1, dn0, dn1;
	unsigned long before, after, n, mv0, mv1;
	uint64_t seed = 0xda7a2;
	struct rig_leaves l, l2;
	long pte0, flt, first_flt;
	char path[256];
	char *map, *dst;
	int fd, status;
	pid_t pid;

	ksft_print_header();
	/* Faults are counted: no NUMA hinting faults on this program's own memory. */
	rig_numa_balancing_off();
	ksft_set_plan(13);

	snprintf(path, sizeof(path), "/sys/bus/dax/devices/%s/size", name);
	size = rig_sysfs_ul(path);
	snprintf(path, sizeof(path), "/sys/bus/dax/devices/%s/align", name);
	align = rig_sysfs_ul(path);
	ksft_print_msg("%s: size %lu MiB, align %lu KiB\n", dev, size >> 20, align >> 10);
	if (size < len || align != SZ_2M)
		ksft_exit_fail_msg("need a device DAX of at least %lu MiB with 2 MiB alignment\n",
				   len >> 20);
	fd = open(dev, O_RDWR);
	if (fd < 0)
		ksft_exit_fail_msg("open %s: %s\n", dev, strerror(errno));

	pte0 = rig_vmpte_kb();
	map = rig_mmap_aligned(fd, 0, len, SZ_2M, PROT_READ | PROT_WRITE);
	if (map == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));

	/* Runs of 1, 2, ... 9, 1, 2, ... blocks, each followed by one untouched block. */
	for (b = 0; b < BLOCKS; ) {
		for (i = 0; i < run && b < BLOCKS; i++, b++)
			touched[b] = true;
		b++;
		run = run % 9 + 1;
	}
	flt = rig_minflt();
	for (b = 0; b < BLOCKS; b++)
		if (touched[b])
			for (i = b * (SZ_2M / SZ_4K); i < (b + 1) * (SZ_2M / SZ_4K); i++)
				*(volatile uint64_t *)(map + i * SZ_4K) = rig_pattern(seed, i);
	flt = rig_minflt() - flt;
	leaves(map, len, &l);
	ksft_test_result(l.count[RIG_PMD] == touched_in(0, BLOCKS) && !l.bytes[RIG_PTE] &&
			 !l.bytes[RIG_PUD] && flt == (long)touched_in(0, BLOCKS),
			 "%lu written blocks: one fault and one PMD leaf each (faults %ld, ptdump pud=%lu pmd=%lu pte=%lu)\n",
			 touched_in(0, BLOCKS), flt, l.count[RIG_PUD], l.count[RIG_PMD],
			 l.count[RIG_PTE]);

	/*
	 * The hole: from block 16 (inside the run 14-18) to block 85 (inside
	 * the run 81-87). Every run in between is zapped whole, and the zap
	 * must stop at 85, with leaves after it.
	 */
	hole0 = 16;
	hole1 = 85;
	if (!touched[hole0 - 1] || !touched[hole0] || !touched[hole1 - 1] || !touched[hole1])
		ksft_exit_fail_msg("the run layout changed: the hole's ends are not inside runs\n");
	before = touched_in(0, hole0);
	after = touched_in(hole1, BLOCKS);
	ksft_test_result(!munmap(map + hole0 * SZ_2M, (hole1 - hole0) * SZ_2M),
			 "munmap of blocks %lu-%lu\n", hole0, hole1 - 1);
	leaves(map + hole0 * SZ_2M, (hole1 - hole0) * SZ_2M, &l);
	ksft_test_result(!l.count[RIG_PMD] && !l.count[RIG_PTE] && !l.count[RIG_PUD],
			 "no leaf left in the hole (ptdump pmd=%lu pte=%lu)\n", l.count[RIG_PMD],
			 l.count[RIG_PTE]);
	leaves(map, hole0 * SZ_2M, &l);
	leaves(map + hole1 * SZ_2M, len - hole1 * SZ_2M, &l2);
	flt = rig_minflt();
	n = bad_pages(map, 0, hole0, seed) + bad_pages(map + hole1 * SZ_2M, hole1, BLOCKS, seed);
	flt = rig_minflt() - flt;
	ksft_test_result(l.count[RIG_PMD] == before && l2.count[RIG_PMD] == after && !flt && !n,
			 "the leaves on both sides stay: %lu and %lu (want %lu and %lu), read with %ld faults, %lu bad pages\n",
			 l.count[RIG_PMD], l2.count[RIG_PMD], before, after, flt, n);

	/*
	 * MADV_DONTNEED from block 92 (inside the run 89-96) to block 119
	 * (inside the run 117-120), after the hole.
	 */
	dn0 = 92;
	dn1 = 119;
	if (!touched[dn0 - 1] || !touched[dn0] || !touched[dn1 - 1] || !touched[dn1])
		ksft_exit_fail_msg("the run layout changed: the MADV_DONTNEED range's ends are not inside runs\n");
	ksft_test_result(!madvise(map + dn0 * SZ_2M, (dn1 - dn0) * SZ_2M, MADV_DONTNEED),
			 "MADV_DONTNEED of blocks %lu-%lu\n", dn0, dn1 - 1);
	leaves(map + dn0 * SZ_2M, (dn1 - dn0) * SZ_2M, &l);
	leaves(map + hole1 * SZ_2M, len - hole1 * SZ_2M, &l2);
	ksft_test_result(!l.count[RIG_PMD] && !l.count[RIG_PTE] &&
			 l2.count[RIG_PMD] == after - touched_in(dn0, dn1),
			 "exactly the range lost its leaves (in it: %lu; after the hole: %lu, want %lu)\n",
			 l.count[RIG_PMD], l2.count[RIG_PMD], after - touched_in(dn0, dn1));
	flt = rig_minflt();
	n = bad_pages(map + dn0 * SZ_2M, dn0, dn1, seed);
	flt = rig_minflt() - flt;
	ksft_test_result(flt == (long)touched_in(dn0, dn1) && !n,
			 "reading the range back: %ld faults (want %lu), %lu bad pages\n", flt,
			 touched_in(dn0, dn1), n);
	leaves(map + hole1 * SZ_2M, len - hole1 * SZ_2M, &l2);
	ksft_test_result(l2.count[RIG_PMD] == after && !l2.count[RIG_PTE],
			 "and maps them with PMD leaves again (%lu, want %lu)\n", l2.count[RIG_PMD],
			 after);

	/*
	 * fork() with blocks 0-15 mapped. A shared DAX mapping's entries are
	 * not copied: the child faults its own leaves in (or, were they
	 * copied, finds the parent's), and must read the pattern either way.
	 */
	leaves(map, hole0 * SZ_2M, &l);
	pid = fork();
	if (!pid) {
		n = bad_pages(map, 0, hole0, seed);
		leaves(map, hole0 * SZ_2M, &l2);
		_exit(n ? 1 : l2.count[RIG_PMD] != touched_in(0, hole0) || l2.bytes[RIG_PTE] ? 2 : 0);
	}
	status = -1;
	if (pid > 0)
		waitpid(pid, &status, 0);
	/* The faults counted from here on are the mapping's, not copy-on-write. */
	rig_prefault_stack();
	ksft_test_result(pid > 0 && WIFEXITED(status) && !WEXITSTATUS(status),
			 "fork: the child reads the pattern through %lu PMD leaves of its own (status %#x: 1 bad pages, 2 other leaves)\n",
			 touched_in(0, hole0), status);
	leaves(map, hole0 * SZ_2M, &l2);
	ksft_test_result(l2.count[RIG_PMD] == l.count[RIG_PMD] && l.count[RIG_PMD] == before,
			 "fork: the parent keeps its %lu leaves (%lu after the child)\n", before,
			 l2.count[RIG_PMD]);

	/*
	 * mremap() of blocks 86 (inside the run 81-87) to 99 (inside the run
	 * 98-106) to a fresh 2 MiB-aligned place.
	 */
	mv0 = 86;
	mv1 = 100;
	if (!touched[mv0 - 1] || !touched[mv0] || !touched[mv1 - 1] || !touched[mv1])
		ksft_exit_fail_msg("the run layout changed: the mremap range's ends are not inside runs\n");
	dst = rig_mmap_aligned(-1, 0, (mv1 - mv0) * SZ_2M, SZ_2M, PROT_NONE);
	if (dst != MAP_FAILED)
		dst = mremap(map + mv0 * SZ_2M, (mv1 - mv0) * SZ_2M, (mv1 - mv0) * SZ_2M,
			     MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	if (dst == MAP_FAILED)
		ksft_exit_fail_msg("mremap of blocks %lu-%lu: %s\n", mv0, mv1 - 1, strerror(errno));
	leaves(map + hole1 * SZ_2M, (mv0 - hole1) * SZ_2M, &l);
	leaves(map + mv1 * SZ_2M, len - mv1 * SZ_2M, &l2);
	n = l.count[RIG_PMD] + l2.count[RIG_PMD];	/* on both sides */
	leaves(dst, (mv1 - mv0) * SZ_2M, &l);
	leaves(map + mv0 * SZ_2M, (mv1 - mv0) * SZ_2M, &l2);
	ksft_test_result(l.count[RIG_PMD] == touched_in(mv0, mv1) && !l.bytes[RIG_PTE] &&
			 !l2.count[RIG_PMD] && !l2.count[RIG_PTE] &&
			 n == after - touched_in(mv0, mv1),
			 "mremap of blocks %lu-%lu: %lu PMD leaves at the new place (want %lu, %lu PTE bytes), %lu left behind, %lu on both sides (want %lu)\n",
			 mv0, mv1 - 1, l.count[RIG_PMD], touched_in(mv0, mv1), l.bytes[RIG_PTE],
			 l2.count[RIG_PMD] + l2.count[RIG_PTE], n, after - touched_in(mv0, mv1));
	/* Block by block, to name the first block that faults, if one does. */
	flt = 0;
	n = 0;
	first_flt = -1;
	for (b = mv0; b < mv1; b++) {
		long f = rig_minflt();

		n += bad_pages(dst + (b - mv0) * SZ_2M, b, b + 1, seed);
		f = rig_minflt() - f;
		if (f && first_flt < 0)
			first_flt = b;
		flt += f;
	}
	ksft_test_result(!flt && !n, "reading the moved blocks: %ld faults (first in block %ld: %s), %lu bad pages\n",
			 flt, first_flt, first_flt < 0 ? "none" : touched[first_flt] ? "a moved leaf" : "untouched",
			 n);
	if (flt) {
		leaves(dst, (mv1 - mv0) * SZ_2M, &l);
		ksft_print_msg("the new place after reading: %lu PMD leaves, %llu PTE bytes\n",
			       l.count[RIG_PMD], l.bytes[RIG_PTE]);
	}

	munmap(dst, (mv1 - mv0) * SZ_2M);
	munmap(map, hole0 * SZ_2M);
	munmap(map + hole1 * SZ_2M, len - hole1 * SZ_2M);
	leaves(map, len, &l);
	ksft_test_result(!l.count[RIG_PMD] && !l.count[RIG_PTE] && rig_vmpte_kb() <= pte0,
			 "munmap of the rest: no leaf left, VmPTE back to %ld kB (now %ld kB)\n", pte0,
			 rig_vmpte_kb());
	close(fd);
	ksft_finished();
	return 0;
}
