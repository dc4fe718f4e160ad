/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bar_fuzz: the state shared by the fuzzer's processes and threads, the
 * per-thread PRNG, the device-state windows, failure reporting and guarded
 * accesses to a mapping. Included by bar_fuzz.c only.
 */
#ifndef BAR_FUZZ_CORE_H
#define BAR_FUZZ_CORE_H

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <linux/pci_regs.h>
#include "rig_util.h"

#define BF_ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define SZ_4K		4096UL
#define SZ_2M		(2UL << 20)
#define SZ_1G		(1UL << 30)
#define BF_MAX_WORKERS	16
#define BF_SLOTS	4			/* mapping slots per worker thread */
#define BF_TH_CTL	BF_MAX_WORKERS		/* status index of the first control thread */
#define BF_TH_MAIN	(BF_MAX_WORKERS + 2)	/* status index of the worker's main thread */
#define BF_NR_TH	(BF_MAX_WORKERS + 3)

/* Operation types, each counted in the report. */
#define BF_OPS(X)							\
	X(fill) X(mmap) X(munmap) X(munmap_part) X(read) X(write) X(bad_input)		\
	X(mprotect) X(mremap) X(mmap_over)					\
	X(madvise) X(mlock) X(numa) X(msync)					\
	X(fork) X(procmem) X(ptrace) X(pvm) X(fileio) X(procfs)		\
	X(mem_toggle) X(reset) X(lowpower) X(final)
#define BF_ENUM(n) OP_##n,
#define BF_NAME(n) #n,
enum bf_op { BF_OPS(BF_ENUM) OP_NR };
static const char *const bf_op_name[OP_NR] = { BF_OPS(BF_NAME) };

/* Kinds of failure. */
enum { F_DATA, F_SIGNAL, F_BEHAVIOUR, F_NR };
static const char *const bf_fail_name[F_NR] = { "data", "signal", "behaviour" };

#define BF_NOTES	16		/* ops each thread remembers */

struct bf_tstatus {
	_Atomic uint64_t start_ns;	/* start of the current op, 0 when between ops */
	_Atomic int op;			/* the current (or last) op */
	_Atomic int tid;
	_Atomic int used;
	unsigned int nnotes;		/* ops noted so far */
	char note[BF_NOTES][112];	/* the last ops and their arguments, a ring */
};

/* Shared (MAP_SHARED) between the supervisor, the worker and its children. */
struct bf_shared {
	_Atomic uint64_t gen;		/* +1 at the start and at the end of each control op */
	_Atomic int busy;		/* control ops in flight */
	_Atomic int mem_off;		/* PCI_COMMAND_MEMORY cleared */
	_Atomic int lowpower;		/* low power entered */
	_Atomic int stop;
	_Atomic int running;		/* worker threads still running */
	_Atomic uint64_t count[OP_NR];	/* ops done */
	_Atomic uint64_t errs[OP_NR];	/* ops that ended with an errno */
	_Atomic uint64_t sigbus;	/* accesses that took the SIGBUS they could take */
	_Atomic uint64_t poison_refused; /* MADV_HWPOISON/SOFT_OFFLINE refused with EFAULT */
	_Atomic uint64_t fails[F_NR];
	_Atomic uint64_t run_ns;	/* length of the concurrent phase */
	struct bf_tstatus th[BF_NR_TH];
};

/* The worker's configuration (set before its threads start). */
static struct {
	int dev;
	uint64_t region;	/* BAR2 region offset in the device fd */
	uint64_t cfg;		/* config space region offset */
	uint64_t size;		/* BAR2 size */
	uint64_t phys;		/* BAR2 physical address (0: unknown) */
	uint64_t npages;
	uint64_t seed, pseed;
	int threads;
	int seconds;
	uint64_t ops;		/* ops per worker thread, 0: no limit */
	int control;		/* BF_CTL_* */
	bool trace;		/* print every op as it ends */
} G;
#define BF_CTL_MEMORY	1	/* the memory-enable toggles */
#define BF_CTL_DEVICE	2	/* reset and low power */
static struct bf_shared *S;

/* xoshiro256**, seeded by splitmix64 from (seed, stream). */
struct bf_rng {
	uint64_t s[4];
};

static uint64_t bf_splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void bf_rng_init(struct bf_rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed ^ ((stream + 1) * 0xd1342543de82ef95ULL);
	int i;

	for (i = 0; i < 4; i++)
		r->s[i] = bf_splitmix(&x);
}

static inline uint64_t bf_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t bf_rnd(struct bf_rng *r)
{
	uint64_t *s = r->s, res = bf_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = bf_rotl(s[3], 45);
	return res;
}

static uint64_t bf_below(struct bf_rng *r, uint64_t n)
{
	return n ? bf_rnd(r) % n : 0;
}

static bool bf_chance(struct bf_rng *r, unsigned int pct)
{
	return bf_below(r, 100) < pct;
}

/* The op the calling thread is in, for the supervisor's watchdog. */
static __thread struct bf_tstatus *tl_st;
static bool bf_in_child;	/* in a forked child of a worker thread */
static __thread int tl_idx;

static void bf_thread_register(int idx)
{
	tl_idx = idx;
	tl_st = &S->th[idx];
	tl_st->tid = (int)syscall(SYS_gettid);
	tl_st->used = 1;
}

static void bf_op_begin(int op)
{
	tl_st->op = op;
	strcpy(tl_st->note[tl_st->nnotes++ % BF_NOTES], bf_op_name[op]);
	tl_st->start_ns = rig_now_ns();
}

/* Say what the current op does, for the report of a thread that failed or stuck. */
static void bf_note(const char *fmt, ...)
{
	char *n = tl_st->note[(tl_st->nnotes - 1) % BF_NOTES];
	size_t len = strlen(bf_op_name[tl_st->op]);
	va_list ap;

	n[len] = ' ';
	va_start(ap, fmt);
	vsnprintf(n + len + 1, sizeof(tl_st->note[0]) - len - 1, fmt, ap);
	va_end(ap);
}

/* @err: the op ended with an errno (expected or not; failures are reported apart). */
static void bf_op_end(int op, bool err)
{
	if (G.trace)
		dprintf(STDOUT_FILENO, "# trace %d: %u %s%s\n", tl_idx, tl_st->nnotes - 1,
			tl_st->note[(tl_st->nnotes - 1) % BF_NOTES], err ? " (errno)" : "");
	S->count[op]++;
	if (err)
		S->errs[op]++;
	tl_st->start_ns = 0;
}

static void bf_fail(int kind, const char *fmt, ...)
{
	uint64_t n = ++S->fails[kind];
	char buf[512];
	va_list ap;

	if (n > 20)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/*
	 * One write, so that lines of several threads and processes do not
	 * mix. The op's note gives its arguments, to replay it by hand.
	 */
	dprintf(STDOUT_FILENO, "# FAIL %s (thread %d, %s, pid %d): %s [%s]\n", bf_fail_name[kind],
		tl_idx, bf_op_name[tl_st->op], getpid(), buf,
		tl_st->nnotes ? tl_st->note[(tl_st->nnotes - 1) % BF_NOTES] : "no op yet");
}

/*
 * Device-state windows. A control op (memory disable/enable, reset, low
 * power) does busy++, gen++, the op, the state update, gen++, busy--. An
 * access opens a window before it and closes it after: when no control op
 * was in flight at the start and gen did not move, the whole access lay in
 * one stable state.
 */
struct bf_window {
	uint64_t gen;
	int busy;
	bool off;
};

static void bf_win_open(struct bf_window *w)
{
	w->gen = S->gen;
	w->busy = S->busy;
	w->off = S->mem_off || S->lowpower;
}

/* 1: stable, memory enabled; 0: stable, disabled (SIGBUS); -1: either. */
static int bf_win_close(const struct bf_window *w)
{
	if (w->busy || S->gen != w->gen)
		return -1;
	return w->off ? 0 : 1;
}

static void bf_ctl_begin(void)
{
	S->busy++;
	S->gen++;
}

static void bf_ctl_end(void)
{
	S->gen++;
	S->busy--;
}

/* The two header words every BAR page holds, and the value of another word. */
static inline uint64_t bf_h0(uint64_t page)
{
	return rig_pattern(G.pseed, page);
}

static inline uint64_t bf_word(uint64_t page, unsigned int word)
{
	return rig_pattern(G.pseed ^ 0x5a5a5a5a5a5a5a5aULL, page * 512 + word);
}

/* Guarded accesses: SIGBUS and SIGSEGV jump back to the access that took them. */
static __thread sigjmp_buf tl_jb;
static __thread volatile sig_atomic_t tl_armed;
static __thread volatile int tl_sig;

static void bf_sighandler(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	if (!tl_armed) {
		/* Not ours: re-executing the access kills the process with @sig. */
		signal(sig, SIG_DFL);
		return;
	}
	tl_armed = 0;
	tl_sig = sig;
	siglongjmp(tl_jb, 1);
}

static void bf_signals(void)
{
	struct sigaction sa = { .sa_sigaction = bf_sighandler, .sa_flags = SA_SIGINFO | SA_NODEFER };

	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
}

struct bf_acc {
	int sig;		/* 0, SIGBUS or SIGSEGV */
	bool read;		/* the header was read */
	bool wrote;		/* the writes were done */
	uint64_t w0, w1, wv;
};

/*
 * Read the header of the BAR page @page mapped at @p; with @write, and when
 * the header is right, write it back and write @word, then read @word back.
 */
static void bf_access(volatile uint64_t *p, uint64_t page, bool write, unsigned int word,
		      struct bf_acc *a)
{
	memset(a, 0, sizeof(*a));
	if (sigsetjmp(tl_jb, 0)) {
		a->sig = tl_sig;
		return;
	}
	tl_armed = 1;
	a->w0 = p[0];
	a->w1 = p[1];
	a->read = true;
	if (write && a->w0 == bf_h0(page) && a->w1 == page) {
		p[0] = bf_h0(page);
		p[1] = page;
		p[word] = bf_word(page, word);
		a->wv = p[word];
		a->wrote = true;
	}
	tl_armed = 0;
}

/* Describe a wrong header: whose page is it? */
static const char *bf_whose(uint64_t w0, uint64_t w1, char *buf, size_t n)
{
	if (w1 < G.npages && w0 == bf_h0(w1))
		snprintf(buf, n, "the header of BAR page %llu (a wrong pfn)", (unsigned long long)w1);
	else if (w0 == ~0ULL && w1 == ~0ULL)
		snprintf(buf, n, "all ones (memory not decoded)");
	else
		snprintf(buf, n, "no page's header");
	return buf;
}

#endif
