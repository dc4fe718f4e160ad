/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bar_fuzz: BAR mappings reached from elsewhere: fork (the child checks its
 * copy, pages under MADV_DONTFORK absent, and changes it before it exits),
 * /proc/self/mem, ptrace PEEKDATA/POKEDATA from a forked tracer, and
 * process_vm_readv/writev in both directions. What a kernel path reads must
 * be the BAR page's header, and nothing may succeed while memory was
 * disabled for the whole call. Included by bar_fuzz.c only.
 */
#ifndef BAR_FUZZ_REMOTE_H
#define BAR_FUZZ_REMOTE_H

#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include "bar_fuzz_geom.h"

/*
 * Judge a call that copied the header of BAR page @page, mapped at @va, into
 * @w through a kernel path: @ok when it copied it all, @st from bf_win_close().
 */
static void bf_judge_copy(const char *how, void *va, uint64_t page, const uint64_t *w, bool ok, int st)
{
	char why[80];

	if (!ok)
		return;
	if (w && (w[0] != bf_h0(page) || w[1] != page))
		bf_fail(F_DATA, "%s of %p (BAR page %llu) gives %#llx %#llx instead of %#llx %#llx: %s",
			how, va, (unsigned long long)page, (unsigned long long)w[0],
			(unsigned long long)w[1], (unsigned long long)bf_h0(page),
			(unsigned long long)page, bf_whose(w[0], w[1], why, sizeof(why)));
	if (st == 0)
		bf_fail(F_BEHAVIOUR, "%s of %p (BAR page %llu) succeeded while memory was disabled",
			how, va, (unsigned long long)page);
}

/* The forked child: check, write, change and check its copy of @s, then exit. */
static void bf_child(struct bf_rng *r, struct bf_slot *s)
{
	struct bf_window win;
	struct bf_acc acc;
	uint64_t i, a, b, k;
	int st;

	bf_in_child = true;
	for (k = 0; k < 48; k++) {
		unsigned int word = 2 + (unsigned int)bf_below(r, 510);
		bool write = bf_chance(r, 40);

		if (k == 24 && bf_chance(r, 50)) {
			/* Change the copy: the parent's must not notice. */
			bf_pick_range(r, s, (int)bf_below(r, 4), &a, &b);
			for (i = a; i < b && !(s->pg[i] & PG_NOFORK); i++)
				;
			/* mprotect() would stop at a hole: munmap() ranges with one. */
			if ((bf_chance(r, 50) || i < b) && !munmap(s->va + a * SZ_4K, (b - a) * SZ_4K))
				memset(s->pg + a, PG_NOFORK, b - a);
			else if (!mprotect(s->va + a * SZ_4K, (b - a) * SZ_4K, PROT_READ))
				for (i = a; i < b; i++)
					s->pg[i] = (s->pg[i] & PG_NOFORK) | PG_R;
		}
		i = bf_below(r, s->npages);
		bf_win_open(&win);
		bf_access((volatile uint64_t *)(s->va + i * SZ_4K), s->bar[i], write, word, &acc);
		st = bf_win_close(&win);
		bf_judge(s, i, write, word, st, &acc);
	}
	_exit(0);
}

static void op_fork(struct bf_worker *w)
{
	struct bf_slot *s = bf_any_slot(w);
	int status = 0;
	pid_t pid, got;

	pthread_rwlock_rdlock(&s->lock);
	if (!s->va) {
		pthread_rwlock_unlock(&s->lock);
		return;
	}
	bf_op_begin(OP_fork);
	bf_note("child uses %p +%llu pages", s->va, (unsigned long long)s->npages);
	pid = fork();
	if (!pid)
		bf_child(&w->rng, s);
	pthread_rwlock_unlock(&s->lock);
	bf_rnd(&w->rng);
	got = pid;
	while (pid > 0 && (got = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	if (pid < 0 || got != pid)
		bf_fail(F_BEHAVIOUR, "fork or waitpid: %s", strerror(errno));
	else if (!WIFEXITED(status) || WEXITSTATUS(status))
		bf_fail(F_SIGNAL, "the forked child ended with status %#x (signal %d)", status,
			WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	bf_op_end(OP_fork, pid < 0);
}

/* A random page of any slot, read-locked; NULL if the slot is free. */
static struct bf_slot *bf_lock_page(struct bf_worker *w, uint64_t *i)
{
	struct bf_slot *s = bf_any_slot(w);
	uint64_t pick = bf_rnd(&w->rng);

	pthread_rwlock_rdlock(&s->lock);
	if (!s->va) {
		pthread_rwlock_unlock(&s->lock);
		return NULL;
	}
	*i = pick % s->npages;
	return s;
}

/*
 * Read or rewrite a header through /proc/self/mem. vfio-pci BAR mappings have
 * no access operation: EIO is the expected answer, and data that does come
 * back must be right.
 */
static void op_procmem(struct bf_worker *w)
{
	static __thread int fd = -1;
	bool write = bf_chance(&w->rng, 30);
	uint64_t i, hdr[2];
	struct bf_window win;
	struct bf_slot *s;
	ssize_t n;
	char *va;

	if (fd < 0)
		fd = open("/proc/self/mem", O_RDWR);
	s = bf_lock_page(w, &i);
	if (!s)
		return;
	bf_op_begin(OP_procmem);
	va = s->va + i * SZ_4K;
	bf_note("%s %p", write ? "write" : "read", va);
	hdr[0] = write ? bf_h0(s->bar[i]) : 0xdeadbeefdeadbeefULL;
	hdr[1] = write ? s->bar[i] : 0xdeadbeefdeadbeefULL;
	bf_win_open(&win);
	n = write ? pwrite(fd, hdr, sizeof(hdr), (uintptr_t)va) :
		    pread(fd, hdr, sizeof(hdr), (uintptr_t)va);
	bf_judge_copy(write ? "a /proc/self/mem write" : "a /proc/self/mem read", va, s->bar[i],
		      write ? NULL : hdr, n == sizeof(hdr), bf_win_close(&win));
	if (write && n == sizeof(hdr) && !(s->pg[i] & PG_W))
		bf_fail(F_BEHAVIOUR, "a /proc/self/mem write to read-only %p succeeded", va);
	pthread_rwlock_unlock(&s->lock);
	bf_op_end(OP_procmem, n != sizeof(hdr));
}

/*
 * The tracer: seize the worker thread @tid (blocked in waitpid for us), stop
 * it, PEEKDATA (and POKEDATA) the header at @va, detach.
 */
static int bf_tracer(pid_t tid, uint64_t *va, uint64_t page, bool write, bool ro)
{
	struct bf_window win;
	uint64_t w[2];
	long rc;
	int st;

	if (ptrace(PTRACE_SEIZE, tid, 0, 0))
		return 3;
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0))
		return 4;
	while (waitpid(tid, &st, __WALL) != tid)
		if (errno != EINTR)
			return 4;
	bf_win_open(&win);
	errno = 0;
	w[0] = (uint64_t)ptrace(PTRACE_PEEKDATA, tid, va, 0);
	rc = errno ? -1 : 0;
	w[1] = (uint64_t)ptrace(PTRACE_PEEKDATA, tid, va + 1, 0);
	rc = rc || errno ? -1 : 0;
	if (write && !rc && w[0] == bf_h0(page)) {
		rc = ptrace(PTRACE_POKEDATA, tid, va, (void *)(uintptr_t)bf_h0(page));
		if (!rc && ro)
			bf_fail(F_BEHAVIOUR, "PTRACE_POKEDATA to read-only %p succeeded", va);
	}
	st = bf_win_close(&win);
	bf_judge_copy(write ? "PTRACE_PEEKDATA/POKEDATA" : "PTRACE_PEEKDATA", va, page, w, !rc, st);
	ptrace(PTRACE_DETACH, tid, 0, 0);
	return 0;
}

static void op_ptrace(struct bf_worker *w)
{
	bool write = bf_chance(&w->rng, 30);
	pid_t tid = (pid_t)syscall(SYS_gettid), pid;
	struct bf_slot *s;
	int status = 0;
	uint64_t i;

	s = bf_lock_page(w, &i);
	if (!s)
		return;
	bf_op_begin(OP_ptrace);
	bf_note("%s %p", write ? "POKEDATA" : "PEEKDATA", s->va + i * SZ_4K);
	pid = fork();
	if (!pid)
		_exit(bf_tracer(tid, (uint64_t *)(s->va + i * SZ_4K), s->bar[i], write,
				!(s->pg[i] & PG_W)));
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	pthread_rwlock_unlock(&s->lock);
	if (pid > 0 && (!WIFEXITED(status) || WEXITSTATUS(status) == 4))
		bf_fail(F_BEHAVIOUR, "the tracer ended with status %#x", status);
	bf_op_end(OP_ptrace, pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status));
}

/*
 * process_vm_readv/writev on this process: the mapping as the remote side
 * (GUP, which refuses VM_PFNMAP: EFAULT), or as the local side (copied with
 * the user access functions, which fault it in).
 */
static void op_pvm(struct bf_worker *w)
{
	struct bf_rng *r = &w->rng;
	int k = (int)bf_below(r, 4);
	uint64_t i, hdr[2];
	struct iovec mine, bar;
	struct bf_window win;
	struct bf_slot *s;
	ssize_t n;

	s = bf_lock_page(w, &i);
	if (!s)
		return;
	bf_op_begin(OP_pvm);
	bf_note("kind %d %p", k, s->va + i * SZ_4K);
	/* The header for the calls that write the mapping; garbage to be overwritten otherwise. */
	hdr[0] = k == 1 || k == 2 ? bf_h0(s->bar[i]) : 0xdeadbeefdeadbeefULL;
	hdr[1] = k == 1 || k == 2 ? s->bar[i] : 0xdeadbeefdeadbeefULL;
	mine.iov_base = hdr;
	mine.iov_len = sizeof(hdr);
	bar.iov_base = s->va + i * SZ_4K;
	bar.iov_len = sizeof(hdr);
	bf_win_open(&win);
	if (k == 0)		/* remote BAR -> local buffer */
		n = process_vm_readv(getpid(), &mine, 1, &bar, 1, 0);
	else if (k == 1)	/* local buffer -> remote BAR */
		n = process_vm_writev(getpid(), &mine, 1, &bar, 1, 0);
	else if (k == 2)	/* remote buffer -> local BAR */
		n = process_vm_readv(getpid(), &bar, 1, &mine, 1, 0);
	else			/* local BAR -> remote buffer */
		n = process_vm_writev(getpid(), &bar, 1, &mine, 1, 0);
	bf_judge_copy(k == 0 ? "process_vm_readv from the mapping" :
		      k == 1 ? "process_vm_writev to the mapping" :
		      k == 2 ? "process_vm_readv into the mapping" : "process_vm_writev from the mapping",
		      bar.iov_base, s->bar[i], k == 0 || k == 3 ? hdr : NULL, n == sizeof(hdr),
		      bf_win_close(&win));
	if ((k == 1 || k == 2) && n == sizeof(hdr) && !(s->pg[i] & PG_W))
		bf_fail(F_BEHAVIOUR, "process_vm_%s wrote to read-only %p", k == 1 ? "writev" : "readv",
			bar.iov_base);
	if (k == 3 && n == sizeof(hdr) && !(s->pg[i] & PG_R))
		bf_fail(F_BEHAVIOUR, "process_vm_writev read PROT_NONE %p", bar.iov_base);
	pthread_rwlock_unlock(&s->lock);
	bf_op_end(OP_pvm, n != sizeof(hdr));
}

#endif
