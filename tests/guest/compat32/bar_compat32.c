// SPDX-License-Identifier: GPL-2.0
/*
 * A 32-bit (compat) process maps the BAR through vfio, built with the i686
 * cross compiler for the x86_64 guest (kernels with CONFIG_IA32_EMULATION;
 * others skip).
 *
 * pfnmap_get_unmapped_area() aligns mmap(NULL) only for 64-bit tasks: in a
 * 4 GiB address space the search for a 1 GiB-aligned gap would mostly fail
 * or fragment it. A compat mmap(NULL) must get what the compat search gives
 * (a 4 KiB-aligned address below 4 GiB, or a free hint), and the mapping must
 * work: every page reads back what was written, munmap() of a part and
 * mremap() to another place keep the rest right. A MAP_FIXED mapping at an
 * address aligned like the BAR may still use PMD leaves; the fault count of
 * both is printed.
 *
 *   bar_compat32 --bdf BDF [--seed N]
 * Exit status 0 when every check passed, 1 when one failed, 4 to skip.
 */
#define _FILE_OFFSET_BITS 64
#include <getopt.h>
#include "../rig_util.h"

#define SZ_4K	0x1000UL
#define SZ_2M	0x200000UL

static int failed;

static void check(int ok, const char *what)
{
	printf("%s %s\n", ok ? "# ok:" : "# FAIL:", what);
	if (!ok)
		failed = 1;
}

static unsigned long fill(char *p, unsigned long len, uint64_t seed, unsigned long first)
{
	unsigned long i;

	for (i = 0; i < len / SZ_4K; i++)
		*(volatile uint64_t *)(p + i * SZ_4K) = rig_pattern(seed, first + i);
	return i;
}

static unsigned long bad(char *p, unsigned long len, uint64_t seed, unsigned long first)
{
	unsigned long i, n = 0;

	for (i = 0; i < len / SZ_4K; i++)
		if (*(volatile uint64_t *)(p + i * SZ_4K) != rig_pattern(seed, first + i))
			n++;
	return n;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bdf", required_argument, NULL, 'b' },
		{ "seed", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long len = 256UL << 20;	/* 256 MiB: room in 4 GiB for several */
	const char *bdf = NULL;
	uint64_t seed = 1;
	struct rig_vfio v;
	long f0, faults;
	char *p, *q;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'b')
			bdf = optarg;
		else if (c == 's')
			seed = strtoull(optarg, NULL, 0);
		else
			return 1;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	if (!bdf) {
		fprintf(stderr, "usage: bar_compat32 --bdf BDF [--seed N]\n");
		return 1;
	}
	if (rig_vfio_open(&v, bdf, false) || rig_vfio_bar(&v, VFIO_PCI_BAR2_REGION_INDEX)) {
		printf("# FAIL: the vfio device %s did not open from a 32-bit process\n", bdf);
		return 1;
	}
	printf("# 32-bit process, BAR2 %llu MiB at region offset %#llx\n",
	       v.bar_size >> 20, v.bar_offset);

	/* mmap(NULL): placed by the compat search, not aligned for huge leaves. */
	f0 = rig_minflt();
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, v.device_fd, v.bar_offset);
	check(p != MAP_FAILED, "mmap(NULL) of 256 MiB of the BAR");
	if (p == MAP_FAILED)
		return 1;
	printf("# mmap(NULL) returned %p\n", p);
	fill(p, len, seed, 0);
	faults = rig_minflt() - f0;
	printf("# mmap(NULL): %ld faults to write 65536 pages\n", faults);
	check(bad(p, len, seed, 0) == 0, "every page of the mmap(NULL) mapping reads back");

	/* Take out the middle, move the tail: what is left stays right. */
	check(munmap(p + len / 4, len / 4) == 0, "munmap of the second quarter");
	check(bad(p, len / 4, seed, 0) == 0, "the first quarter still reads back");
	/* (A same-size mremap without MREMAP_FIXED would not move at all.) */
	q = mmap(NULL, len / 2, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (q != MAP_FAILED)
		q = mremap(p + len / 2, len / 2, len / 2, MREMAP_MAYMOVE | MREMAP_FIXED, q);
	check(q != MAP_FAILED, "mremap of the second half to another place");
	if (q != MAP_FAILED) {
		q = mremap(q, len / 2, len / 2, MREMAP_MAYMOVE | MREMAP_FIXED, p + len / 4);
		check(q == p + len / 4, "mremap back into the hole");
		if (q != MAP_FAILED)
			check(bad(q, len / 2, seed, len / 2 / SZ_4K) == 0,
			      "the moved half reads back at its new address");
	}
	check(munmap(p, len / 4 + len / 2) == 0, "munmap of the rest");

	/* MAP_FIXED where the BAR's pfns are 2 MiB-aligned. */
	q = rig_mmap_aligned(v.device_fd, v.bar_offset, len, SZ_2M, PROT_READ | PROT_WRITE);
	check(q != MAP_FAILED, "MAP_FIXED mapping at a 2 MiB-aligned address");
	if (q != MAP_FAILED) {
		f0 = rig_minflt();
		check(bad(q, len, seed, 0) == 0, "the aligned mapping reads what was written");
		printf("# 2 MiB-aligned MAP_FIXED: %ld faults to read 65536 pages\n", rig_minflt() - f0);
		munmap(q, len);
	}
	rig_vfio_close(&v);
	return failed;
}
