/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bar_fuzz: the supervisor. It runs the fuzzing in a child process, watches
 * its threads for an op that does not end and the kernel log for splats, and
 * reports. Included by bar_fuzz.c only.
 */
#ifndef BAR_FUZZ_SUPER_H
#define BAR_FUZZ_SUPER_H

#include <sys/wait.h>
#include "bar_fuzz_core.h"

static int bf_stall_s = 180;

struct bf_kmsg {
	int fd;
	int splats;
	int printed;		/* lines printed from the first splat on */
};

/* Read the kernel log records that arrived since the last call; count splats. */
static void bf_kmsg_scan(struct bf_kmsg *k)
{
	char rec[8192], *msg, *nl;
	ssize_t n;

	if (k->fd < 0)
		return;
	for (;;) {
		n = read(k->fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten records */
		if (n <= 0)
			return;
		rec[n] = '\0';
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		nl = strchr(msg, '\n');
		if (nl)
			*nl = '\0';
		if (rig_splat(msg))
			k->splats++;
		if (k->splats && k->printed < 80) {
			k->printed++;
			printf("# kmsg: %s\n", msg);
		}
	}
}

/* Print what the kernel says about a thread of the worker. */
static void bf_dump_task(pid_t pid, int tid)
{
	static const char *const files[] = { "wchan", "stack" };
	char path[128], line[256];
	unsigned int i;
	FILE *f;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/%s", pid, tid, files[i]);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			printf("#   %s: %s\n", files[i], line);
		}
		fclose(f);
	}
}

/* Is a thread of the worker in one op for longer than --stall? Report it. */
static bool bf_stuck(pid_t pid)
{
	uint64_t now = rig_now_ns(), t;
	bool stuck = false;
	int i;

	for (i = 0; i < BF_NR_TH; i++) {
		t = S->th[i].start_ns;
		if (!S->th[i].used || !t || now < t || now - t < (uint64_t)bf_stall_s * 1000000000ULL)
			continue;
		printf("# STUCK: thread %d (tid %d) has been in op %s for %llu s\n", i, S->th[i].tid,
		       bf_op_name[S->th[i].op], (unsigned long long)((now - t) / 1000000000ULL));
		bf_dump_task(pid, S->th[i].tid);
		stuck = true;
	}
	return stuck;
}

/* The last ops of every thread, oldest first. */
static void bf_dump_notes(void)
{
	unsigned int i, j, n;

	for (i = 0; i < BF_NR_TH; i++) {
		n = S->th[i].nnotes;
		if (!S->th[i].used || !n)
			continue;
		printf("# the last ops of thread %u (%s when it stopped):\n", i,
		       S->th[i].start_ns ? "in an op" : "between ops");
		for (j = n > BF_NOTES ? n - BF_NOTES : 0; j < n; j++)
			printf("#   %u: %s\n", j, S->th[i].note[j % BF_NOTES]);
	}
}

static void bf_result(int n, bool ok, const char *what)
{
	printf("%sok %d %s\n", ok ? "" : "not ", n, what);
}

/* Run @worker in a child, watch it, report. Returns the exit status. */
static int bf_supervise(int (*worker)(void))
{
	struct bf_kmsg k = { .fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK) };
	uint64_t t0 = rig_now_ns(), stop_ns = 0, total = 0;
	bool stuck = false, done = false;
	int status = 0, i, wait_s;
	char what[160];
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..5\n");
	printf("# bar_fuzz: seed %llu, pattern seed %llu, %d worker threads, %d s, %llu ops per thread, control threads: %s%s, stall limit %d s\n",
	       (unsigned long long)G.seed, (unsigned long long)G.pseed, G.threads, G.seconds,
	       (unsigned long long)G.ops, G.control & BF_CTL_MEMORY ? "memory " : "",
	       G.control & BF_CTL_DEVICE ? "device" : G.control ? "" : "none", bf_stall_s);
	for (i = 0; bf_only && i < OP_NR; i++)
		if (bf_only >> i & 1)
			printf("# only op %s\n", bf_op_name[i]);
	if (k.fd < 0)
		printf("# /dev/kmsg: %s (the kernel log is not checked)\n", strerror(errno));
	else
		lseek(k.fd, 0, SEEK_END);
	S = mmap(NULL, sizeof(*S), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (S == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (!pid)
		_exit(worker());

	/* The run, the fill and the final pass, and the stall limit, at most. */
	wait_s = G.seconds + 2 * bf_stall_s;
	while (!done) {
		usleep(200000);
		if (waitpid(pid, &status, WNOHANG) == pid)
			done = true;
		bf_kmsg_scan(&k);
		if (k.splats && !S->stop) {
			/* A broken kernel may not let the worker finish: wait less. */
			printf("# the kernel log reports a problem: stopping the run\n");
			S->stop = 1;
			bf_stall_s = bf_stall_s < 30 ? bf_stall_s : 30;
			wait_s = (int)((rig_now_ns() - t0) / 1000000000ULL) + 2 * bf_stall_s;
		}
		if (S->stop && !stop_ns)
			stop_ns = rig_now_ns();
		if (done)
			break;
		stuck = bf_stuck(pid);
		if (!stuck && rig_now_ns() - t0 > (uint64_t)wait_s * 1000000000ULL) {
			printf("# STUCK: the worker still runs after %d s\n", wait_s);
			stuck = true;
		}
		if (stuck) {
			kill(pid, SIGKILL);
			for (i = 0; i < 50 && waitpid(pid, &status, WNOHANG) != pid; i++)
				usleep(200000);
			if (i == 50)
				printf("# the worker (pid %d) does not die: left behind\n", pid);
			break;
		}
	}
	sleep(1);
	bf_kmsg_scan(&k);

	for (i = 0; i < OP_NR; i++) {
		printf("# ops %-12s %10llu  (ended with an errno: %llu)\n", bf_op_name[i],
		       (unsigned long long)S->count[i], (unsigned long long)S->errs[i]);
		if (i != OP_fill && i != OP_final)
			total += S->count[i];
	}
	if (!S->run_ns)
		S->run_ns = (stop_ns ? stop_ns : rig_now_ns()) - t0;
	if (k.splats || stuck || S->fails[F_DATA] || S->fails[F_SIGNAL] || S->fails[F_BEHAVIOUR])
		bf_dump_notes();
	printf("# accesses that took SIGBUS while memory was off: %llu\n",
	       (unsigned long long)S->sigbus);
	printf("# MADV_HWPOISON and MADV_SOFT_OFFLINE refused with EFAULT: %llu\n",
	       (unsigned long long)S->poison_refused);
	printf("# RESULT fuzz: seed=%llu threads=%d seconds=%.1f ops=%llu ops_per_s=%.1f mismatches=%llu signal_failures=%llu behaviour_failures=%llu splats=%d stuck=%d\n",
	       (unsigned long long)G.seed, G.threads, S->run_ns / 1e9, (unsigned long long)total,
	       total / (S->run_ns / 1e9), (unsigned long long)S->fails[F_DATA],
	       (unsigned long long)S->fails[F_SIGNAL], (unsigned long long)S->fails[F_BEHAVIOUR],
	       k.splats, stuck);

	if (done && WIFEXITED(status))
		snprintf(what, sizeof(what), "the worker ran to the end (exit status %d)",
			 WEXITSTATUS(status));
	else if (done && WIFSIGNALED(status))
		snprintf(what, sizeof(what), "the worker ran to the end (killed by signal %d)",
			 WTERMSIG(status));
	else
		snprintf(what, sizeof(what), "the worker ran to the end (it did not)");
	bf_result(1, done && WIFEXITED(status) && !WEXITSTATUS(status), what);
	bf_result(2, !S->fails[F_DATA], "every access read the data its BAR page holds");
	bf_result(3, !S->fails[F_SIGNAL] && !S->fails[F_BEHAVIOUR],
		  "SIGBUS and SIGSEGV exactly where due; every call behaved");
	snprintf(what, sizeof(what), "the kernel log is clean (%d splats)", k.splats);
	if (k.fd < 0)
		printf("ok 4 # SKIP no /dev/kmsg\n");
	else
		bf_result(4, !k.splats, what);
	bf_result(5, !stuck, "no thread stuck in an op");
	i = done && WIFEXITED(status) && !WEXITSTATUS(status) && !S->fails[F_DATA] &&
	    !S->fails[F_SIGNAL] && !S->fails[F_BEHAVIOUR] && !k.splats && !stuck;
	printf("# %s (seed %llu)\n", i ? "PASS" : "FAIL", (unsigned long long)G.seed);
	return i ? 0 : 1;
}

#endif
