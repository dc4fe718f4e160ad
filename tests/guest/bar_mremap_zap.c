// SPDX-License-Identifier: GPL-2.0
/*
 * mremap() of BAR mappings with huge leaves while another thread zaps them.
 *
 * vfio-pci zaps every BAR mapping when memory decoding is turned off (and on
 * reset and low power entry) through the device's address_space: it takes
 * the i_mmap lock and the page-table locks, not the mmap lock of the
 * processes that map the BAR. So a PMD or PUD leaf that mremap() found when
 * it walked to an entry may be gone when it decides what to do with it. On
 * a kernel that reads the entry again there, a leaf that turned none is
 * taken for a page table and moved as one: the new entry points to page
 * frame 0, and what the process then reads at the new address is whatever
 * that frame holds.
 *
 * One thread makes vfio-pci zap the BAR's mappings as fast as it can: it
 * takes the device in and out of low power (VFIO_DEVICE_FEATURE_LOW_POWER_
 * ENTRY zaps, whether or not the kernel has runtime PM), or, where the
 * feature is missing, turns PCI_COMMAND_MEMORY off and on through the
 * config region, a few thousand times a second at most: QEMU rebuilds its
 * memory map at each of those, and under TCG a vCPU was seen to stop taking
 * interrupts when that went on at full speed. The other maps part of the BAR, faults in its
 * leaves, moves it with mremap(MREMAP_FIXED) and reads it at the new place,
 * round after round, in three shapes: a 1 GiB-aligned GiB moved to another
 * 1 GiB-aligned place (PUD leaves, or PMD leaves where the architecture has
 * no PUD ones), 16 MiB moved between 2 MiB-aligned places that are not
 * 1 GiB-aligned (PMD leaves), and 4 MiB moved to a place 4 KiB off a 2 MiB
 * boundary (the leaves cannot move whole). Each round then maps the
 * reservation over both ranges again, which zaps the moved leaves (a run of
 * PMD leaves under one lock) while vfio-pci may be zapping the same page
 * table: either may find a leaf that the other clears before it takes the
 * page-table lock. (MADV_DONTNEED, the other way to zap part of a mapping,
 * is refused on a pfnmap.) Every page read must hold the
 * header this program wrote before the race, or the access must take
 * SIGBUS while the device is in low power or memory is off, and the kernel must log no bad page map, bad
 * page table or warning meanwhile.
 *
 * Before the race, with nothing zapping, one round of each of the first two
 * shapes must show its leaves (ptdump on x86_64, gup_test on arm64) before
 * and after the move: with --expect huge, the range is mapped with huge
 * leaves and mremap moves them whole, or the rounds would never take the
 * paths they race with. --expect pte (the unpatched base) skips that.
 *
 * Usage: bar_mremap_zap --bdf BDF [--seconds N] [--seed N] [--expect pte|huge]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <getopt.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <linux/pci_regs.h>

#include "rig_util.h"

#define SZ_4K	4096UL
#define SZ_2M	(2UL << 20)
#define SZ_1G	(1UL << 30)
#define SPAN	(1UL << 30)	/* the part of the BAR the rounds map */

static struct rig_vfio v;
static uint64_t cfg_off, seed = 1;
static _Atomic int stop;
static _Atomic unsigned long toggles;

/* The header written in page @page of the BAR. */
static uint64_t header(uint64_t page)
{
	return rig_pattern(seed, page);
}

static int set_memory(bool on)
{
	return rig_vfio_set_memory(v.device_fd, cfg_off, on);
}

static int feature(uint32_t feature)
{
	return rig_vfio_feature(v.device_fd, feature);
}

static bool use_lowpower;

static void *zapper(void *arg)
{
	(void)arg;
	while (!stop) {
		if (use_lowpower) {
			if (feature(VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY) ||
			    feature(VFIO_DEVICE_FEATURE_LOW_POWER_EXIT)) {
				printf("# VFIO_DEVICE_FEATURE low power: %s\n", strerror(errno));
				break;
			}
		} else {
			if (set_memory(false) || set_memory(true)) {
				printf("# writing PCI_COMMAND: %s\n", strerror(errno));
				break;
			}
			usleep(300);
		}
		toggles++;
	}
	return NULL;
}

static __thread sigjmp_buf jb;
static __thread volatile sig_atomic_t armed, caught;

static void on_signal(int sig)
{
	if (!armed) {
		signal(sig, SIG_DFL);
		return;
	}
	armed = 0;
	caught = sig;
	siglongjmp(jb, 1);
}

/*
 * Read the header of BAR page @page at @p: 1 if it is right, 0 on SIGBUS
 * (memory off), -1 if it is wrong or the access took another signal.
 * sigsetjmp() stands alone in its if, as C allows it, and the function is
 * not inlined into the loops that call it.
 */
static __attribute__((noinline)) int check(volatile uint64_t *p, uint64_t page, uint64_t *got)
{
	if (sigsetjmp(jb, 1))
		return caught == SIGBUS ? 0 : -1;
	armed = 1;
	*got = p[0];
	armed = 0;
	return *got == header(page) ? 1 : -1;
}

/* Count and print the kernel log records since @fd was opened that are splats. */
static int kmsg_splats(int fd)
{
	char rec[4096], *msg;
	int n = 0;
	ssize_t len;

	while (fd >= 0 && ((len = read(fd, rec, sizeof(rec) - 1)) > 0 || (len < 0 && errno == EPIPE))) {
		if (len < 0)
			continue;	/* records overwritten meanwhile */
		rec[len] = '\0';
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		msg[strcspn(msg, "\n")] = '\0';
		if (rig_splat(msg) && n++ < 10)
			printf("# kmsg: %s\n", msg);
	}
	return n;
}

/* Read page @page at @p until memory is on long enough for it; false if wrong. */
static bool read_page(char *p, uint64_t page, const char *where, unsigned long round)
{
	uint64_t got = 0;
	int i, r = 0;

	for (i = 0; i < 100000 && !(r = check((volatile uint64_t *)p, page, &got)); i++)
		;
	if (r == 1)
		return true;
	if (r)
		printf("# round %lu: %s %p (BAR page %llu) reads %#llx, not its header %#llx\n",
		       round, where, p, (unsigned long long)page, (unsigned long long)got,
		       (unsigned long long)header(page));
	else
		printf("# round %lu: %s %p took SIGBUS 100000 times in a row\n", round, where, p);
	return false;
}

/*
 * Is [p, p + len) mapped by leaves of @level only? Prints what it saw.
 * 1: yes, 0: no, -1: the leaves cannot be read here.
 */
static int all_leaves(char *p, unsigned long len, int level, const char *when)
{
	static const char *const names[] = { "PTE", "PMD", "PUD" };
	struct rig_leaves l;

	if (rig_ptdump_leaves((unsigned long)p, len, &l))
		return -1;
	printf("# %s: %p +%lu MiB: %lu PUD, %lu PMD, %lu PTE leaves, %llu bytes unmapped\n", when,
	       p, len >> 20, l.count[RIG_PUD], l.count[RIG_PMD], l.count[RIG_PTE], l.unmapped);
	if (l.bytes[level] == len)
		return 1;
	printf("# %s: expected %s leaves only\n", when, names[level]);
	return 0;
}

/*
 * Fill [p, p + len) of the reservation again. mremap() leaves its source
 * unmapped, and a hole there would let another mmap(), such as the stack of
 * the zapping thread, land where the next round maps with MAP_FIXED.
 */
static void reserve_again(char *p, unsigned long len)
{
	mmap(p, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
}

struct shape {
	const char *name;
	unsigned long len;	/* bytes moved */
	unsigned long src;	/* offset of the source in the reservation */
	unsigned long dst;	/* offset of the destination */
	unsigned long stride;	/* bytes between the pages touched */
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bdf", required_argument, NULL, 'b' },
		{ "seconds", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ "expect", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	/* In a 4 GiB reservation that starts 1 GiB-aligned. */
	const struct shape shapes[] = {
		{ "1 GiB, 1 GiB-aligned to 1 GiB-aligned", SZ_1G, 0, 2 * SZ_1G, SZ_2M },
		{ "16 MiB, 2 MiB-aligned to 2 MiB-aligned", 8 * SZ_2M, SZ_1G + 5 * SZ_2M,
		  3 * SZ_1G + 9 * SZ_2M, SZ_2M },
		{ "4 MiB, 2 MiB-aligned to 4 KiB off 2 MiB", 2 * SZ_2M, SZ_1G + 20 * SZ_2M,
		  3 * SZ_1G + 30 * SZ_2M + SZ_4K, SZ_4K * 64 },
	};
	unsigned long rounds[3] = { 0 }, moved[3] = { 0 }, bad = 0, r;
	const char *bdf = NULL, *expect = "huge";
	struct vfio_region_info cfg = { .argsz = sizeof(cfg), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_NODEFER };
	int seconds = 20, c, k, kmsg, kmsg_err, nsplat, leaves = 1;
	uint64_t t0, i;
	pthread_t th;
	char *res, *base, *bar;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'b')
			bdf = optarg;
		else if (c == 's')
			seconds = atoi(optarg);
		else if (c == 'S')
			seed = strtoull(optarg, NULL, 0);
		else if (c == 'e')
			expect = optarg;
		else
			bdf = NULL, argc = 0;
	}
	if (!bdf || seconds <= 0 || (strcmp(expect, "huge") && strcmp(expect, "pte"))) {
		fprintf(stderr, "usage: %s --bdf BDF [--seconds N] [--seed N] [--expect pte|huge]\n",
			argv[0]);
		return 2;
	}
	printf("TAP version 13\n1..4\n");
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (rig_vfio_open(&v, bdf, false) || rig_vfio_bar(&v, 2) ||
	    ioctl(v.device_fd, VFIO_DEVICE_GET_REGION_INFO, &cfg)) {
		printf("Bail out! cannot open %s or read its regions\n", bdf);
		return 1;
	}
	if (v.bar_size < SPAN) {
		printf("ok 1 # SKIP BAR2 is %llu MiB, the rounds need 1 GiB\n", v.bar_size >> 20);
		printf("ok 2 # SKIP\nok 3 # SKIP\nok 4 # SKIP\n");
		return 0;
	}
	cfg_off = cfg.offset;
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);

	/* Write the headers before the race: memory is on, nothing zaps. */
	if (set_memory(true)) {
		printf("Bail out! PCI_COMMAND: %s\n", strerror(errno));
		return 1;
	}
	bar = rig_mmap_aligned(v.device_fd, v.bar_offset, SPAN, SZ_1G, PROT_READ | PROT_WRITE);
	if (bar == MAP_FAILED) {
		printf("Bail out! mmap of the BAR: %s\n", strerror(errno));
		return 1;
	}
	for (i = 0; i < SPAN / SZ_4K; i++)
		*(volatile uint64_t *)(bar + i * SZ_4K) = header(i);
	munmap(bar, SPAN);

	res = mmap(NULL, 5 * SZ_1G, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED) {
		printf("Bail out! reserving address space: %s\n", strerror(errno));
		return 1;
	}
	base = (char *)(((uintptr_t)res + SZ_1G - 1) & ~(SZ_1G - 1));

	/* One quiet round of each leaf-moving shape: leaves before and after. */
	for (k = 0; k < 2 && !strcmp(expect, "huge"); k++) {
		const struct shape *s = &shapes[k];
		int level = k ? RIG_PMD : RIG_HUGE_LEVEL, before, after;
		unsigned long off = s->len == SZ_1G ? 0 : (s->src % SZ_1G);

		if (mmap(base + s->src, s->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 v.device_fd, v.bar_offset + off) == MAP_FAILED) {
			printf("Bail out! mmap: %s\n", strerror(errno));
			return 1;
		}
		for (i = 0; i < s->len; i += s->stride)
			bad += !read_page(base + s->src + i, (off + i) / SZ_4K, "quiet round,", 0);
		before = all_leaves(base + s->src, s->len, level, "before the move");
		if (mremap(base + s->src, s->len, s->len, MREMAP_MAYMOVE | MREMAP_FIXED,
			   base + s->dst) == MAP_FAILED) {
			printf("Bail out! mremap: %s\n", strerror(errno));
			return 1;
		}
		after = all_leaves(base + s->dst, s->len, level, "after the move");
		reserve_again(base + s->src, s->len);
		reserve_again(base + s->dst, s->len);
		if (before < 0 || after < 0) {
			if (!RIG_PTDUMP_OPTIONAL)
				leaves = 0;
			else if (leaves == 1)
				leaves = -1;
		} else if (leaves == 1) {
			leaves = before && after;
		}
	}
	if (strcmp(expect, "huge"))
		leaves = -1;

	/* Low power if the kernel has it (vfio-pci of 6.1 does). */
	use_lowpower = !feature(VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY);
	if (use_lowpower && feature(VFIO_DEVICE_FEATURE_LOW_POWER_EXIT)) {
		printf("Bail out! VFIO_DEVICE_FEATURE_LOW_POWER_EXIT: %s\n", strerror(errno));
		return 1;
	}
	printf("# zapping by %s\n", use_lowpower ? "entering and leaving low power" :
	       "turning memory decoding off and on");
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	kmsg_err = errno;
	if (kmsg >= 0)
		lseek(kmsg, 0, SEEK_END);
	pthread_create(&th, NULL, zapper, NULL);
	t0 = rig_now_ns();
	for (r = 0; !bad && rig_now_ns() - t0 < (uint64_t)seconds * 1000000000ULL; r++) {
		const struct shape *s = &shapes[r % 3];
		/* BAR offset of the source: where a leaf of the shape's size fits. */
		unsigned long off = s->len == SZ_1G ? 0 : (s->src % SZ_1G);
		char *src = base + s->src, *dst = base + s->dst, *p;

		rounds[r % 3]++;
		p = mmap(src, s->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, v.device_fd,
			 v.bar_offset + off);
		if (p == MAP_FAILED) {
			printf("# round %lu: mmap: %s\n", r, strerror(errno));
			bad++;
			break;
		}
		/* Fault the leaves in (each read retries while memory is off). */
		for (i = 0; i < s->len && !bad; i += s->stride)
			bad += !read_page(src + i, (off + i) / SZ_4K, "before the move,", r);
		p = mremap(src, s->len, s->len, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
		if (p == MAP_FAILED) {
			printf("# round %lu: mremap: %s\n", r, strerror(errno));
			bad++;
			break;
		}
		moved[r % 3]++;
		for (i = 0; i < s->len && !bad; i += s->stride)
			bad += !read_page(dst + i, (off + i) / SZ_4K, "after the move,", r);
		/* Give both ranges back to the reservation. */
		reserve_again(src, s->len);
		reserve_again(dst, s->len);
	}
	stop = 1;
	pthread_join(th, NULL);
	set_memory(true);

	for (k = 0; k < 3; k++)
		printf("# %s: %lu rounds, %lu moved\n", shapes[k].name, rounds[k], moved[k]);
	sleep(1);
	nsplat = kmsg_splats(kmsg);
	printf("# RESULT mremap_zap: seconds=%d rounds=%lu toggles=%lu bad=%lu splats=%d\n", seconds,
	       r, (unsigned long)toggles, bad, nsplat);
	printf("%sok 1 every round mapped, moved and read its pages back\n", bad ? "not " : "");
	printf("%sok 2 vfio-pci zapped the mappings during the rounds (%lu times)\n",
	       toggles ? "" : "not ", (unsigned long)toggles);
	if (kmsg < 0)
		printf("ok 3 # SKIP /dev/kmsg: %s\n", strerror(kmsg_err));
	else
		printf("%sok 3 the kernel logged no bad page map, bad page table or warning (%d)\n",
		       nsplat ? "not " : "", nsplat);
	if (leaves < 0)
		printf("ok 4 # SKIP %s\n", strcmp(expect, "huge") ?
		       "--expect pte: no huge leaves to move" : RIG_PTDUMP_WHY);
	else
		printf("%sok 4 with nothing zapping, huge leaves mapped the ranges and mremap moved them whole\n",
		       leaves ? "" : "not ");
	return bad || !toggles || nsplat || !leaves;
}
