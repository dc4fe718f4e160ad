#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Verify, on the host, the data pattern a guest wrote through its vfio mapping
of the rig's BAR: page i of the BAR's backing file must start with
pattern(seed, i) and i as two little-endian 64-bit words (see rig_pattern() in
tests/guest/rig_util.h). Prints one PASS or FAIL line; exit status 0 or 1."""
import mmap
import struct
import sys

M64 = (1 << 64) - 1
PAGE = 4096


def pattern(seed: int, page: int) -> int:
    x = (seed ^ (page * 0x9E3779B97F4A7C15)) & M64
    x ^= x >> 31
    x = (x * 0xBF58476D1CE4E5B9) & M64
    x ^= x >> 29
    return x


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: verify_bar.py BACKING_FILE SEED", file=sys.stderr)
        return 2
    path, seed = sys.argv[1], int(sys.argv[2], 0)
    with open(path, "rb") as f:
        m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        pages = len(m) // PAGE
        bad = []
        for i in range(pages):
            a, b = struct.unpack_from("<QQ", m, i * PAGE)
            if a != pattern(seed, i) or b != i:
                bad.append(i)
        m.close()
    if bad:
        print(f"FAIL bar pattern: {len(bad)} of {pages} pages wrong in the backing file "
              f"(first at page {bad[0]}, seed {seed})")
        return 1
    print(f"PASS bar pattern: all {pages} pages of the backing file hold the guest's pattern (seed {seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
