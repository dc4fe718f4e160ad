// SPDX-License-Identifier: GPL-2.0
/*
 * The nested guest's side of the nested test (tests/nested/nested-run). Step
 * by step, each acknowledged by a line on the control port (the second
 * serial port) and continued when the L1 side answers "go", so that the L1
 * side can read QEMU's and KVM's numbers between the steps:
 *
 *   ready     booted; the L1 side hot-adds the assigned device now
 *   found     the PCI bus rescanned, the ivshmem device (1af4:1110) found
 *             and its BARs assigned, memory decoding still off
 *   mapped    memory decoding on (QEMU maps the BAR into the guest and for
 *             DMA from then on), BAR2 mapped through sysfs resource2
 *   written   the rig's seeded pattern written into every 4 KiB page (the
 *             words vfio_bar_smoke writes and tests/host/verify_bar.py
 *             checks in the BAR's backing file) and read back
 *
 * or "error WHY" at any step. The lines start with "NESTED-L2".
 *
 *   l2_bar_write --seed N [--ctl /dev/ttyS1]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "rig_util.h"

#define PAGE	4096UL

static int ctl = -1;

static void say(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	/* The console gets every line too. */
	if (write(STDOUT_FILENO, buf, n) < 0)
		return;
	if (ctl >= 0 && write(ctl, buf, n) != n)
		fprintf(stderr, "nested-l2: short write to the control port\n");
}

static void fail(const char *fmt, ...)
{
	char buf[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	say("NESTED-L2 error %s", buf);
	exit(1);
}

/* Block until the L1 side sends a line starting with "go". */
static void wait_go(void)
{
	char line[64];
	size_t n = 0;
	char c;

	for (;;) {
		ssize_t r = read(ctl, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			fail("control port: %s", r ? strerror(errno) : "end of file");
		if (c == '\r')
			continue;
		if (c != '\n') {
			if (n < sizeof(line) - 1)
				line[n++] = c;
			continue;
		}
		line[n] = '\0';
		if (!strncmp(line, "go", 2))
			return;
		n = 0;
	}
}

/* Write a short string into a sysfs file. */
static int sysfs_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val) ? 0 : -1;
}

static int sysfs_read(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* The BDF of the first ivshmem device (1af4:1110), or NULL. */
static const char *find_ivshmem(void)
{
	static char bdf[64];
	char path[512], vendor[16], device[16];
	struct dirent *de;
	DIR *d = opendir("/sys/bus/pci/devices");

	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(bdf))
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", de->d_name);
		if (sysfs_read(path, vendor, sizeof(vendor)))
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", de->d_name);
		if (sysfs_read(path, device, sizeof(device)))
			continue;
		if (!strncmp(vendor, "0x1af4", 6) && !strncmp(device, "0x1110", 6)) {
			strcpy(bdf, de->d_name);
			closedir(d);
			return bdf;
		}
	}
	closedir(d);
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "ctl", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *bdf, *ctl_path = "/dev/ttyS1";
	unsigned long long start, end, flags;
	unsigned long pages, i, bad = 0;
	char path[512], res[512], *line;
	volatile uint64_t *bar;
	uint64_t seed = 1, t0;
	struct termios tio;
	struct stat st;
	double ms;
	int fd, c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'c':
			ctl_path = optarg;
			break;
		default:
			return 2;
		}
	}
	ctl = open(ctl_path, O_RDWR | O_NOCTTY);
	if (ctl < 0) {
		fprintf(stderr, "nested-l2: %s: %s\n", ctl_path, strerror(errno));
		return 1;
	}
	if (!tcgetattr(ctl, &tio)) {
		cfmakeraw(&tio);
		tcsetattr(ctl, TCSANOW, &tio);
	}

	say("NESTED-L2 ready");
	wait_go();

	if (sysfs_write("/sys/bus/pci/rescan", "1"))
		fail("/sys/bus/pci/rescan: %s", strerror(errno));
	bdf = find_ivshmem();
	if (!bdf)
		fail("no ivshmem device (1af4:1110) after a PCI rescan: the device was not hot-added");
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource", bdf);
	if (sysfs_read(path, res, sizeof(res)))
		fail("%s: %s", path, strerror(errno));
	line = strchr(res, '\n');
	line = line ? strchr(line + 1, '\n') : NULL;	/* the third line: BAR2 */
	if (!line || sscanf(line + 1, "%llx %llx %llx", &start, &end, &flags) != 3 || !start)
		fail("%s: BAR2 is not assigned", bdf);
	say("NESTED-L2 found bdf=%s bar2=0x%llx-0x%llx", bdf, start, end);
	wait_go();

	/* Memory decoding on: QEMU maps the BAR into the guest from here on. */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/enable", bdf);
	if (sysfs_write(path, "1"))
		fail("%s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource2", bdf);
	fd = open(path, O_RDWR);
	if (fd < 0 || fstat(fd, &st))
		fail("%s: %s", path, strerror(errno));
	if (st.st_size < (off_t)PAGE)
		fail("%s: size %lld", path, (long long)st.st_size);
	bar = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (bar == MAP_FAILED)
		fail("mmap %s: %s", path, strerror(errno));
	pages = st.st_size / PAGE;
	say("NESTED-L2 mapped bytes=%lld at=%p", (long long)st.st_size, (void *)bar);
	wait_go();

	/* Two words at the start of every page, as vfio_bar_smoke writes them. */
	t0 = rig_now_ns();
	for (i = 0; i < pages; i++) {
		volatile uint64_t *p = bar + i * (PAGE / 8);

		p[0] = rig_pattern(seed, i);
		p[1] = i;
	}
	ms = (rig_now_ns() - t0) / 1e6;
	for (i = 0; i < pages; i++) {
		volatile uint64_t *p = bar + i * (PAGE / 8);

		if (p[0] != rig_pattern(seed, i) || p[1] != i)
			bad++;
	}
	say("NESTED-L2 written pages=%lu bad=%lu write_ms=%.1f", pages, bad, ms);
	wait_go();
	munmap((void *)bar, st.st_size);
	close(fd);
	return bad ? 1 : 0;
}
