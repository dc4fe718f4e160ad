// SPDX-License-Identifier: GPL-2.0
/*
 * mprotect() and munmap() on 1 GiB PUD leaves of a device DAX mapping.
 *
 * Maps two 1 GiB leaves of /dev/daxX.Y (1 GiB alignment) at a 1 GiB-aligned
 * address, writes a pattern, then changes the protection of the first leaf to
 * PROT_READ, PROT_NONE and back, checking at each step the data, which
 * accesses fault (SIGSEGV) and which page-table leaves ptdump shows. Partial
 * mprotect() and munmap() of a leaf must fail with EINVAL (device DAX refuses
 * to split a VMA inside its alignment) and leave the mapping intact.
 *
 * Usage: dax_pud_mprotect [/dev/dax0.0]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest.h"
#include "rig_util.h"

#define SZ_2M	(2UL << 20)
#define SZ_1G	(1UL << 30)
#define SZ_4K	4096UL

static sigjmp_buf jb;
static volatile sig_atomic_t faulted;

static void on_segv(int sig)
{
	faulted = sig;
	siglongjmp(jb, 1);
}

/* Does reading (write=false) or writing the byte at p fault? */
static bool access_faults(volatile char *p, bool write)
{
	faulted = 0;
	if (sigsetjmp(jb, 1) == 0) {
		if (write)
			*p = *p;
		else
			(void)*p;
	}
	return faulted != 0;
}

static void leaf_state(char *p, unsigned long len, struct rig_leaves *l)
{
	if (rig_ptdump_leaves((unsigned long)p, len, l))
		ksft_exit_fail_msg("cannot read %s\n", RIG_PTDUMP);
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/dax0.0";
	const char *name = strrchr(dev, '/') ? strrchr(dev, '/') + 1 : dev;
	unsigned long size, align, len = 2 * SZ_1G, i;
	struct rig_leaves l;
	struct sigaction sa = { .sa_handler = on_segv, .sa_flags = SA_NODEFER };
	uint64_t seed = 0x5eed;
	char path[256];
	long flt0;
	char *map;
	int fd;

	ksft_print_header();
	/* Faults are counted: no NUMA hinting faults on this program's own memory. */
	rig_numa_balancing_off();
	ksft_set_plan(21);

	snprintf(path, sizeof(path), "/sys/bus/dax/devices/%s/size", name);
	size = rig_sysfs_ul(path);
	snprintf(path, sizeof(path), "/sys/bus/dax/devices/%s/align", name);
	align = rig_sysfs_ul(path);
	ksft_print_msg("%s: size %lu MiB, align %lu MiB\n", dev, size >> 20, align >> 20);
	if (size < len || align != SZ_1G)
		ksft_exit_fail_msg("need a device DAX of at least 2 GiB with 1 GiB alignment\n");
	fd = open(dev, O_RDWR);
	if (fd < 0)
		ksft_exit_fail_msg("open %s: %s\n", dev, strerror(errno));
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);

	map = rig_mmap_aligned(fd, 0, len, SZ_1G, PROT_READ | PROT_WRITE);
	if (map == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));

	flt0 = rig_minflt();
	for (i = 0; i < len / SZ_4K; i++)
		*(volatile uint64_t *)(map + i * SZ_4K) = rig_pattern(seed, i);
	ksft_print_msg("RESULT dax populate: faults=%ld\n", rig_minflt() - flt0);
	leaf_state(map, len, &l);
	ksft_test_result(l.count[RIG_PUD] == 2 && !l.bytes[RIG_PMD] && !l.bytes[RIG_PTE],
			 "two 1 GiB PUD leaves map the DAX range (ptdump: pud=%lu pmd=%lu pte=%lu)\n",
			 l.count[RIG_PUD], l.count[RIG_PMD], l.count[RIG_PTE]);

	/* PROT_READ on the first leaf: data stays, writes fault, the second leaf is untouched. */
	ksft_test_result(!mprotect(map, SZ_1G, PROT_READ), "mprotect(leaf 0, PROT_READ)\n");
	/* Before any access: the leaf must have been changed in place, not dropped. */
	leaf_state(map, SZ_1G, &l);
	ksft_test_result(l.count[RIG_PUD] == 1 && !l.writable,
			 "leaf 0 is changed in place to a read-only PUD leaf (pud=%lu, unmapped %llu, writable %llu bytes)\n",
			 l.count[RIG_PUD], l.unmapped, l.writable);
	ksft_test_result(access_faults(map + 12345, true) && access_faults(map + SZ_1G - 1, true),
			 "writes to the read-only leaf fault\n");
	ksft_test_result(!access_faults(map + SZ_1G + 5, true) && !rig_bad_pattern_pages(map, 0, len, seed),
			 "reads see the data, the other leaf stays writable\n");
	leaf_state(map, SZ_1G, &l);
	ksft_test_result(l.count[RIG_PUD] == 1,
			 "leaf 0 is still one PUD leaf after mprotect(PROT_READ) (pud=%lu pte=%lu)\n",
			 l.count[RIG_PUD], l.count[RIG_PTE]);

	ksft_test_result(!mprotect(map, SZ_1G, PROT_NONE), "mprotect(leaf 0, PROT_NONE)\n");
	leaf_state(map, SZ_1G, &l);
	ksft_test_result(!l.writable && !l.count[RIG_PUD] && l.unmapped == SZ_1G,
			 "leaf 0 is not present while PROT_NONE (pud=%lu, unmapped %llu bytes)\n",
			 l.count[RIG_PUD], l.unmapped);
	ksft_test_result(access_faults(map + 4096, false) &&
			 access_faults(map + SZ_1G - 8, false),
			 "reads of the PROT_NONE leaf fault\n");
	ksft_test_result(!mprotect(map, SZ_1G, PROT_READ | PROT_WRITE), "mprotect(leaf 0, PROT_READ|PROT_WRITE)\n");
	leaf_state(map, SZ_1G, &l);
	ksft_test_result(l.count[RIG_PUD] == 1 && l.writable == SZ_1G,
			 "leaf 0 is a writable PUD leaf again without a fault (pud=%lu, writable %llu bytes)\n",
			 l.count[RIG_PUD], l.writable);
	ksft_test_result(!access_faults(map + 64, true) && !rig_bad_pattern_pages(map, 0, len, seed),
			 "data intact and writable again\n");
	leaf_state(map, len, &l);
	ksft_test_result(l.count[RIG_PUD] == 2 && !l.unmapped,
			 "both leaves are PUD leaves again (pud=%lu, unmapped %llu bytes)\n",
			 l.count[RIG_PUD], l.unmapped);

	/* Whole-range mprotect of both leaves at once. */
	ksft_test_result(!mprotect(map, len, PROT_READ) && access_faults(map + SZ_1G + SZ_2M, true) &&
			 !mprotect(map, len, PROT_READ | PROT_WRITE) && !access_faults(map + SZ_1G + SZ_2M, true),
			 "mprotect of both leaves to PROT_READ and back\n");

	/* Part of a leaf: device DAX cannot split inside its alignment. */
	errno = 0;
	ksft_test_result(mprotect(map + SZ_2M, SZ_2M, PROT_READ) == -1 && errno == EINVAL,
			 "mprotect of 2 MiB inside a leaf fails with EINVAL (errno %d)\n", errno);
	errno = 0;
	ksft_test_result(munmap(map + SZ_1G + SZ_2M, SZ_2M) == -1 && errno == EINVAL,
			 "munmap of 2 MiB inside a leaf fails with EINVAL (errno %d)\n", errno);
	ksft_test_result(!access_faults(map + SZ_2M + 8, true) && !access_faults(map + SZ_1G + SZ_2M + 8, true) &&
			 !rig_bad_pattern_pages(map, 0, len, seed),
			 "after the refused splits the mapping is intact and writable\n");

	/* mremap of the whole mapping to another 1 GiB-aligned address moves the leaves. */
	{
		char *dst = rig_mmap_aligned(-1, 0, len, SZ_1G, PROT_NONE);
		char *q;

		if (dst == MAP_FAILED)
			ksft_exit_fail_msg("reserving an mremap target failed\n");
		q = mremap(map, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
		leaf_state(q == MAP_FAILED ? dst : q, len, &l);
		ksft_test_result(q == dst && l.count[RIG_PUD] == 2 && !l.unmapped,
				 "mremap moves both PUD leaves without dropping them (pud=%lu, unmapped %llu bytes)\n",
				 l.count[RIG_PUD], l.unmapped);
		if (q != dst)
			ksft_exit_fail_msg("mremap: %s\n", strerror(errno));
		map = q;
		ksft_test_result(!rig_bad_pattern_pages(map, 0, len, seed), "data intact after mremap\n");
	}

	/* munmap of one whole leaf, then the other. */
	ksft_test_result(!munmap(map, SZ_1G) && !rig_bad_pattern_pages(map + SZ_1G, SZ_1G / SZ_4K, SZ_1G, seed),
			 "munmap of leaf 0 leaves leaf 1 intact\n");
	ksft_test_result(!munmap(map + SZ_1G, SZ_1G), "munmap of leaf 1\n");
	close(fd);
	ksft_finished();
}
