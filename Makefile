# The front door. Each target calls one script under scripts/; see README.md.
# SERIES=off runs any of them on the unpatched base.

.PHONY: help deps demo check tree export series-check static-check build initramfs vm results baseline shellcheck clean \
	bench bisect compile-arches fuzz nested

help:
	@echo "make demo     apply, build, boot, and show the 2 GiB BAR mapping and its numbers"
	@echo "make check    every test: series checks, normal + debug kernels, all guest scenarios"
	@echo "make tree     create/refresh build/linux (base + patches/) and build/linux-base"
	@echo "make export   write build/linux's commits back to patches/"
	@echo "make series-check   checkpatch --strict, git am onto the pristine base, sparse and W=1"
	@echo "make static-check   sparse (C=1) and W=1 on the objects the series changes, base vs series"
	@echo "make build ARCH=x86_64|arm64 VARIANT=normal|debug|distro; make initramfs; make vm SCENARIO=noiommu|viommu"
	@echo "make check ARCHES=arm64   one architecture only (default: x86_64 arm64)"
	@echo "make baseline re-record the selftests/vm results of the unpatched base (VARIANT=distro: its own)"
	@echo "make bench    base vs series numbers; make bisect: build each patch; make compile-arches"
	@echo "make nested   Debian's QEMU in the guest assigns the BAR to a nested KVM guest; its numbers"
	@echo "make fuzz     bar_fuzz for FUZZ_SECONDS (600) per kernel: normal, debug, distro; x86_64, arm64"
	@echo "SERIES=off    any of the above on the unpatched base"

ARCH ?= x86_64
VARIANT ?= normal
SCENARIO ?= noiommu

deps:
	scripts/install-deps
demo:
	scripts/demo
check:
	scripts/check
tree:
	scripts/tree
export:
	scripts/export
series-check:
	scripts/check-series
static-check:
	scripts/static-check
build:
	scripts/build $(ARCH) $(VARIANT)
initramfs:
	scripts/initramfs $(ARCH) $(VARIANT)
vm:
	scripts/run-vm $(ARCH) $(VARIANT) $(SCENARIO)
results:
	python3 tests/host/results.py build/runs/*
ARCHES ?= x86_64 arm64
baseline:
	SERIES=off ARCHES="$(ARCHES)" VARIANTS=$(VARIANT) SCENARIOS=noiommu STATIC_CHECK=off scripts/check || true
	for a in $(ARCHES); do \
		f=tests/guest/vm-selftests; [ $$a = x86_64 ] || f=$$f-$$a; [ $(VARIANT) = normal ] || f=$$f-$(VARIANT); \
		f=$$f.baseline; \
		python3 tests/host/results.py --record-baseline $$f build/runs/$$a-$(VARIANT)-base-noiommu >/dev/null; \
		cat $$f; \
	done
bench:
	scripts/bench
bisect:
	scripts/bisect-build
compile-arches:
	scripts/compile-arches
fuzz:
	scripts/fuzz
nested:
	scripts/nested $(VARIANT)
shellcheck:
	shellcheck -x scripts/install-deps scripts/fetch-base scripts/fetch-peer scripts/tree scripts/export scripts/build \
		scripts/initramfs scripts/run-vm scripts/check-series scripts/check scripts/demo .ci/run \
		scripts/bench scripts/bisect-build scripts/compile-arches scripts/static-check scripts/fuzz scripts/nested scripts/nested-initramfs \
		tests/nested/nested-run tests/nested/l2-init
clean:
	rm -rf build/out build/runs build/results
