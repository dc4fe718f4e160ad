#!/bin/sh
# only-on ARCH REASON COMMAND [ARGS...]: run COMMAND when the guest is ARCH
# (uname -m: x86_64, aarch64), else report a skip with REASON (exit 4, the
# kselftest skip code; tests/guest/run turns "# SKIP ..." into the TAP
# directive).
arch=$1 why=$2
shift 2
if [ "$(uname -m)" = "$arch" ]; then
	exec "$@"
fi
echo "# SKIP $(uname -m): $why"
exit 4
