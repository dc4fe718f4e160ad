/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bar_fuzz: checked reads and writes through the mappings, and mmap
 * arguments that must be refused. Included by bar_fuzz.c only.
 */
#ifndef BAR_FUZZ_ACCESS_H
#define BAR_FUZZ_ACCESS_H

#include "bar_fuzz_map.h"

#define BF_RUN	16	/* pages per access op at most */

/* A slot to access: mostly one of the worker's own, sometimes any worker's. */
static struct bf_slot *bf_any_slot(struct bf_worker *w)
{
	if (bf_chance(&w->rng, 70))
		return &bf_slots[w->idx * BF_SLOTS + bf_below(&w->rng, BF_SLOTS)];
	return &bf_slots[bf_below(&w->rng, (uint64_t)G.threads * BF_SLOTS)];
}

/*
 * Judge the access @a to page @i of @s, made in device state @st (see
 * bf_win_close()). The data must be right whenever it was read; SIGSEGV only
 * where the protection forbids the access; SIGBUS never while memory was
 * enabled all along, and always while it was disabled all along.
 */
static void bf_judge(struct bf_slot *s, uint64_t i, bool write, unsigned int word, int st,
		     const struct bf_acc *a)
{
	uint8_t pg = s->pg[i];
	uint64_t page = s->bar[i];
	void *va = s->va + i * SZ_4K;
	bool segv_ok = !(pg & PG_R) || (write && !(pg & PG_W));
	char why[80];

	if (bf_in_child && (pg & PG_NOFORK)) {
		if (a->sig != SIGSEGV)
			bf_fail(F_SIGNAL, "%p (MADV_DONTFORK or unmapped) is not absent in the child", va);
		return;
	}
	if (a->sig == SIGSEGV && !segv_ok)
		bf_fail(F_SIGNAL, "SIGSEGV on a %s of %p (BAR page %llu, prot %s)",
			write ? "write" : "read", va, (unsigned long long)page,
			pg & PG_W ? "rw" : "r");
	if (!(pg & PG_R) && a->sig != SIGSEGV)
		bf_fail(F_SIGNAL, "PROT_NONE page %p (BAR page %llu): %s instead of SIGSEGV", va,
			(unsigned long long)page, a->sig ? "SIGBUS" : "the access succeeded");
	if (a->sig == SIGBUS) {
		if (st == 1)
			bf_fail(F_SIGNAL, "SIGBUS on a %s of %p (BAR page %llu) while memory was enabled",
				write ? "write" : "read", va, (unsigned long long)page);
		else
			S->sigbus++;
	}
	if (a->read && (a->w0 != bf_h0(page) || a->w1 != page))
		bf_fail(F_DATA, "%p (BAR page %llu) reads %#llx %#llx instead of %#llx %#llx: %s", va,
			(unsigned long long)page, (unsigned long long)a->w0,
			(unsigned long long)a->w1, (unsigned long long)bf_h0(page),
			(unsigned long long)page, bf_whose(a->w0, a->w1, why, sizeof(why)));
	if (a->read && st == 0)
		bf_fail(F_SIGNAL, "a read of %p (BAR page %llu) succeeded while memory was disabled",
			va, (unsigned long long)page);
	if (a->wrote && a->wv != bf_word(page, word))
		bf_fail(F_DATA, "%p (BAR page %llu) word %u reads back %#llx after writing %#llx", va,
			(unsigned long long)page, word, (unsigned long long)a->wv,
			(unsigned long long)bf_word(page, word));
	if (a->wrote && !(pg & PG_W))
		bf_fail(F_SIGNAL, "a write to read-only %p (BAR page %llu) succeeded", va,
			(unsigned long long)page);
}

/*
 * Read (and write) a run of up to BF_RUN pages of a slot, one page apart,
 * 2 MiB apart or 1 GiB apart, inside one device-state window.
 */
static void op_access(struct bf_worker *w, bool write)
{
	struct bf_rng *r = &w->rng;
	struct bf_slot *s = bf_any_slot(w);
	uint64_t pick = bf_rnd(r), cnt = 1 + bf_below(r, BF_RUN), k = bf_below(r, 10), first, n;
	uint64_t stride = k < 7 ? 1 : k < 9 ? SZ_2M / SZ_4K : SZ_1G / SZ_4K;
	unsigned int word = 2 + (unsigned int)bf_below(r, 510);
	int op = write ? OP_write : OP_read, st;
	struct bf_acc acc[BF_RUN];
	struct bf_window win;

	pthread_rwlock_rdlock(&s->lock);
	if (!s->va) {
		pthread_rwlock_unlock(&s->lock);
		return;
	}
	bf_op_begin(op);
	first = pick % s->npages;
	n = (s->npages - first + stride - 1) / stride;
	n = n < cnt ? n : cnt;
	bf_note("%p pages %llu + %llu x %llu of %p +%llu", s->va + first * SZ_4K,
		(unsigned long long)first, (unsigned long long)n, (unsigned long long)stride, s->va,
		(unsigned long long)s->npages);
	bf_win_open(&win);
	for (k = 0; k < n; k++) {
		uint64_t i = first + k * stride;

		bf_access((volatile uint64_t *)(s->va + i * SZ_4K), s->bar[i], write, word, &acc[k]);
		if (acc[k].sig == SIGBUS) {
			n = k + 1;
			break;
		}
	}
	st = bf_win_close(&win);
	for (k = 0; k < n; k++)
		bf_judge(s, first + k * stride, write, word, st, &acc[k]);
	pthread_rwlock_unlock(&s->lock);
	bf_op_end(op, false);
}

/* mmap arguments vfio-pci (or mmap itself) must refuse with an errno. */
static void op_bad_input(struct bf_worker *w)
{
	struct bf_rng *r = &w->rng;
	uint64_t len = SZ_4K, off = 0;
	int flags = MAP_SHARED;
	const char *what;
	void *p;

	switch (bf_below(r, 6)) {
	case 0:
		off = bf_pick_off(r, 2 * SZ_4K) + 1 + bf_below(r, SZ_4K - 1);
		what = "an unaligned offset";
		break;
	case 1:
		len = (2 + bf_below(r, 1024)) * SZ_4K;
		off = G.size - len + (1 + bf_below(r, len / SZ_4K - 1)) * SZ_4K;
		what = "a range that ends past the BAR";
		break;
	case 2:
		flags = MAP_PRIVATE;
		off = bf_pick_off(r, len);
		what = "MAP_PRIVATE";
		break;
	case 3:
		off = G.size + bf_below(r, 16) * SZ_4K;
		what = "an offset past the BAR";
		break;
	case 4:
		len = 0;
		what = "a zero length";
		break;
	default:
		len = G.size + (1 + bf_below(r, 512)) * SZ_4K;
		what = "a length larger than the BAR";
		break;
	}
	bf_op_begin(OP_bad_input);
	bf_note("mmap with %s", what);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, G.dev, G.region + off);
	if (p != MAP_FAILED) {
		bf_fail(F_BEHAVIOUR, "mmap with %s (BAR offset %#llx, length %#llx) succeeded", what,
			(unsigned long long)off, (unsigned long long)len);
		munmap(p, len);
	}
	bf_op_end(OP_bad_input, p == MAP_FAILED);
}

#endif
