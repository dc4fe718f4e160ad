/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bar_fuzz: mm system calls pointed at BAR mappings: madvise with every
 * advice (MADV_HWPOISON and MADV_SOFT_OFFLINE must fail: no page is behind
 * a BAR to poison or offline), mlock, munlock, mlock2,
 * mlockall, mbind with every mode and flag, get_mempolicy, move_pages,
 * migrate_pages and msync with every flag. Valid calls may fail (most do
 * on a VM_PFNMAP vma, and the NUMA ones on a kernel without NUMA) but must
 * leave the mapping and its data intact; invalid ones must fail with EINVAL.
 * Included by bar_fuzz.c only.
 */
#ifndef BAR_FUZZ_MM_H
#define BAR_FUZZ_MM_H

#include <linux/capability.h>
#include "bar_fuzz_geom.h"

/* Advice values of 6.1's uapi, defined here for older libc headers. */
static const int bf_advice[] = {
	0 /* NORMAL */, 1 /* RANDOM */, 2 /* SEQUENTIAL */, 3 /* WILLNEED */, 4 /* DONTNEED */,
	8 /* FREE */, 9 /* REMOVE */, 10 /* DONTFORK */, 11 /* DOFORK */, 12 /* MERGEABLE */,
	13 /* UNMERGEABLE */, 14 /* HUGEPAGE */, 15 /* NOHUGEPAGE */, 16 /* DONTDUMP */,
	17 /* DODUMP */, 18 /* WIPEONFORK */, 19 /* KEEPONFORK */, 20 /* COLD */, 21 /* PAGEOUT */,
	22 /* POPULATE_READ */, 23 /* POPULATE_WRITE */, 24 /* DONTNEED_LOCKED */, 25 /* COLLAPSE */,
};
/*
 * MADV_HWPOISON and MADV_SOFT_OFFLINE (root only) look up the page behind
 * the address with GUP. A BAR mapping has none, so they must fail with
 * EFAULT (see bf_poison_errno() for EINVAL and EPERM): a
 * success would have poisoned or offlined whatever page of RAM a leaf's pfn
 * was taken for. They are tried now and then after another advice, drawn
 * from the worker's second random stream, so that the sequence of the
 * other calls, and the named cases made of it, stay what they were.
 */
static const int bf_poison_advice[] = { 100 /* HWPOISON */, 101 /* SOFT_OFFLINE */ };

/*
 * What they must fail with here. 6.1's do_madvise() rejects them as unknown
 * advice without CONFIG_MEMORY_FAILURE (whose sysctl tells it is built);
 * madvise_inject_error() wants CAP_SYS_ADMIN, then GUP fails on the BAR.
 */
/* capget(2), the syscall itself: the static guest programs have no libcap. */
static bool bf_cap_sys_admin(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { 0 };

	if (syscall(SYS_capget, &hdr, data))
		return false;
	return data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective & CAP_TO_MASK(CAP_SYS_ADMIN);
}

static int bf_poison_errno(void)
{
	static int e;

	if (!e)
		e = access("/proc/sys/vm/memory_failure_early_kill", F_OK) ? EINVAL :
		    !bf_cap_sys_admin() ? EPERM : EFAULT;
	return e;
}
/* Not advice values in 6.1. */
static const int bf_bad_advice[] = { 5, 6, 7, 26, 99, 102, 1000, -1 };

#define BF_MADV_DONTFORK	10
#define BF_MADV_DOFORK		11

/*
 * A slot to run a call on and the range [*a, *b): one of the worker's own
 * under the write lock when @own, else any under the read lock. NULL: none.
 */
static struct bf_slot *bf_lock_range(struct bf_worker *w, bool own, uint64_t *a, uint64_t *b)
{
	struct bf_slot *s = own ? bf_own_slot(w, true) : bf_any_slot(w);

	if (!s)
		return NULL;
	if (own)
		pthread_rwlock_wrlock(&s->lock);
	else
		pthread_rwlock_rdlock(&s->lock);
	if (!s->va) {
		pthread_rwlock_unlock(&s->lock);
		return NULL;
	}
	bf_pick_range(&w->rng, s, (int)bf_below(&w->rng, 4), a, b);
	return s;
}

static void op_madvise(struct bf_worker *w)
{
	struct bf_rng *r = &w->rng;
	bool bad = bf_chance(r, 5);
	int adv = bad ? bf_bad_advice[bf_below(r, BF_ARRAY_SIZE(bf_bad_advice))] :
			bf_advice[bf_below(r, BF_ARRAY_SIZE(bf_advice))];
	bool fork_adv = adv == BF_MADV_DONTFORK || adv == BF_MADV_DOFORK;
	uint64_t a, b, i;
	struct bf_slot *s = bf_lock_range(w, fork_adv, &a, &b);
	int rc;

	if (!s)
		return;
	bf_op_begin(OP_madvise);
	bf_note("%p +%#llx advice %d", s->va + a * SZ_4K, (unsigned long long)(b - a) * SZ_4K, adv);
	rc = madvise(s->va + a * SZ_4K, (b - a) * SZ_4K, adv);
	if (bad && (!rc || errno != EINVAL))
		bf_fail(F_BEHAVIOUR, "madvise with advice %d: %s instead of EINVAL", adv,
			rc ? strerror(errno) : "success");
	if (!bad && bf_chance(&w->aux, 10)) {
		int padv = bf_poison_advice[bf_below(&w->aux, BF_ARRAY_SIZE(bf_poison_advice))];
		int prc, pe;

		bf_note("%p +%#llx advice %d", s->va + a * SZ_4K,
			(unsigned long long)(b - a) * SZ_4K, padv);
		prc = madvise(s->va + a * SZ_4K, (b - a) * SZ_4K, padv);
		pe = errno;
		if (!prc || pe != bf_poison_errno())
			bf_fail(F_BEHAVIOUR, "madvise with advice %d on a BAR mapping: %s instead of %s",
				padv, prc ? strerror(pe) : "success", strerror(bf_poison_errno()));
		else if (pe == EFAULT)
			S->poison_refused++;
	}
	for (i = a; fork_adv && !rc && i < b; i++)
		s->pg[i] = adv == BF_MADV_DONTFORK ? s->pg[i] | PG_NOFORK : s->pg[i] & ~PG_NOFORK;
	pthread_rwlock_unlock(&s->lock);
	bf_op_end(OP_madvise, rc);
}

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT	1
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT	4
#endif

static void op_mlock(struct bf_worker *w)
{
	struct bf_rng *r = &w->rng;
	uint64_t a, b, len;
	struct bf_slot *s = bf_lock_range(w, false, &a, &b);
	int k = (int)bf_below(r, 10), rc;
	char *p;

	if (!s)
		return;
	bf_op_begin(OP_mlock);
	p = s->va + a * SZ_4K;
	len = (b - a) * SZ_4K;
	bf_note("%p +%#llx kind %d", p, (unsigned long long)len, k);
	if (k < 3)
		rc = mlock(p, len);
	else if (k < 6)
		rc = munlock(p, len);
	else if (k < 8)
		rc = (int)syscall(SYS_mlock2, p, len, bf_chance(r, 50) ? MLOCK_ONFAULT : 0);
	else if (k < 9)
		rc = (int)syscall(SYS_mlock2, p, len, 0x80);	/* not a flag: EINVAL */
	else
		rc = mlockall(MCL_CURRENT | (bf_chance(r, 50) ? MCL_FUTURE | MCL_ONFAULT : 0)) ||
		     munlockall();
	if (k == 8 && (!rc || errno != EINVAL))
		bf_fail(F_BEHAVIOUR, "mlock2 with an unknown flag: %s instead of EINVAL",
			rc ? strerror(errno) : "success");
	pthread_rwlock_unlock(&s->lock);
	bf_op_end(OP_mlock, rc);
}

#define BF_MPOL_F_STATIC_NODES		(1 << 15)
#define BF_MPOL_F_RELATIVE_NODES	(1 << 14)
#define BF_MPOL_MF_STRICT		1
#define BF_MPOL_MF_MOVE			2
#define BF_MPOL_MF_MOVE_ALL		4
#define BF_MPOL_F_NODE			1
#define BF_MPOL_F_ADDR			2

/*
 * mbind with a random mode (MPOL_DEFAULT to MPOL_PREFERRED_MANY, a mode flag
 * now and then) and random MPOL_MF_* flags; or get_mempolicy of an address,
 * move_pages of a few pages, migrate_pages of the process. ENOSYS without NUMA.
 */
static void op_numa(struct bf_worker *w)
{
	struct bf_rng *r = &w->rng;
	unsigned long nodes = 1, old = 1, mode;
	uint64_t a, b;
	struct bf_slot *s = bf_lock_range(w, false, &a, &b);
	int k = (int)bf_below(r, 10), status[8], tgt[8], i, pol;
	unsigned int flags;
	void *pages[8];
	long rc;

	if (!s)
		return;
	bf_op_begin(OP_numa);
	if (k < 7) {
		mode = bf_below(r, 6);
		if (bf_chance(r, 20))
			mode |= bf_chance(r, 50) ? BF_MPOL_F_STATIC_NODES : BF_MPOL_F_RELATIVE_NODES;
		flags = (unsigned int)bf_below(r, 8);	/* STRICT, MOVE, MOVE_ALL */
		bf_note("mbind %p +%#llx mode %#lx flags %#x", s->va + a * SZ_4K,
			(unsigned long long)(b - a) * SZ_4K, mode, flags);
		rc = syscall(SYS_mbind, s->va + a * SZ_4K, (b - a) * SZ_4K, mode,
			     mode == 0 && bf_chance(r, 80) ? NULL : &nodes, 64, flags);
	} else if (k < 8) {
		rc = syscall(SYS_get_mempolicy, &pol, &nodes, 64, s->va + a * SZ_4K,
			     bf_chance(r, 50) ? BF_MPOL_F_ADDR : BF_MPOL_F_ADDR | BF_MPOL_F_NODE);
	} else if (k < 9) {
		for (i = 0; i < 8; i++) {
			pages[i] = s->va + (a + bf_below(r, b - a)) * SZ_4K;
			tgt[i] = 0;
		}
		rc = syscall(SYS_move_pages, 0, 8, pages, bf_chance(r, 50) ? tgt : NULL, status,
			     bf_chance(r, 50) ? BF_MPOL_MF_MOVE : BF_MPOL_MF_MOVE_ALL);
	} else {
		rc = syscall(SYS_migrate_pages, 0, 64, &old, &nodes);
	}
	pthread_rwlock_unlock(&s->lock);
	bf_op_end(OP_numa, rc < 0);
}

/* msync with every flag combination; the invalid ones must fail with EINVAL. */
static void op_msync(struct bf_worker *w)
{
	struct bf_rng *r = &w->rng;
	uint64_t a, b;
	struct bf_slot *s = bf_lock_range(w, false, &a, &b);
	int flags = (int)bf_below(r, 8) | (bf_chance(r, 5) ? 0x10 : 0), rc;
	bool bad = (flags & MS_ASYNC && flags & MS_SYNC) || (flags & ~(MS_ASYNC | MS_SYNC | MS_INVALIDATE));

	if (!s)
		return;
	bf_op_begin(OP_msync);
	bf_note("%p +%#llx flags %#x", s->va + a * SZ_4K, (unsigned long long)(b - a) * SZ_4K, flags);
	rc = msync(s->va + a * SZ_4K, (b - a) * SZ_4K, flags);
	if (bad && (!rc || errno != EINVAL))
		bf_fail(F_BEHAVIOUR, "msync with flags %#x: %s instead of EINVAL", flags,
			rc ? strerror(errno) : "success");
	pthread_rwlock_unlock(&s->lock);
	bf_op_end(OP_msync, rc);
}

#endif
