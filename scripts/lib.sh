# shellcheck shell=bash
# Common helpers for the rig's scripts. Sourced, never run.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Everything generated lives under build/ (ignored by git).
BUILD_DIR=${BUILD_DIR:-$TOP/build}
STATE_DIR=$BUILD_DIR/state
export TOP BUILD_DIR STATE_DIR

if [ -t 1 ]; then _b=$'\e[1m' _r=$'\e[31m' _y=$'\e[33m' _g=$'\e[32m' _n=$'\e[0m'; else _b= _r= _y= _g= _n=; fi

step() { printf '%s==> %s%s\n' "$_b" "$*" "$_n"; }
ok() { printf '%s  ok%s %s\n' "$_g" "$_n" "$*"; }
warn() { printf '%sWARNING: %s%s\n' "$_y" "$*" "$_n" >&2; }
die() {
	printf '%sERROR: %s%s\n' "$_r" "$*" "$_n" >&2
	exit 1
}

# Load base.conf (BASE_VERSION, BASE_SHA256, ...).
load_base_conf() {
	# shellcheck source=base.conf
	. "$TOP/base.conf"
}

# Refuse to start a step that needs $1 MiB free under $2.
need_space() {
	local mib=$1 dir=$2 avail
	mkdir -p "$dir"
	avail=$(df -Pm "$dir" | awk 'NR==2 {print $4}')
	if [ "$avail" -lt "$mib" ]; then
		die "not enough disk space in $dir: ${avail} MiB free, ${mib} MiB needed"
	fi
}

need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || die "missing tool '$c': run scripts/install-deps (make deps)"
	done
}

# Seconds since $1 (from date +%s), formatted.
elapsed() {
	local s=$(($(date +%s) - $1))
	printf '%dm%02ds' $((s / 60)) $((s % 60))
}

# The kernel directory of ARCH VARIANT KIND (base, series or the peer):
# RIG_OUT when it is set (scripts/bench), else build/out/<arch>-<variant>-<kind>.
# A relative RIG_OUT is taken from the current directory and made absolute,
# since the initramfs's packing step changes directory.
rig_out() {
	local out=${RIG_OUT:-$BUILD_DIR/out/$1-$2-$3}
	[ ! -d "$out" ] || out=$(cd "$out" && pwd)
	printf '%s\n' "$out"
}

# Why QEMU -icount cannot boot the kernel ARCH KIND (base, series or the
# peer), or nothing if it can. Under QEMU 7.2's -icount both vCPUs take turns
# on one host thread, and 6.1 on x86_64 then never brings up its second CPU:
# its boot stops at "x86: Booting SMP configuration:" (6.12 boots).
icount_refusal() {
	if [ "$1" = x86_64 ] && { [ "$2" = base ] || [ "$2" = series ]; }; then
		echo "under QEMU 7.2's -icount, 6.1 on x86_64 (the $2 kernel) hangs bringing up its second CPU"
	fi
}
