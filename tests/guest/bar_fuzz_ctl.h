/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bar_fuzz: the control threads. One clears and sets PCI_COMMAND_MEMORY
 * through the vfio config region; the other resets the device
 * (VFIO_DEVICE_RESET) and takes it in and out of low power
 * (VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY/EXIT). Each control op is bracketed
 * by bf_ctl_begin() and bf_ctl_end(), so that accesses know which state
 * they ran in. Included by bar_fuzz.c only.
 */
#ifndef BAR_FUZZ_CTL_H
#define BAR_FUZZ_CTL_H

#include "bar_fuzz_core.h"

static void bf_set_memory(bool on)
{
	if (rig_vfio_set_memory(G.dev, G.cfg, on))
		bf_fail(F_BEHAVIOUR, "%s PCI_COMMAND: %s", on ? "setting" : "clearing memory in",
			strerror(errno));
}

/* Memory decoding off for 0-5 ms, on for 0-5, 0-40 or (now and then) 0-500 ms. */
static void *bf_ctl_memory(void *arg)
{
	struct bf_rng r;
	uint64_t k;

	(void)arg;
	bf_rng_init(&r, G.seed, BF_TH_CTL);
	bf_thread_register(BF_TH_CTL);
	while (!S->stop) {
		k = bf_below(&r, 10);
		usleep(1000 * bf_below(&r, k < 5 ? 6 : k < 9 ? 40 : 500));
		bf_op_begin(OP_mem_toggle);
		bf_ctl_begin();
		bf_set_memory(false);
		S->mem_off = 1;
		bf_ctl_end();
		usleep(1000 * bf_below(&r, 6));
		bf_ctl_begin();
		bf_set_memory(true);
		S->mem_off = 0;
		bf_ctl_end();
		bf_op_end(OP_mem_toggle, false);
	}
	return NULL;
}

static int bf_feature(uint32_t feature)
{
	return rig_vfio_feature(G.dev, feature);
}

/* Low power for 0-5 ms; a second entry meanwhile must fail. */
static void bf_lowpower(struct bf_rng *r)
{
	int rc, e;

	bf_op_begin(OP_lowpower);
	bf_ctl_begin();
	rc = bf_feature(VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY);
	e = errno;
	if (!rc)
		S->lowpower = 1;
	bf_ctl_end();
	if (rc) {
		/* Without runtime PM support the feature may be missing: no failure. */
		if (e != ENOTTY && e != EINVAL && e != EOPNOTSUPP)
			bf_fail(F_BEHAVIOUR, "VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY: %s", strerror(e));
		bf_op_end(OP_lowpower, true);
		return;
	}
	if (bf_chance(r, 20) && !bf_feature(VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY))
		bf_fail(F_BEHAVIOUR, "a second VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY succeeded");
	usleep(1000 * bf_below(r, 6));
	bf_ctl_begin();
	rc = bf_feature(VFIO_DEVICE_FEATURE_LOW_POWER_EXIT);
	if (rc)
		bf_fail(F_BEHAVIOUR, "VFIO_DEVICE_FEATURE_LOW_POWER_EXIT: %s", strerror(errno));
	else
		S->lowpower = 0;
	bf_ctl_end();
	bf_op_end(OP_lowpower, rc);
}

/* Every 0-100 ms (now and then 0-1000 ms): a reset or a stay in low power. */
static void *bf_ctl_device(void *arg)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	bool can_reset;
	struct bf_rng r;
	int rc, e;

	(void)arg;
	bf_rng_init(&r, G.seed, BF_TH_CTL + 1);
	bf_thread_register(BF_TH_CTL + 1);
	can_reset = !ioctl(G.dev, VFIO_DEVICE_GET_INFO, &info) && (info.flags & VFIO_DEVICE_FLAGS_RESET);
	if (!can_reset)
		dprintf(STDOUT_FILENO, "# the device cannot be reset: no VFIO_DEVICE_RESET\n");
	while (!S->stop) {
		usleep(1000 * bf_below(&r, bf_chance(&r, 10) ? 1000 : 100));
		if (!bf_chance(&r, 50) || !can_reset) {
			bf_lowpower(&r);
			continue;
		}
		bf_op_begin(OP_reset);
		bf_ctl_begin();
		rc = ioctl(G.dev, VFIO_DEVICE_RESET);
		e = errno;
		bf_ctl_end();
		/* pci_try_reset_function() gives up when the device lock is busy. */
		if (rc && e != EAGAIN)
			bf_fail(F_BEHAVIOUR, "VFIO_DEVICE_RESET: %s", strerror(e));
		bf_op_end(OP_reset, rc);
	}
	return NULL;
}

#endif
