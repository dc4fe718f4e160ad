/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bar_fuzz: mapping slots and the basic ops on them: mmap at random BAR
 * offsets, lengths and address phases, munmap of the whole or a part, checked
 * reads and writes, and mmap arguments that must be refused.
 * Included by bar_fuzz.c only.
 */
#ifndef BAR_FUZZ_MAP_H
#define BAR_FUZZ_MAP_H

#include "bar_fuzz_core.h"

/* Per-page state of a slot. */
#define PG_R		1	/* readable */
#define PG_W		2	/* writable */
#define PG_NOFORK	4	/* MADV_DONTFORK: not in a child */

/*
 * A slot is one contiguous, fully mapped range of BAR pages (each page may
 * map any BAR page). Its owner changes it under the write lock; any worker
 * may access it under the read lock.
 */
struct bf_slot {
	pthread_rwlock_t lock;
	char *va;		/* NULL: free */
	uint64_t npages;
	uint8_t *pg;		/* PG_* */
	uint32_t *bar;		/* the BAR page each page maps */
};
static struct bf_slot bf_slots[BF_MAX_WORKERS * BF_SLOTS];

struct bf_worker {
	int idx;
	struct bf_rng rng;
	struct bf_rng aux;	/* draws that must not change rng's sequence */
	pthread_t th;
};

static void bf_slot_set(struct bf_slot *s, char *va, uint64_t npages)
{
	s->pg = malloc(npages);
	s->bar = malloc(npages * sizeof(*s->bar));
	if (!s->pg || !s->bar) {
		dprintf(STDOUT_FILENO, "# out of memory for a slot of %llu pages\n",
			(unsigned long long)npages);
		exit(2);
	}
	s->va = va;
	s->npages = npages;
}

static void bf_slot_fill(struct bf_slot *s, uint64_t bar_page, uint8_t pg)
{
	uint64_t i;

	memset(s->pg, pg, s->npages);
	for (i = 0; i < s->npages; i++)
		s->bar[i] = bar_page + i;
}

static void bf_slot_free(struct bf_slot *s)
{
	free(s->pg);
	free(s->bar);
	s->pg = NULL;
	s->bar = NULL;
	s->va = NULL;
	s->npages = 0;
}

/* Keep pages [a, b) of @s, which must stay mapped at s->va + a * 4K. */
static void bf_slot_trim(struct bf_slot *s, uint64_t a, uint64_t b)
{
	memmove(s->pg, s->pg + a, b - a);
	memmove(s->bar, s->bar + a, (b - a) * sizeof(*s->bar));
	s->va += a * SZ_4K;
	s->npages = b - a;
}

/* Copy pages [a, b) of @from into the free slot @to, now mapped at @va. */
static void bf_slot_copy(struct bf_slot *to, char *va, struct bf_slot *from, uint64_t a, uint64_t b)
{
	bf_slot_set(to, va, b - a);
	memcpy(to->pg, from->pg + a, b - a);
	memcpy(to->bar, from->bar + a, (b - a) * sizeof(*to->bar));
}

/* A random slot of worker @w that is in use (@used) or free; NULL if none. */
static struct bf_slot *bf_own_slot(struct bf_worker *w, bool used)
{
	int i, start = (int)bf_below(&w->rng, BF_SLOTS);

	for (i = 0; i < BF_SLOTS; i++) {
		struct bf_slot *s = &bf_slots[w->idx * BF_SLOTS + (start + i) % BF_SLOTS];

		if (!!s->va == used)
			return s;
	}
	return NULL;
}

/*
 * Reserve @len + 2 GiB of address space and return the address @skew past
 * the first 1 GiB boundary in it (*res: the reservation), or NULL.
 */
static char *bf_reserve(uint64_t len, uint64_t skew, char **res)
{
	char *r = mmap(NULL, len + 2 * SZ_1G, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);

	if (r == MAP_FAILED)
		return NULL;
	*res = r;
	return (char *)(((uintptr_t)r + SZ_1G - 1) & ~(SZ_1G - 1)) + skew;
}

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE	0x100000
#endif

/*
 * Unmap the reservation of @len made by bf_reserve() except [keep, keep + klen)
 * when @kept. A failed MAP_FIXED mmap or mremap to @keep may have unmapped
 * that range already, and another thread may have mapped something there
 * since: unmap it only if it can be taken back. errno is left as it was, so
 * that the caller judges the errno of the call that failed, not EEXIST from
 * taking the range back.
 */
static void bf_unreserve(char *res, uint64_t len, char *keep, uint64_t klen, bool kept)
{
	char *end = res + len + 2 * SZ_1G;
	int e = errno;

	if (!kept && mmap(keep, klen, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			  MAP_FIXED_NOREPLACE, -1, 0) == keep) {
		munmap(res, end - res);
		errno = e;
		return;
	}
	if (keep > res)
		munmap(res, keep - res);
	if (keep + klen < end)
		munmap(keep + klen, end - (keep + klen));
	errno = e;
}

/* A BAR length: a few pages, a few 2 MiB, up to 512 MiB, or 1 GiB and more. */
static uint64_t bf_pick_len(struct bf_rng *r)
{
	uint64_t k = bf_below(r, 20), len;

	if (k < 6)
		len = (1 + bf_below(r, 64)) * SZ_4K;
	else if (k < 13)
		len = (1 + bf_below(r, 8)) * SZ_2M + bf_below(r, 33) * SZ_4K - 16 * SZ_4K;
	else if (k < 17)
		len = (8 + bf_below(r, 248)) * SZ_2M + bf_below(r, 512) * SZ_4K;
	else if (k < 19)
		len = SZ_1G + bf_below(r, 2) * bf_below(r, SZ_1G / SZ_4K + 1) * SZ_4K;
	else
		len = G.size;
	if (len < SZ_4K)
		len = SZ_4K;
	return len < G.size ? len : G.size;
}

/* A BAR offset for @len bytes: 1 GiB, 2 MiB or 4 KiB aligned. */
static uint64_t bf_pick_off(struct bf_rng *r, uint64_t len)
{
	uint64_t max = G.size - len;

	switch (bf_below(r, 4)) {
	case 0:
		return bf_below(r, max / SZ_1G + 1) * SZ_1G;
	case 1:
		return bf_below(r, max / SZ_2M + 1) * SZ_2M;
	default:
		return bf_below(r, max / SZ_4K + 1) * SZ_4K;
	}
}

/* How far past a 1 GiB boundary to map BAR offset @off. */
static uint64_t bf_pick_skew(struct bf_rng *r, uint64_t off)
{
	switch (bf_below(r, 5)) {
	case 0:
		return 0;
	case 1:
		return off & (SZ_1G - 1);			/* the BAR offset's 1 GiB phase */
	case 2:
		return bf_below(r, SZ_1G / SZ_2M) * SZ_2M;	/* some 2 MiB phase */
	case 3:
		return (off & (SZ_2M - 1)) + bf_below(r, SZ_1G / SZ_2M) * SZ_2M;
	default:
		return bf_below(r, SZ_1G / SZ_4K) * SZ_4K;	/* any 4 KiB skew */
	}
}

/* Map a random part of the BAR into a free slot. */
static void op_mmap(struct bf_worker *w)
{
	struct bf_rng *r = &w->rng;
	struct bf_slot *s = bf_own_slot(w, false);
	uint64_t len = bf_pick_len(r), off = bf_pick_off(r, len), skew = bf_pick_skew(r, off);
	bool ro = bf_chance(r, 10), null = bf_chance(r, 20);
	int prot = ro ? PROT_READ : PROT_READ | PROT_WRITE;
	char *p, *va, *res = NULL;

	if (!s)
		return;
	bf_op_begin(OP_mmap);
	pthread_rwlock_wrlock(&s->lock);
	if (null) {
		p = mmap(NULL, len, prot, MAP_SHARED, G.dev, G.region + off);
	} else {
		va = bf_reserve(len, skew, &res);
		p = va ? mmap(va, len, prot, MAP_SHARED | MAP_FIXED, G.dev, G.region + off) : MAP_FAILED;
		if (va)
			bf_unreserve(res, len, va, len, p != MAP_FAILED);
	}
	bf_note("%p +%#llx BAR %#llx %s %s", p, (unsigned long long)len, (unsigned long long)off,
		null ? "mmap(NULL)" : "fixed", ro ? "r" : "rw");
	if (p == MAP_FAILED) {
		bf_fail(F_BEHAVIOUR, "mmap of %#llx bytes at BAR offset %#llx (%s): %s",
			(unsigned long long)len, (unsigned long long)off, null ? "mmap(NULL)" : "fixed",
			strerror(errno));
	} else {
		bf_slot_set(s, p, len / SZ_4K);
		bf_slot_fill(s, off / SZ_4K, ro ? PG_R : PG_R | PG_W);
	}
	pthread_rwlock_unlock(&s->lock);
	bf_op_end(OP_mmap, p == MAP_FAILED);
}

/* Round page index @i of a slot at @va to a 2 MiB boundary of the address, if it stays in (lo, hi). */
static uint64_t bf_round2m(char *va, uint64_t i, uint64_t lo, uint64_t hi)
{
	uintptr_t a = ((uintptr_t)va + i * SZ_4K) & ~(SZ_2M - 1);
	uint64_t j = (a - (uintptr_t)va) / SZ_4K;

	return a >= (uintptr_t)va && j > lo && j < hi ? j : i;
}

/* Unmap a whole slot (@mode 0), its head (1), its tail (2) or its middle (3). */
static void bf_munmap(struct bf_worker *w, int mode)
{
	struct bf_rng *r = &w->rng;
	struct bf_slot *s = bf_own_slot(w, true), *t = NULL;
	int op = mode ? OP_munmap_part : OP_munmap, rc;
	uint64_t n, a, b;

	if (!s)
		return;
	bf_op_begin(op);
	pthread_rwlock_wrlock(&s->lock);
	n = s->npages;
	a = 0;
	b = n;
	if (mode == 3 && n >= 3)
		t = bf_own_slot(w, false);
	if (mode == 3 && !t)
		mode = 2;	/* no free slot for the part after the hole */
	if (mode == 3) {
		a = 1 + bf_below(r, n - 2);
		b = a + 1 + bf_below(r, n - 1 - a);
	} else if (mode == 2 && n >= 2) {
		a = 1 + bf_below(r, n - 1);
	} else if (mode == 1 && n >= 2) {
		b = 1 + bf_below(r, n - 1);
	}
	if (bf_chance(r, 50)) {
		a = a ? bf_round2m(s->va, a, 0, b) : a;
		b = b < n ? bf_round2m(s->va, b, a, n) : b;
	}
	bf_note("%p pages [%llu, %llu) of %p +%llu", s->va + a * SZ_4K, (unsigned long long)a,
		(unsigned long long)b, s->va, (unsigned long long)n);
	rc = munmap(s->va + a * SZ_4K, (b - a) * SZ_4K);
	if (rc) {
		bf_fail(F_BEHAVIOUR, "munmap of pages [%llu, %llu) of a %llu-page mapping: %s",
			(unsigned long long)a, (unsigned long long)b, (unsigned long long)n,
			strerror(errno));
	} else if (a == 0 && b == n) {
		bf_slot_free(s);
	} else if (a == 0) {
		bf_slot_trim(s, b, n);
	} else {
		if (b < n) {
			pthread_rwlock_wrlock(&t->lock);
			bf_slot_copy(t, s->va + b * SZ_4K, s, b, n);
			pthread_rwlock_unlock(&t->lock);
		}
		s->npages = a;
	}
	pthread_rwlock_unlock(&s->lock);
	bf_op_end(op, rc);
}

static void op_munmap(struct bf_worker *w)
{
	bf_munmap(w, 0);
}

static void op_munmap_part(struct bf_worker *w)
{
	bf_munmap(w, 1 + (int)bf_below(&w->rng, 3));
}

#endif
