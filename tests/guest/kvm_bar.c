// SPDX-License-Identifier: GPL-2.0
/*
 * KVM faults a vfio BAR mapping into a guest: a memslot at guest physical
 * 1 GiB is backed by a 1 GiB-aligned mmap of the rig's BAR2; a few guest
 * instructions (32-bit protected mode, no paging) write a value every 2 MiB
 * of it and halt. The host side checks the values through its own mapping
 * and reports the stage-2 page sizes KVM used (debugfs pages_4k/2m/1g).
 *
 * --expect=pte: the unpatched kernel, 4 KiB stage-2 mappings;
 * --expect=huge: huge pfnmaps, the BAR is mapped into the guest with 2 MiB
 * or 1 GiB pages.
 *
 * x86_64 only: the guest code and its register setup are x86 (run with
 * kvm_amd, SVM nested under TCG). Elsewhere it reports a skip.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "kselftest.h"
#include "rig_util.h"

#if defined(__x86_64__)
#define SZ_2M	(2UL << 20)
#define SZ_1G	(1UL << 30)
#define BAR_GPA	0x40000000UL
#define WRITES	512

/* mov eax,seed; mov edi,BAR_GPA; mov ecx,512; 1: mov [edi],eax; add edi,2M;
 * inc eax; dec ecx; jnz 1b; hlt */
static const uint8_t guest_code[] = {
	0xb8, 0, 0, 0, 0,			/* mov eax, imm32 (patched) */
	0xbf, 0x00, 0x00, 0x00, 0x40,		/* mov edi, 0x40000000 */
	0xb9, 0x00, 0x02, 0x00, 0x00,		/* mov ecx, 512 */
	0x89, 0x07,				/* mov [edi], eax */
	0x81, 0xc7, 0x00, 0x00, 0x20, 0x00,	/* add edi, 0x200000 */
	0x40,					/* inc eax */
	0x49,					/* dec ecx */
	0x75, 0xf4,				/* jnz -12 */
	0xf4,					/* hlt */
};

static long vm_stat(const char *dir, const char *name)
{
	char path[512];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* debugfs directory of our VM: kvm/<pid>-<vmfd> */
static int vm_dir(int vmfd, char *out, size_t len)
{
	snprintf(out, len, "/sys/kernel/debug/kvm/%d-%d", getpid(), vmfd);
	return access(out, R_OK);
}

static void flat_seg(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->db = 1;
	s->g = 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bdf", required_argument, NULL, 'b' },
		{ "expect", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	const char *bdf = NULL, *expect = "pte";
	struct kvm_userspace_memory_region code = {}, bar = {};
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_run *run;
	struct rig_vfio dev;
	int kvm, vm, vcpu, c, i, bad = 0, exits = 0;
	long p4k, p2m, p1g;
	uint32_t seed = 0x1000;
	char dir[256];
	uint8_t *mem;
	char *map;
	uint64_t t0;
	double ms;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'b')
			bdf = optarg;
		else if (c == 'e')
			expect = optarg;
		else
			return KSFT_FAIL;
	}
	ksft_print_header();
	ksft_set_plan(4);

	kvm = open("/dev/kvm", O_RDWR);
	if (kvm < 0)
		ksft_exit_skip("no /dev/kvm: %s\n", strerror(errno));
	if (!bdf || rig_vfio_open(&dev, bdf, false) || rig_vfio_bar(&dev, 2))
		ksft_exit_fail_msg("cannot open the BAR device through vfio\n");
	map = rig_mmap_aligned(dev.device_fd, dev.bar_offset, SZ_1G, SZ_1G, PROT_READ | PROT_WRITE);
	if (map == MAP_FAILED)
		ksft_exit_fail_msg("mmap BAR2: %s\n", strerror(errno));
	memset(map, 0, SZ_2M * 2);	/* host-side writes through the mapping */

	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		ksft_exit_fail_msg("KVM_CREATE_VM: %s\n", strerror(errno));
	mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	memcpy(mem, guest_code, sizeof(guest_code));
	memcpy(mem + 1, &seed, 4);
	code.slot = 0;
	code.guest_phys_addr = 0;
	code.memory_size = 0x10000;
	code.userspace_addr = (uintptr_t)mem;
	bar.slot = 1;
	bar.guest_phys_addr = BAR_GPA;
	bar.memory_size = SZ_1G;
	bar.userspace_addr = (uintptr_t)map;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &code) || ioctl(vm, KVM_SET_USER_MEMORY_REGION, &bar))
		ksft_exit_fail_msg("KVM_SET_USER_MEMORY_REGION: %s\n", strerror(errno));
	ksft_test_result_pass("memslot backed by the BAR mmap at %p\n", map);

	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	run = mmap(NULL, ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), PROT_READ | PROT_WRITE,
		   MAP_SHARED, vcpu, 0);
	if (vcpu < 0 || run == MAP_FAILED)
		ksft_exit_fail_msg("vcpu: %s\n", strerror(errno));
	ioctl(vcpu, KVM_GET_SREGS, &sregs);
	flat_seg(&sregs.cs, 8, 11);
	flat_seg(&sregs.ds, 16, 3);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.cr0 |= 1;		/* protected mode, no paging */
	ioctl(vcpu, KVM_SET_SREGS, &sregs);
	memset(&regs, 0, sizeof(regs));
	regs.rip = 0;
	regs.rflags = 2;
	ioctl(vcpu, KVM_SET_REGS, &regs);

	t0 = rig_now_ns();
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0)
			ksft_exit_fail_msg("KVM_RUN: %s\n", strerror(errno));
		exits++;
		if (run->exit_reason == KVM_EXIT_HLT)
			break;
		if (run->exit_reason != KVM_EXIT_INTR) {
			ksft_test_result_fail("guest exit %u (not hlt)\n", run->exit_reason);
			goto out;
		}
	}
	ms = (rig_now_ns() - t0) / 1e6;
	ksft_test_result_pass("guest wrote %d words into the BAR and halted (%.1f ms, %d exits)\n",
			      WRITES, ms, exits);

	for (i = 0; i < WRITES; i++)
		if (*(volatile uint32_t *)(map + i * SZ_2M) != seed + i)
			bad++;
	ksft_test_result(!bad, "the host reads the guest's values through its mapping (%d bad)\n", bad);

	if (vm_dir(vm, dir, sizeof(dir)))
		ksft_exit_fail_msg("no KVM debugfs directory %s\n", dir);
	p4k = vm_stat(dir, "pages_4k");
	p2m = vm_stat(dir, "pages_2m");
	p1g = vm_stat(dir, "pages_1g");
	ksft_print_msg("RESULT kvm: pages_4k=%ld pages_2m=%ld pages_1g=%ld guest_ms=%.1f\n",
		       p4k, p2m, p1g, ms);
	if (!strcmp(expect, "huge"))
		ksft_test_result(p1g + p2m > 0 && p4k < WRITES,
				 "KVM maps the huge BAR leaves with huge stage-2 pages\n");
	else
		ksft_test_result(p1g == 0 && p2m == 0 && p4k >= WRITES,
				 "unpatched behaviour: KVM maps the BAR 4 KiB at a time\n");
out:
	close(vcpu);
	close(vm);
	munmap(map, SZ_1G);
	rig_vfio_close(&dev);
	ksft_finished();
}
#else
int main(void)
{
	ksft_print_header();
	ksft_exit_skip("the KVM guest code of this test is x86 (kvm_amd/SVM)\n");
}
#endif
