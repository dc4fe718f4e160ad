/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bar_fuzz: ops that change the geometry of a mapping: mprotect of the whole
 * or a part (PROT_NONE, read-only and back), mremap (grow, which vfio's
 * VM_DONTEXPAND must refuse; shrink; move of the whole, the head or the tail
 * to another 1 GiB or 2 MiB phase), mmap MAP_FIXED of other BAR pages over a
 * part, and mremap arguments that must be refused. Included by bar_fuzz.c only.
 */
#ifndef BAR_FUZZ_GEOM_H
#define BAR_FUZZ_GEOM_H

#include "bar_fuzz_map.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP	4
#endif

/*
 * A range [*a, *b) of @s: the whole (mode 0), the head (1), the tail (2) or
 * the middle (3); the inner ends at a 2 MiB boundary of the address half of
 * the time.
 */
static void bf_pick_range(struct bf_rng *r, struct bf_slot *s, int mode, uint64_t *a, uint64_t *b)
{
	uint64_t n = s->npages;

	*a = 0;
	*b = n;
	if (mode == 3 && n < 3)
		mode = n < 2 ? 0 : 1;
	if (mode == 1 && n >= 2) {
		*b = 1 + bf_below(r, n - 1);
	} else if (mode == 2 && n >= 2) {
		*a = 1 + bf_below(r, n - 1);
	} else if (mode == 3) {
		*a = 1 + bf_below(r, n - 2);
		*b = *a + 1 + bf_below(r, n - 1 - *a);
	}
	if (bf_chance(r, 50)) {
		*a = *a ? bf_round2m(s->va, *a, 0, *b) : 0;
		*b = *b < n ? bf_round2m(s->va, *b, *a, n) : n;
	}
}

/* mprotect the whole slot or a part to PROT_NONE, read-only or read-write. */
static void op_mprotect(struct bf_worker *w)
{
	static const int prots[] = { PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE };
	static const uint8_t pgs[] = { 0, PG_R, PG_R | PG_W };
	struct bf_rng *r = &w->rng;
	struct bf_slot *s = bf_own_slot(w, true);
	int k = (int)bf_below(r, 3), mode = (int)bf_below(r, 4), rc;
	uint64_t a, b, i;

	if (!s)
		return;
	bf_op_begin(OP_mprotect);
	pthread_rwlock_wrlock(&s->lock);
	bf_pick_range(r, s, mode, &a, &b);
	bf_note("%p pages [%llu, %llu) of %p +%llu prot %d", s->va + a * SZ_4K, (unsigned long long)a,
		(unsigned long long)b, s->va, (unsigned long long)s->npages, prots[k]);
	rc = mprotect(s->va + a * SZ_4K, (b - a) * SZ_4K, prots[k]);
	if (rc)
		bf_fail(F_BEHAVIOUR, "mprotect(%d) of pages [%llu, %llu) of a %llu-page mapping: %s",
			prots[k], (unsigned long long)a, (unsigned long long)b,
			(unsigned long long)s->npages, strerror(errno));
	for (i = a; !rc && i < b; i++)
		s->pg[i] = (s->pg[i] & PG_NOFORK) | pgs[k];
	pthread_rwlock_unlock(&s->lock);
	bf_op_end(OP_mprotect, rc);
}

/* Grow: vfio sets VM_DONTEXPAND, so it must fail. */
static void bf_mremap_grow(struct bf_rng *r, struct bf_slot *s)
{
	uint64_t len = s->npages * SZ_4K, more = (1 + bf_below(r, 1024)) * SZ_4K;
	int flags = bf_chance(r, 50) ? MREMAP_MAYMOVE : 0;
	char *p;

	bf_note("grow %p +%#llx by %#llx flags %d", s->va, (unsigned long long)len,
		(unsigned long long)more, flags);
	p = mremap(s->va, len, len + more, flags);
	if (p == MAP_FAILED)
		return;
	bf_fail(F_BEHAVIOUR, "mremap grew a BAR mapping from %#llx to %#llx bytes (flags %d)",
		(unsigned long long)len, (unsigned long long)(len + more), flags);
	munmap(p + len, more);
	s->va = p;
}

/* Move pages [a, b) of @s to another phase; a moved head or tail gets slot @t. */
static int bf_mremap_move(struct bf_rng *r, struct bf_slot *s, struct bf_slot *t, uint64_t a,
			  uint64_t b)
{
	uint64_t len = (b - a) * SZ_4K, skew = bf_pick_skew(r, (uint64_t)s->bar[a] * SZ_4K);
	char *res, *to = bf_reserve(len, skew, &res), *p;

	if (!to)
		return -1;
	bf_note("move %p pages [%llu, %llu) of %p +%llu to %p", s->va + a * SZ_4K,
		(unsigned long long)a, (unsigned long long)b, s->va, (unsigned long long)s->npages, to);
	p = mremap(s->va + a * SZ_4K, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	bf_unreserve(res, len, to, len, p != MAP_FAILED);
	if (p == MAP_FAILED)
		return -1;
	if (a == 0 && b == s->npages) {
		s->va = p;
		return 0;
	}
	pthread_rwlock_wrlock(&t->lock);
	bf_slot_copy(t, p, s, a, b);
	pthread_rwlock_unlock(&t->lock);
	if (a == 0)
		bf_slot_trim(s, b, s->npages);
	else
		s->npages = a;
	return 0;
}

/*
 * mremap: grow (must fail), shrink, or move the whole, the head or the tail.
 * A range that spans several vmas (split by mprotect, madvise or mbind) must
 * fail with EFAULT.
 */
static void op_mremap(struct bf_worker *w)
{
	struct bf_rng *r = &w->rng;
	struct bf_slot *s = bf_own_slot(w, true), *t;
	int mode = (int)bf_below(r, 4), rc = 0;
	uint64_t a, b, n;
	char *p;

	if (!s)
		return;
	bf_op_begin(OP_mremap);
	pthread_rwlock_wrlock(&s->lock);
	n = s->npages;
	if (mode == 0) {
		bf_mremap_grow(r, s);
		rc = -1;
	} else if (mode == 1 && n >= 2) {
		bf_pick_range(r, s, 1, &a, &b);
		bf_note("shrink %p +%llu pages to %llu", s->va, (unsigned long long)n,
			(unsigned long long)b);
		p = mremap(s->va, n * SZ_4K, b * SZ_4K, 0);
		rc = p == MAP_FAILED ? -1 : 0;
		if (!rc && p != s->va)
			bf_fail(F_BEHAVIOUR, "mremap shrank a mapping in place to %p, not %p", p, s->va);
		if (!rc)
			s->npages = b;
	} else {
		t = bf_own_slot(w, false);
		bf_pick_range(r, s, t ? 1 + (int)bf_below(r, 2) : 0, &a, &b);
		rc = bf_mremap_move(r, s, t, a, b);
	}
	if (mode && rc && errno != EFAULT)
		bf_fail(F_BEHAVIOUR, "mremap (%s) of a %llu-page mapping: %s",
			mode == 1 ? "shrink" : "move", (unsigned long long)n, strerror(errno));
	pthread_rwlock_unlock(&s->lock);
	bf_op_end(OP_mremap, rc);
}

/* mmap other BAR pages with MAP_FIXED over a part of a slot. */
static void op_mmap_over(struct bf_worker *w)
{
	struct bf_rng *r = &w->rng;
	struct bf_slot *s = bf_own_slot(w, true);
	uint64_t a, b, i, off;
	bool ro = bf_chance(r, 10);
	char *p;

	if (!s)
		return;
	bf_op_begin(OP_mmap_over);
	pthread_rwlock_wrlock(&s->lock);
	bf_pick_range(r, s, (int)bf_below(r, 4), &a, &b);
	off = bf_pick_off(r, (b - a) * SZ_4K);
	bf_note("%p pages [%llu, %llu) of %p +%llu: BAR %#llx %s", s->va + a * SZ_4K,
		(unsigned long long)a, (unsigned long long)b, s->va, (unsigned long long)s->npages,
		(unsigned long long)off, ro ? "r" : "rw");
	p = mmap(s->va + a * SZ_4K, (b - a) * SZ_4K, ro ? PROT_READ : PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, G.dev, G.region + off);
	if (p == MAP_FAILED) {
		/* The old pages may be gone or not: forget the whole slot. */
		bf_fail(F_BEHAVIOUR, "mmap MAP_FIXED of %llu pages over a mapping: %s",
			(unsigned long long)(b - a), strerror(errno));
		munmap(s->va, a * SZ_4K);
		munmap(s->va + b * SZ_4K, (s->npages - b) * SZ_4K);
		bf_slot_free(s);
	}
	for (i = a; p != MAP_FAILED && i < b; i++) {
		s->pg[i] = ro ? PG_R : PG_R | PG_W;
		s->bar[i] = off / SZ_4K + (i - a);
	}
	pthread_rwlock_unlock(&s->lock);
	bf_op_end(OP_mmap_over, p == MAP_FAILED);
}

/* mremap arguments that must be refused on a BAR mapping. */
static void op_bad_mremap(struct bf_worker *w)
{
	struct bf_rng *r = &w->rng;
	struct bf_slot *s = bf_own_slot(w, true);
	uint64_t len, more = (1 + bf_below(r, 16)) * SZ_4K;
	bool dup = bf_chance(r, 50);
	char *p;

	if (!s)
		return;
	bf_op_begin(OP_bad_input);
	pthread_rwlock_wrlock(&s->lock);
	len = s->npages * SZ_4K;
	if (dup)	/* old_len 0 duplicates a shared mapping: not a VM_DONTEXPAND one */
		p = mremap(s->va, 0, more, MREMAP_MAYMOVE);
	else
		p = mremap(s->va, len, len, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
	if (p != MAP_FAILED) {
		bf_fail(F_BEHAVIOUR, "mremap %s of a BAR mapping succeeded",
			dup ? "with old_len 0" : "with MREMAP_DONTUNMAP");
		munmap(p, dup ? more : len);
	}
	pthread_rwlock_unlock(&s->lock);
	bf_op_end(OP_bad_input, p == MAP_FAILED);
}

#endif
