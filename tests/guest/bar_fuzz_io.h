/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bar_fuzz: file I/O into and out of BAR mappings (O_DIRECT with /dev/ram0,
 * which pins the buffer with GUP; buffered with a tmpfs file, which copies
 * with the user access functions), and the procfs files that walk them:
 * smaps, smaps_rollup, numa_maps, maps, pagemap (a present entry must carry
 * the BAR page's pfn) and clear_refs 1 to 5. Included by bar_fuzz.c only.
 */
#ifndef BAR_FUZZ_IO_H
#define BAR_FUZZ_IO_H

#include "bar_fuzz_remote.h"

static void op_fileio(struct bf_worker *w)
{
	static __thread int ram = -2, tmp = -1;
	static __thread uint64_t *buf;
	int k = (int)bf_below(&w->rng, 4), st;
	off_t blk = (off_t)tl_idx * 2 * SZ_4K;
	struct bf_window win;
	struct bf_slot *s;
	uint64_t i, page;
	bool ok = false;
	char path[64];
	char *va;
	ssize_t n;

	if (ram == -2) {
		ram = open("/dev/ram0", O_RDWR | O_DIRECT);
		snprintf(path, sizeof(path), "/tmp/bar_fuzz.%d.%d", getpid(), tl_idx);
		tmp = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		unlink(path);
		if (posix_memalign((void **)&buf, SZ_4K, SZ_4K))
			buf = NULL;
	}
	if (k < 2 && ram < 0)
		k += 2;		/* no /dev/ram0 (CONFIG_BLK_DEV_RAM): buffered I/O only */
	s = bf_lock_page(w, &i);
	if (!s)
		return;
	bf_op_begin(OP_fileio);
	va = s->va + i * SZ_4K;
	bf_note("kind %d %p", k, va);
	page = s->bar[i];
	memset(buf, 0, SZ_4K);
	if (k == 0 || k == 2) {
		/*
		 * Into the mapping: the file holds the page as the other ops
		 * leave it (header and every word's value), so that the copy
		 * cannot undo a concurrent op_access() write that is about to
		 * be read back.
		 */
		buf[0] = bf_h0(page);
		buf[1] = page;
		for (unsigned int wd = 2; wd < SZ_4K / 8; wd++)
			buf[wd] = bf_word(page, wd);
		if (pwrite(k ? tmp : ram, buf, SZ_4K, k ? 0 : blk) != SZ_4K)
			bf_fail(F_BEHAVIOUR, "writing %s: %s", k ? "a tmpfs file" : "/dev/ram0",
				strerror(errno));
		bf_win_open(&win);
		n = pread(k ? tmp : ram, va, SZ_4K, k ? 0 : blk);
		st = bf_win_close(&win);
		ok = n == SZ_4K;
		bf_judge_copy(k ? "a buffered read into the mapping" : "an O_DIRECT read into the mapping",
			      va, page, NULL, ok, st);
		if (ok && !(s->pg[i] & PG_W))
			bf_fail(F_BEHAVIOUR, "%s read into read-only %p", k ? "a buffered" : "an O_DIRECT", va);
	} else {
		/* Out of the mapping, then back from the file. */
		memset(buf, 0xa5, SZ_4K);
		pwrite(k == 3 ? tmp : ram, buf, SZ_4K, k == 3 ? 0 : blk);
		bf_win_open(&win);
		n = pwrite(k == 3 ? tmp : ram, va, SZ_4K, k == 3 ? 0 : blk);
		st = bf_win_close(&win);
		ok = n == SZ_4K;
		if (ok && pread(k == 3 ? tmp : ram, buf, SZ_4K, k == 3 ? 0 : blk) != SZ_4K)
			bf_fail(F_BEHAVIOUR, "reading back: %s", strerror(errno));
		bf_judge_copy(k == 3 ? "a buffered write from the mapping" :
			      "an O_DIRECT write from the mapping", va, page, buf, ok, st);
		if (ok && !(s->pg[i] & PG_R))
			bf_fail(F_BEHAVIOUR, "a write from PROT_NONE %p succeeded", va);
	}
	pthread_rwlock_unlock(&s->lock);
	bf_op_end(OP_fileio, !ok);
}

/* Read a whole file and throw it away; -1 if it cannot be opened. */
static int bf_slurp(const char *path)
{
	char buf[4096];
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	return 0;
}

/* pagemap entries of up to 512 pages of a slot: a present one has the BAR page's pfn. */
static int bf_pagemap(struct bf_worker *w)
{
	static __thread int fd = -1;
	uint64_t i, j, n, e[512], pfn;
	struct bf_slot *s;
	ssize_t got;

	if (fd < 0)
		fd = open("/proc/self/pagemap", O_RDONLY);
	s = bf_lock_page(w, &i);
	if (!s)
		return 0;
	n = s->npages - i < 512 ? s->npages - i : 512;
	got = pread(fd, e, n * 8, (off_t)((uintptr_t)(s->va + i * SZ_4K) / SZ_4K * 8));
	for (j = 0; got > 0 && j < (uint64_t)got / 8; j++) {
		pfn = e[j] & ((1ULL << 55) - 1);
		if (!(e[j] >> 63) || !pfn || !G.phys)
			continue;
		if (pfn != G.phys / SZ_4K + s->bar[i + j])
			bf_fail(F_DATA, "pagemap of %p (BAR page %u) shows pfn %#llx, not %#llx",
				s->va + (i + j) * SZ_4K, s->bar[i + j], (unsigned long long)pfn,
				(unsigned long long)(G.phys / SZ_4K + s->bar[i + j]));
	}
	pthread_rwlock_unlock(&s->lock);
	return got < 0 ? -1 : 0;
}

static void op_procfs(struct bf_worker *w)
{
	static const char *const files[] = {
		"/proc/self/smaps", "/proc/self/smaps_rollup", "/proc/self/numa_maps",
		"/proc/self/maps", "/proc/self/status",
	};
	struct bf_rng *r = &w->rng;
	int k = (int)bf_below(r, 3), rc, fd, v;
	char c;

	bf_op_begin(OP_procfs);
	if (k == 0) {
		rc = bf_slurp(files[bf_below(r, BF_ARRAY_SIZE(files))]);
	} else if (k == 1) {
		rc = bf_pagemap(w);
	} else {
		v = bf_chance(r, 10) ? (bf_chance(r, 50) ? 0 : 6) : 1 + (int)bf_below(r, 5);
		c = (char)('0' + v);
		fd = open("/proc/self/clear_refs", O_WRONLY);
		rc = fd < 0 ? -1 : write(fd, &c, 1) == 1 ? 0 : -1;
		if (fd >= 0 && (v == 0 || v == 6) && (!rc || errno != EINVAL))
			bf_fail(F_BEHAVIOUR, "clear_refs %d: %s instead of EINVAL", v,
				rc ? strerror(errno) : "success");
		if (fd >= 0)
			close(fd);
	}
	bf_op_end(OP_procfs, rc);
}

#endif
