// SPDX-License-Identifier: GPL-2.0
/*
 * A seeded, concurrent fuzzer for vfio-pci BAR mappings (huge pfnmaps).
 *
 * It maps random parts of BAR2 (random BAR offsets and lengths, at addresses
 * 1 GiB aligned, in the BAR offset's 1 GiB or 2 MiB phase, at 4 KiB skews, or
 * where mmap(NULL) puts them) from several worker threads, touches them,
 * changes their geometry and runs the mm system calls a user can point at
 * them, while control threads disable and enable memory decoding through the
 * PCI command register, reset the device and take it in and out of low
 * power. Every BAR page starts with rig_pattern(pattern seed, page) and the
 * page index, and every access checks the header of the BAR page it must
 * reach (a wrong pfn shows another page's header), or takes SIGBUS exactly
 * when memory was disabled for the whole access (see bf_win_close()).
 * SIGSEGV is expected only where the worker itself removed the access
 * rights. At the end the pattern is written over the whole BAR through a
 * fresh mapping, for the host's check of the backing file.
 *
 * The process that starts is a supervisor: the fuzzing runs in a child, whose
 * threads publish the op they are in. The supervisor reports a thread stuck
 * in one op for --stall seconds (naming the op and the kernel stack), kills
 * the child and fails instead of hanging, and fails on any warning, BUG,
 * Oops, bad page or lockup report in the kernel log (/dev/kmsg) during the
 * run, stopping the run at the first one.
 *
 * Reproducibility: each thread draws from its own PRNG stream derived from
 * (--seed, thread index), so the sequence of operations and arguments of
 * each thread is reproducible from the seed. The interleaving of the threads,
 * and so what each operation finds, is not.
 *
 * With --threads 1 --control none --ops N, a run is the same every time
 * (what fails in it is a named case, tests/guest/fuzz-cases.list).
 *
 * Usage: bar_fuzz --bdf DDDD:BB:DD.F [--seed N] [--seconds S] [--threads T]
 *                 [--ops N per thread] [--control all|memory|device|none]
 *                 [--only OP,...] [--trace] [--pattern-seed N] [--stall S]
 * --only: the worker ops to draw from (names as in the report), e.g.
 * --only mmap,munmap,read,write (a seed then draws another sequence).
 * --trace: print every op with its addresses and arguments as it ends.
 * --pattern-seed: the seed of the BAR pattern (default --seed); the rig
 * passes the seed the host checks the backing file with.
 * Output: TAP (five results) with the seed, the ops done per type, the ops
 * per second and a "RESULT fuzz:" line; exit status 0 (PASS) or 1 (FAIL).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <getopt.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "bar_fuzz_core.h"
#include "bar_fuzz_map.h"
#include "bar_fuzz_access.h"
#include "bar_fuzz_geom.h"
#include "bar_fuzz_mm.h"
#include "bar_fuzz_remote.h"
#include "bar_fuzz_io.h"
#include "bar_fuzz_ctl.h"

static const char *bdf;

static void op_read(struct bf_worker *w)
{
	op_access(w, false);
}

static void op_write(struct bf_worker *w)
{
	op_access(w, true);
}

/* The worker threads' ops, the op type they count as, and their weights. */
static const struct {
	void (*fn)(struct bf_worker *w);
	int op;
	int weight;
} bf_ops[] = {
	{ op_mmap, OP_mmap, 8 },
	{ op_munmap, OP_munmap, 3 },
	{ op_munmap_part, OP_munmap_part, 3 },
	{ op_bad_input, OP_bad_input, 2 },
	{ op_bad_mremap, OP_bad_input, 1 },
	{ op_mprotect, OP_mprotect, 5 },
	{ op_mremap, OP_mremap, 5 },
	{ op_mmap_over, OP_mmap_over, 2 },
	{ op_madvise, OP_madvise, 4 },
	{ op_mlock, OP_mlock, 2 },
	{ op_numa, OP_numa, 3 },
	{ op_msync, OP_msync, 2 },
	{ op_fork, OP_fork, 2 },
	{ op_procmem, OP_procmem, 3 },
	{ op_ptrace, OP_ptrace, 1 },
	{ op_pvm, OP_pvm, 3 },
	{ op_fileio, OP_fileio, 3 },
	{ op_procfs, OP_procfs, 2 },
	{ op_read, OP_read, 40 },
	{ op_write, OP_write, 30 },
};
#define BF_NR_OPS	((int)BF_ARRAY_SIZE(bf_ops))
static uint64_t bf_only;	/* --only: the op types the workers do (bits), 0: all */

static int bf_weight(int i)
{
	return !bf_only || (bf_only >> bf_ops[i].op & 1) ? bf_ops[i].weight : 0;
}

/* Parse --only's comma-separated op type names; false on an unknown one. */
static bool bf_parse_only(char *list)
{
	char *name;
	int i;

	for (name = strtok(list, ","); name; name = strtok(NULL, ",")) {
		for (i = 0; i < OP_NR && strcmp(name, bf_op_name[i]); i++)
			;
		if (i == OP_NR)
			return false;
		bf_only |= 1ULL << i;
	}
	for (i = 0; i < BF_NR_OPS && !bf_weight(i); i++)
		;
	return i < BF_NR_OPS;
}

static void *bf_worker_main(void *arg)
{
	struct bf_worker *w = arg;
	int total = 0, i, k;

	bf_thread_register(w->idx);
	for (i = 0; i < BF_NR_OPS; i++)
		total += bf_weight(i);
	for (uint64_t n = 0; !S->stop && (!G.ops || n < G.ops); n++) {
		k = (int)bf_below(&w->rng, total);
		for (i = 0; k >= bf_weight(i); i++)
			k -= bf_weight(i);
		bf_ops[i].fn(w);
	}
	for (i = 0; i < BF_SLOTS; i++) {
		struct bf_slot *s = &bf_slots[w->idx * BF_SLOTS + i];

		pthread_rwlock_wrlock(&s->lock);
		if (s->va && munmap(s->va, s->npages * SZ_4K))
			bf_fail(F_BEHAVIOUR, "munmap at the end: %s", strerror(errno));
		if (s->va)
			bf_slot_free(s);
		pthread_rwlock_unlock(&s->lock);
	}
	S->running--;
	return NULL;
}

/*
 * Through a fresh 1 GiB-aligned mapping of the whole BAR: at the end, check
 * the header of every page (a write through a wrong pfn during the run shows
 * here); write the header of every page; read every header back.
 */
static void bf_fill(bool final)
{
	volatile uint64_t *p;
	uint64_t i, bad = 0, first = 0;
	char *bar;

	bf_op_begin(final ? OP_final : OP_fill);
	bar = rig_mmap_aligned(G.dev, G.region, G.size, SZ_1G, PROT_READ | PROT_WRITE);
	if (bar == MAP_FAILED) {
		bf_fail(F_BEHAVIOUR, "mmap of the whole BAR: %s", strerror(errno));
		bf_op_end(final ? OP_final : OP_fill, true);
		return;
	}
	for (i = 0; final && i < G.npages; i++) {
		p = (volatile uint64_t *)(bar + i * SZ_4K);
		if ((p[0] != bf_h0(i) || p[1] != i) && !bad++)
			first = i;
	}
	if (bad)
		bf_fail(F_DATA, "%llu BAR pages lost their header during the run (first: page %llu)",
			(unsigned long long)bad, (unsigned long long)first);
	for (i = 0; i < G.npages; i++) {
		p = (volatile uint64_t *)(bar + i * SZ_4K);
		p[0] = bf_h0(i);
		p[1] = i;
	}
	for (i = 0, bad = 0; i < G.npages; i++) {
		p = (volatile uint64_t *)(bar + i * SZ_4K);
		if ((p[0] != bf_h0(i) || p[1] != i) && !bad++)
			first = i;
	}
	if (bad)
		bf_fail(F_DATA, "%llu BAR pages read back wrong after writing the pattern (first: page %llu)",
			(unsigned long long)bad, (unsigned long long)first);
	munmap(bar, G.size);
	bf_op_end(final ? OP_final : OP_fill, false);
}

/* The physical address of BAR @bar of @bdf, from sysfs; 0 if unknown. */
static uint64_t bf_bar_phys(const char *bdf, int bar)
{
	unsigned long long start = 0, end, flags;
	char path[128], line[128];
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource", bdf);
	f = fopen(path, "r");
	if (!f)
		return 0;
	for (i = 0; i <= bar && fgets(line, sizeof(line), f); i++)
		if (i == bar && sscanf(line, "%llx %llx %llx", &start, &end, &flags) != 3)
			start = 0;
	fclose(f);
	return start;
}

static int bf_worker_process(void)
{
	struct vfio_region_info cfg = { .argsz = sizeof(cfg), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	static struct bf_worker workers[BF_MAX_WORKERS];
	pthread_t ctl[2];
	struct rig_vfio v;
	uint64_t t0;
	int i;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	bf_thread_register(BF_TH_MAIN);
	if (rig_vfio_open(&v, bdf, false) || rig_vfio_bar(&v, 2) ||
	    ioctl(v.device_fd, VFIO_DEVICE_GET_REGION_INFO, &cfg)) {
		dprintf(STDOUT_FILENO, "# cannot open BAR2 of %s through vfio\n", bdf);
		return 2;
	}
	G.dev = v.device_fd;
	G.region = v.bar_offset;
	G.size = v.bar_size;
	G.npages = G.size / SZ_4K;
	G.cfg = cfg.offset;
	G.phys = bf_bar_phys(bdf, 2);
	dprintf(STDOUT_FILENO, "# BAR2: %llu MiB at %#llx, region offset %#llx; config region at %#llx\n",
		(unsigned long long)G.size >> 20, (unsigned long long)G.phys,
		(unsigned long long)G.region, (unsigned long long)G.cfg);
	for (i = 0; i < BF_MAX_WORKERS * BF_SLOTS; i++)
		pthread_rwlock_init(&bf_slots[i].lock, NULL);
	bf_signals();
	bf_poison_errno();	/* probes with access(): once, before the threads */
	bf_set_memory(true);
	bf_fill(false);

	t0 = rig_now_ns();
	if (G.control & BF_CTL_MEMORY)
		pthread_create(&ctl[0], NULL, bf_ctl_memory, NULL);
	if (G.control & BF_CTL_DEVICE)
		pthread_create(&ctl[1], NULL, bf_ctl_device, NULL);
	S->running = G.threads;
	for (i = 0; i < G.threads; i++) {
		workers[i].idx = i;
		bf_rng_init(&workers[i].rng, G.seed, i);
		bf_rng_init(&workers[i].aux, G.seed, BF_NR_TH + i);
		pthread_create(&workers[i].th, NULL, bf_worker_main, &workers[i]);
	}
	while (!S->stop && S->running && rig_now_ns() - t0 < (uint64_t)G.seconds * 1000000000ULL)
		usleep(100000);
	S->stop = 1;
	for (i = 0; i < G.threads; i++)
		pthread_join(workers[i].th, NULL);
	if (G.control & BF_CTL_MEMORY)
		pthread_join(ctl[0], NULL);
	if (G.control & BF_CTL_DEVICE)
		pthread_join(ctl[1], NULL);
	S->run_ns = rig_now_ns() - t0;
	bf_fill(true);
	rig_vfio_close(&v);
	return 0;
}

#include "bar_fuzz_super.h"

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bdf", required_argument, NULL, 'b' },
		{ "seed", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 't' },
		{ "threads", required_argument, NULL, 'j' },
		{ "pattern-seed", required_argument, NULL, 'p' },
		{ "stall", required_argument, NULL, 'w' },
		{ "ops", required_argument, NULL, 'n' },
		{ "control", required_argument, NULL, 'c' },
		{ "only", required_argument, NULL, 'o' },
		{ "trace", no_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	int c, pers = personality(0xffffffff);
	bool pseed = false, bad = false;

	/* The same addresses every run (mmap(NULL) phases included): no ASLR. */
	if (pers != -1 && !(pers & ADDR_NO_RANDOMIZE) &&
	    personality(pers | ADDR_NO_RANDOMIZE) != -1)
		execv("/proc/self/exe", argv);

	G.seed = 1;
	G.seconds = 60;
	G.threads = 4;
	G.control = BF_CTL_MEMORY | BF_CTL_DEVICE;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			bdf = optarg;
			break;
		case 's':
			G.seed = strtoull(optarg, NULL, 0);
			break;
		case 't':
			G.seconds = atoi(optarg);
			break;
		case 'j':
			G.threads = atoi(optarg);
			break;
		case 'p':
			G.pseed = strtoull(optarg, NULL, 0);
			pseed = true;
			break;
		case 'w':
			bf_stall_s = atoi(optarg);
			break;
		case 'n':
			G.ops = strtoull(optarg, NULL, 0);
			break;
		case 'T':
			G.trace = true;
			break;
		case 'o':
			bad |= !bf_parse_only(optarg);
			break;
		case 'c':
			G.control = !strcmp(optarg, "all") ? BF_CTL_MEMORY | BF_CTL_DEVICE :
				    !strcmp(optarg, "memory") ? BF_CTL_MEMORY :
				    !strcmp(optarg, "device") ? BF_CTL_DEVICE :
				    !strcmp(optarg, "none") ? 0 : -1;
			break;
		default:
			bad = true;
			break;
		}
	}
	if (bad || !bdf || G.threads < 1 || G.threads > BF_MAX_WORKERS || G.seconds < 0 || bf_stall_s < 1 ||
	    G.control < 0) {
		fprintf(stderr, "usage: %s --bdf BDF [--seed N] [--seconds S] [--threads 1-%d] [--ops N]\n"
			"       [--control all|memory|device|none] [--only OP,...] [--trace] [--pattern-seed N]\n"
			"       [--stall S]\n",
			argv[0], BF_MAX_WORKERS);
		return 2;
	}
	if (!pseed)
		G.pseed = G.seed;
	return bf_supervise(bf_worker_process);
}
