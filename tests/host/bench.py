#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Tables, goals and a plot from the benchmark's boots (scripts/bench).

Each run directory is one boot of the scale scenario (scripts/run-vm): its
meta.env says which kernel (KIND: base, series or the peer, e.g. 6.12), and
its results.log holds the guest's "BENCH <row> key=value ..." lines (from
tests/guest/bar_bench.c). Every kernel is booted several times; a number in
the tables is the median over the boots, and the noise of a number is its
spread over the boots, (max - min) / median.

Boots made with QEMU's -icount (meta.env ICOUNT=N, scripts/bench CLOCK=icount)
count instructions instead of host time: the report says so, and refuses to
mix the two clocks.

The goals are reported, never enforced: the script exits 0 whatever the
numbers say, and non-zero only when it has nothing to report.

  bench.py --out build/results/bench.txt [--plot bench.png] [--json bench.json] RUN...
"""
import argparse
import json
import math
import os
import re
import statistics
import sys

BENCH = re.compile(r"^\s*#\s*BENCH\s+(?P<row>\S+)\s+(?P<kv>.*)$")
RESULT = re.compile(r"^\s*(?P<ok>not ok|ok)\s+\d+\s")

# Format of a time in milliseconds (fmt()).
MS = "ms"
# Columns of the scale rows: key, label, unit, how it is printed.
SCALE_METRICS = [
    ("faults", "faults", "", "{:.0f}"),
    ("vmpte_kB", "page tables (VmPTE)", "kB", "{:.0f}"),
    ("first_access_us", "first access", "us", "{:.1f}"),
    ("populate_ms", "populate", "ms", MS),
    ("munmap_ms", "munmap", "ms", MS),
    ("map_dma_ms", "MAP_DMA", "ms", MS),
    ("unmap_dma_ms", "UNMAP_DMA", "ms", MS),
    ("dma_ms", "MAP+UNMAP_DMA", "ms", MS),
]
ALIGN_METRICS = [
    ("faults", "faults", "", "{:.0f}"),
    ("vmpte_kB", "page tables (VmPTE)", "kB", "{:.0f}"),
    ("first_access_us", "first access", "us", "{:.1f}"),
    ("populate_ms", "populate", "ms", MS),
    ("rand_read_ns", "random 8-byte read", "ns", "{:.1f}"),
    ("munmap_ms", "munmap", "ms", MS),
]
# Counts are compared exactly; times within the noise.
COUNTS = {"faults", "vmpte_kB"}
ALIGN_ROWS = ["1G-aligned", "2M-aligned", "1M-skewed"]
# The kernel's own paths (bar_bench's floor_row()): the munmap path without
# leaves, the full TLB flush that ends a munmap of leaves, the entry and
# fault paths, the first BAR's first access with each write right after a
# munmap, and the device DAX control (1 GiB leaves that 6.1 maps without the
# series; x86_64); and the processes row's own (a second "floor" line): a
# fixed user loop alone and as a phase in every process at once. Shown
# apart, not rows of the comparison.
FLOOR_ROW = "floor"
FLOOR_METRICS = [
    ("bar_untouched_munmap_us", "munmap, BAR mapped, untouched", "us"),
    ("bar_untouched_again_munmap_us", "munmap, BAR untouched, again", "us"),
    ("bar_per_gib_munmap_us", "munmap, BAR written once a GiB", "us"),
    ("bar_written_munmap_us", "munmap, BAR written every 4K", "us"),
    ("anon_untouched_munmap_us", "munmap, anonymous, untouched", "us"),
    ("tlb_flush_us", "full TLB flush (mprotect)", "us"),
    ("spin_ms", "fixed user work, one process", "ms"),
    ("procs_spin_ms", "the same, every process at once", "ms"),
    ("syscall_us", "system call (getppid)", "us"),
    ("minor_fault_us", "write fault, page-cache page", "us"),
    ("bar_first_after_munmap_us", "BAR first access after munmap", "us"),
    ("dax_first_us", "DAX 1G: first access", "us"),
    ("dax_first_after_munmap_us", "DAX 1G: first after munmap", "us"),
    ("dax_munmap_us", "DAX 1G: munmap of one leaf", "us"),
    ("dax_procs_before_ms", "DAX 1G procs munmap, before BARs", "ms"),
    ("dax_procs_after_ms", "DAX 1G procs munmap, after rows", "ms"),
    ("dax_procs_later_ms", "DAX 1G procs munmap, 2 s later", "ms"),
]
# The BAR's munmap with its leaves, less the same boot's untouched munmap
# taken in the same rounds (the "again" one, after the other floors): what
# the kernel does for the leaves, apart from its munmap path.
ABOVE_FLOOR = [("bar_per_gib_munmap_us", "written once a GiB"),
               ("bar_written_munmap_us", "written every 4 KiB")]


def read_meta(run):
    meta = {}
    try:
        with open(os.path.join(run, "meta.env")) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    meta[k] = v.strip('"')
    except OSError:
        pass
    return meta


def parse_run(run):
    """{row: {key: value}} of one boot, and the names of failed guest tests."""
    rows, failed = {}, []
    try:
        with open(os.path.join(run, "results.log"), errors="replace") as f:
            lines = [l.rstrip("\r\n").replace("\r", "") for l in f]
    except OSError:
        return rows, ["no results.log"]
    for line in lines:
        m = BENCH.match(line)
        if m:
            kv = {}
            for tok in m.group("kv").split():
                k, _, v = tok.partition("=")
                try:
                    kv[k] = float(v)
                except ValueError:
                    kv[k] = v
            if "map_dma_ms" in kv and "unmap_dma_ms" in kv:
                kv["dma_ms"] = kv["map_dma_ms"] + kv["unmap_dma_ms"]
            # A row may come in more than one line (the floor does): merge them.
            rows.setdefault(m.group("row"), {}).update(kv)
            continue
        m = RESULT.match(line)
        if m and m.group("ok") == "not ok":
            failed.append(line.strip())
    if not any(l.startswith("RIG-DONE") for l in lines):
        failed.append("the guest did not finish (no RIG-DONE)")
    return rows, failed


def median(xs):
    return statistics.median(xs) if xs else None


def spread(xs):
    """(max - min) / median over the boots, or None with fewer than two."""
    if len(xs) < 2:
        return None
    m = statistics.median(xs)
    if m == 0:
        return 0.0 if max(xs) == min(xs) else math.inf
    return (max(xs) - min(xs)) / abs(m)


def fmt(v, f):
    """Print @v with format @f; MS: two decimals, three below 1 (bar_bench
    prints milliseconds to the microsecond)."""
    if v is None:
        return "-"
    if f == MS:
        f = "{:.3f}" if abs(v) < 1 else "{:.2f}"
    return f.format(v)


def fmt_ratio(a, b):
    if a is None or b is None:
        return "-"
    if b == 0:
        return "=" if a == 0 else "inf"
    r = a / b
    if r >= 100:
        return "{:.0f}x".format(r)
    if r >= 0.1:
        return "{:.2f}x".format(r)
    return "1/{:.0f}".format(1 / r) if r > 0 else "0"


def fmt_noise(s):
    if s is None:
        return "-"
    if math.isinf(s):
        return "inf"
    return "{:.0f}%".format(100 * s)


def row_order(names):
    """Single BARs by size, then several devices, then processes."""
    def key(n):
        m = re.match(r"(\d+)x(\d+)([GM])(-sparse|-(\d+)procs)?$", n)
        if not m:
            return (9, 0, 0, n)
        size = int(m.group(2)) << (30 if m.group(3) == "G" else 20)
        count, procs = int(m.group(1)), int(m.group(5) or 1)
        return (0 if count == 1 and procs == 1 else 1 if procs == 1 else 2, size, count, n)
    return sorted(names, key=key)


class Bench:
    def __init__(self, runs, kinds):
        # data[kind][row][metric] = [value per boot]
        self.data = {k: {} for k in kinds}
        self.boots = {k: 0 for k in kinds}
        self.problems = []
        self.rows_meta = {}
        self.kinds = kinds
        # The icount shift of the boots ("" for host time), one set per clock seen.
        self.clocks = set()
        for run in runs:
            meta = read_meta(run)
            kind = meta.get("KIND")
            if kind not in self.data:
                continue
            self.clocks.add(meta.get("ICOUNT", ""))
            rows, failed = parse_run(run)
            for f in failed:
                self.problems.append("{} ({}): {}".format(kind, os.path.basename(run), f))
            if not rows:
                continue
            self.boots[kind] += 1
            for row, kv in rows.items():
                d = self.data[kind].setdefault(row, {})
                for k, v in kv.items():
                    if isinstance(v, float):
                        d.setdefault(k, []).append(v)
                    else:
                        self.rows_meta.setdefault((kind, row), {})[k] = v

    def values(self, kind, row, metric):
        return self.data.get(kind, {}).get(row, {}).get(metric, [])

    def med(self, kind, row, metric):
        return median(self.values(kind, row, metric))

    def noise(self, kind, row, metric):
        return spread(self.values(kind, row, metric))

    def scale_rows(self):
        names = set()
        for k in self.kinds:
            names |= {r for r in self.data[k] if r not in ALIGN_ROWS and r != FLOOR_ROW}
        return row_order(names)

    def align_rows(self):
        return [r for r in ALIGN_ROWS if any(r in self.data[k] for k in self.kinds)]

    def leaves(self, kind, row):
        return self.rows_meta.get((kind, row), {}).get("leaves", "-")

    def not_worse(self, a_kind, b_kind, row, metric):
        """Is a_kind's median at most b_kind's, within the larger noise of the two?
        Returns (verdict, ratio, tolerance) or None without numbers."""
        a, b = self.med(a_kind, row, metric), self.med(b_kind, row, metric)
        if a is None or b is None:
            return None
        if metric in COUNTS:
            return (a <= b, (a / b) if b else (1.0 if a == 0 else math.inf), 0)
        tol = max(self.noise(a_kind, row, metric) or 0.0, self.noise(b_kind, row, metric) or 0.0)
        return (a <= b * (1 + tol), a / b if b else math.inf, tol)


def size_gib(row):
    m = re.match(r"1x(\d+)([GM])$", row)
    if not m:
        return None
    return int(m.group(1)) / (1 if m.group(2) == "G" else 1024)


def table(bench, names, peer):
    b, s, p = "base", "series", peer
    lines = []
    head = "{:<13} {:>5}  {:<20} {:>11} {:>11} {:>11}  {:>11} {:>11}  {:<18}".format(
        "row", "touch", "metric", "6.1 base", "series", peer or "-", "series/base",
        "series/" + (peer or "-"), "noise base/ser/" + (peer or "-"))
    lines.append(head)
    lines.append("-" * len(head))
    for row in names:
        first = True
        touch = None
        for k in (s, b, p):
            if k and bench.values(k, row, "touch_kB"):
                touch = "{:.0f}K".format(bench.med(k, row, "touch_kB"))
                touch = "2M" if touch == "2048K" else touch
                break
        for key, label, unit, f in SCALE_METRICS:
            vb, vs = bench.med(b, row, key), bench.med(s, row, key)
            vp = bench.med(p, row, key) if p else None
            if vb is None and vs is None and vp is None:
                continue
            if key in COUNTS:
                # A count's spread in its own unit: a median of 0 has no relative one.
                noise = "/".join("+{:.0f}".format(max(v) - min(v)) if v else "-"
                                 for v in (bench.values(k, row, key) if k else [] for k in (b, s, p)))
            else:
                noise = "/".join(fmt_noise(bench.noise(k, row, key)) if k else "-" for k in (b, s, p))
            lines.append("{:<13} {:>5}  {:<20} {:>11} {:>11} {:>11}  {:>11} {:>11}  {:<18}".format(
                row if first else "", touch if first and touch else "",
                label + (" " + unit if unit else ""), fmt(vb, f), fmt(vs, f), fmt(vp, f),
                fmt_ratio(vs, vb), fmt_ratio(vs, vp), noise))
            first = False
        lines.append("")
    return lines


def align_table(bench, peer):
    kinds = ["base", "series"] + ([peer] if peer else [])
    head = "{:<8} {:<11} {:>8} {:>9} {:<12} {:>10} {:>11} {:>8} {:>9}".format(
        "kernel", "mapping", "faults", "VmPTE_kB", "pud/pmd/pte", "first_us", "populate_ms",
        "rand_ns", "munmap_ms")
    lines = [head, "-" * len(head)]
    for row in bench.align_rows():
        for k in kinds:
            if row not in bench.data[k]:
                continue
            lines.append("{:<8} {:<11} {:>8} {:>9} {:<12} {:>10} {:>11} {:>8} {:>9}".format(
                "6.1" if k == "base" else k, row,
                fmt(bench.med(k, row, "faults"), "{:.0f}"),
                fmt(bench.med(k, row, "vmpte_kB"), "{:.0f}"), bench.leaves(k, row),
                fmt(bench.med(k, row, "first_access_us"), "{:.1f}"),
                fmt(bench.med(k, row, "populate_ms"), MS),
                fmt(bench.med(k, row, "rand_read_ns"), "{:.1f}"),
                fmt(bench.med(k, row, "munmap_ms"), MS)))
    return lines


def noise_summary(bench, kinds):
    """Per kernel and timed metric: the median and the largest spread over the rows."""
    lines = []
    timed = [m for m in SCALE_METRICS if m[0] not in COUNTS and m[0] != "dma_ms"]
    head = "{:<8} {:>5}  ".format("kernel", "boots") + " ".join(
        "{:>15}".format(label) for _, label, _, _ in timed)
    lines += [head, "-" * len(head)]
    for k in kinds:
        cells = []
        for key, _, _, _ in timed:
            sp = [bench.noise(k, r, key) for r in bench.scale_rows()]
            sp = [x for x in sp if x is not None and not math.isinf(x)]
            cells.append("{:>15}".format("{} / {}".format(fmt_noise(median(sp)), fmt_noise(max(sp)))
                                         if sp else "-"))
        lines.append("{:<8} {:>5}  ".format("6.1" if k == "base" else k, bench.boots[k]) + " ".join(cells))
    lines.append("(each cell: median / largest over the rows of (max - min) / median over the boots;")
    lines.append("the table's noise of a count is its max - min in its own unit)")
    return lines


def above_floor(bench, kind, key):
    """Per boot: the floor row's @key less the same boot's untouched BAR munmap
    of the same rounds."""
    a = bench.values(kind, FLOOR_ROW, key)
    u = bench.values(kind, FLOOR_ROW, "bar_untouched_again_munmap_us")
    return [x - y for x, y in zip(a, u)] if len(a) == len(u) else []


def fmt_above(xs):
    """+median us [min..max] of per-boot differences."""
    return "{:+.1f} us [{:+.1f}..{:+.1f}]".format(median(xs), min(xs), max(xs))


def floor_table(bench, kinds):
    """The munmap floor per kernel: medians over the boots, with their noise."""
    if not any(bench.values(k, FLOOR_ROW, FLOOR_METRICS[0][0]) for k in kinds):
        return []
    names = ["6.1" if k == "base" else k for k in kinds]
    lines = ["== Floors and the control: the kernel's own paths (median of each boot's calls)",
             "A row's munmap is the munmap floor plus its leaves and a full TLB flush; a first",
             "access is a fault (the write-fault floor: entry, fault path, one PTE) plus the",
             "BAR's leaf.",
             "The series changes none of these paths but the teardown of the BAR's leaves in the",
             "two \"written\" munmaps. The rows' first access writes to mappings",
             "made first; \"after munmap\" writes to each right after unmapping the one before."]
    if any(bench.values(k, FLOOR_ROW, "dax_munmap_us") for k in kinds):
        lines += ["DAX 1G: device DAX with 1 GiB leaves, which 6.1 maps without the series (x86_64):",
                  "what 6.1's own fault and munmap paths cost a PUD leaf against 6.12's. DAX 1G procs:",
                  "the munmap phase of the processes row with each process unmapping one such leaf",
                  "instead of the BAR, before any BAR is mapped, after the last row and 2 s later."]
    lines += ["{:<32}".format("") + "".join("{:>16}".format(n) for n in names),
              "-" * (32 + 16 * len(kinds))]
    for key, label, unit in FLOOR_METRICS:
        if not any(bench.values(k, FLOOR_ROW, key) for k in kinds):
            continue  # the device DAX control exists on x86_64 only
        cells = []
        for k in kinds:
            m, s = bench.med(k, FLOOR_ROW, key), bench.noise(k, FLOOR_ROW, key)
            cells.append("{:>16}".format("-" if m is None else "{:.{}f} {} [{}]".format(
                m, 2 if m < 10 else 1, unit, fmt_noise(s))))
        lines.append("{:<32}".format(label) + "".join(cells))
        if key in dict(ABOVE_FLOOR):
            cells = []
            for k in kinds:
                xs = above_floor(bench, k, key)
                cells.append("{:>16}".format("{:+.1f} us".format(median(xs)) if xs else "-"))
            lines.append("{:<32}".format("  less the untouched munmap") + "".join(cells))
    lines.append("")
    return lines


def goals(bench, peer, arch):
    out = []
    rows = bench.scale_rows()

    def verdict(ok):
        return "met" if ok else "NOT MET"

    # 1. As good as the peer everywhere, within noise.
    if peer:
        behind, steady, compared, nbehind = [], [], 0, 0
        pairs = [(r, SCALE_METRICS) for r in rows] + [(r, ALIGN_METRICS) for r in bench.align_rows()]
        for row, metrics in pairs:
            for key, label, _, _ in metrics:
                r = bench.not_worse("series", peer, row, key)
                if r is None:
                    continue
                compared += 1
                vs, vp = bench.values("series", row, key), bench.values(peer, row, key)
                every_boot = min(vs) > max(vp)
                line = "  {:<13} {:<20} series {} [{}..{}] vs {} {} [{}..{}]: {} ({} noise{{}})".format(
                    row, label, fmt(median(vs), MS), fmt(min(vs), MS),
                    fmt(max(vs), MS), peer, fmt(median(vp), MS),
                    fmt(min(vp), MS), fmt(max(vp), MS), fmt_ratio(r[1], 1),
                    "+{:.0f}".format(r[2]) if key in COUNTS else fmt_noise(r[2]))
                if r[0] and key not in COUNTS and every_boot:
                    # Within the spread, but no boot of the series was as fast as the slowest of the peer.
                    steady.append(line.format(""))
                if not r[0]:
                    nbehind += 1
                    behind.append(line.format("; every boot behind" if every_boot else ""))
                    fs = bench.med("series", FLOOR_ROW, "bar_untouched_munmap_us")
                    fp = bench.med(peer, FLOOR_ROW, "bar_untouched_munmap_us")
                    ss = bench.med("series", FLOOR_ROW, "syscall_us")
                    sp = bench.med(peer, FLOOR_ROW, "syscall_us")
                    ms = bench.med("series", FLOOR_ROW, "minor_fault_us")
                    mp = bench.med(peer, FLOOR_ROW, "minor_fault_us")
                    if key == "first_access_us" and None not in (ss, sp, ms, mp):
                        behind.append("  {:<13} {:<20} (floors: system call series {:.2f} us vs {} {:.2f} us,"
                                      " write fault {:.2f} us vs {:.2f} us; the gap is {:.2f} us)".format(
                                          "", "", ss, peer, sp, ms, mp, median(vs) - median(vp)))
                    # No leaf fits: the series' first fault in a 2 MiB block maps the 64 KiB
                    # around it and the next the rest of the block (vfio/pci), where the
                    # peer maps one PTE per fault.
                    lv = bench.leaves("series", row).split("/")
                    fps, fpp = bench.med("series", row, "faults"), bench.med(peer, row, "faults")
                    pps, ppp = bench.med("series", row, "populate_ms"), bench.med(peer, row, "populate_ms")
                    if (key == "first_access_us" and len(lv) == 3 and lv[:2] == ["0", "0"] and lv[2] != "0"
                            and None not in (fps, fpp, pps, ppp)):
                        behind.append("  {:<13} {:<20} (no leaf fits: the series' first fault maps the PTEs of the"
                                      " 64 KiB around it; populating it all: {:.0f} faults and {:.2f} ms"
                                      " vs {} {:.0f} faults and {:.2f} ms)".format(
                                          "", "", fps, pps, peer, fpp, ppp))
                    if key == "munmap_ms" and fs is not None and fp is not None:
                        behind.append("  {:<13} {:<20} (munmap floor, untouched BAR: series {:.1f} us vs {} {:.1f} us;"
                                      " the gap is {:.0f} us, the floor's {:.0f} us per munmap)".format(
                                          "", "", fs, peer, fp, 1000 * (median(vs) - median(vp)), fs - fp))
                        ws = above_floor(bench, "series", "bar_written_munmap_us")
                        wp = above_floor(bench, peer, "bar_written_munmap_us")
                        if ws and wp:
                            behind.append("  {:<13} {:<20} (the 2 GiB BAR written every 4 KiB, less the untouched"
                                          " munmap: series {} vs {} {})".format(
                                              "", "", fmt_above(ws), peer, fmt_above(wp)))
                    es = bench.med("series", FLOOR_ROW, "procs_spin_ms")
                    ep = bench.med(peer, FLOOR_ROW, "procs_spin_ms")
                    ws, wp = bench.med("series", FLOOR_ROW, "spin_ms"), bench.med(peer, FLOOR_ROW, "spin_ms")
                    procs = bench.med("series", row, "procs") or 1
                    if procs > 1 and key not in COUNTS and None not in (es, ep, ws, wp):
                        behind.append("  {:<13} {:<20} (floor, fixed user work in every process at once:"
                                      " series {:.2f} ms vs {} {:.2f} ms; alone {:.2f} vs {:.2f} ms)".format(
                                          "", "", es, peer, ep, ws, wp))
                    # The same phase with device DAX leaves, which 6.1 maps itself.
                    cs = [bench.med(k, FLOOR_ROW, c) for k in ("series", peer)
                          for c in ("dax_procs_before_ms", "dax_procs_after_ms", "dax_procs_later_ms")]
                    if procs > 1 and key == "munmap_ms" and None not in cs[:2] + cs[3:5]:
                        later = ("" if cs[2] is None or cs[5] is None else
                                 "; 2 s later series {:.2f} vs {} {:.2f} ms".format(cs[2], peer, cs[5]))
                        behind.append("  {:<13} {:<20} (control, every process unmapping a device DAX 1 GiB leaf"
                                      " instead: series {:.2f} ms before the BARs, {:.2f} ms after the rows;"
                                      " {} {:.2f} and {:.2f} ms{})".format("", "", cs[0], cs[1], peer, cs[3], cs[4],
                                                                         later))
                    dkey = {"first_access_us": "dax_first_us", "munmap_ms": "dax_munmap_us"}.get(key)
                    db = bench.med("base", FLOOR_ROW, dkey) if dkey else None
                    dp = bench.med(peer, FLOOR_ROW, dkey) if dkey else None
                    if db is not None and dp is not None:
                        behind.append("  {:<13} {:<20} (control, device DAX 1 GiB leaf without the series:"
                                      " 6.1 {:.2f} us vs {} {:.2f} us)".format("", "", db, peer, dp))
        out.append("[{}] series ahead of or equal to {} on every row within noise ({} numbers compared{})".format(
            verdict(compared and not nbehind), peer, compared,
            "; behind on {}:".format(nbehind) if nbehind else ""))
        out += behind
        if steady:
            out.append("  within noise, but behind in every boot ({}):".format(len(steady)))
            out += steady
        # 1b. The same for what the series does in a munmap, apart from the
        # kernel's own munmap path (which it does not change).
        parts, ok, have = [], True, False
        for key, label in ABOVE_FLOOR:
            xs, xp = above_floor(bench, "series", key), above_floor(bench, peer, key)
            if not xs or not xp:
                continue
            have = True
            tol = max(max(xs) - min(xs), max(xp) - min(xp))
            ok = ok and median(xs) <= median(xp) + tol
            parts.append("{} series {} vs {} {}".format(label, fmt_above(xs), peer, fmt_above(xp)))
        if have:
            fs = bench.values("series", FLOOR_ROW, "bar_untouched_munmap_us")
            fp = bench.values(peer, FLOOR_ROW, "bar_untouched_munmap_us")
            fb = bench.values("base", FLOOR_ROW, "bar_untouched_munmap_us")
            out.append("[{}] series' munmap of the 2 GiB BAR's leaves, less its kernel's untouched munmap,"
                       " no dearer than {}'s within noise (the larger max - min over the boots):".format(
                           verdict(ok), peer))
            out.append("  " + "; ".join(parts))
            if fs and fp:
                out.append("  (the untouched munmap itself, the kernel's own munmap path: series {:.1f} us,"
                           " {} {:.1f} us{})".format(median(fs), peer, median(fp),
                                                     ", 6.1 {:.1f} us".format(median(fb)) if fb else ""))
    # 2. >= 100x ahead of 6.1 on the 1 GiB-aligned 2 GiB BAR.
    row = "1x2G"
    for key, label in (("first_access_us", "first access"), ("munmap_ms", "munmap"),
                       ("map_dma_ms", "MAP_DMA")):
        vb, vs = bench.med("base", row, key), bench.med("series", row, key)
        if vb is None or vs is None:
            out.append("[n/a] series >= 100x ahead of 6.1 on {} of a 1 GiB-aligned 2 GiB BAR: no numbers".format(label))
            continue
        x = vb / vs if vs else math.inf
        out.append("[{}] series >= 100x ahead of 6.1 on {} of a 1 GiB-aligned 2 GiB BAR: {:.0f}x ({} vs {})".format(
            verdict(x >= 100), label, x, fmt(vs, "{:.2f}"), fmt(vb, "{:.2f}")))
        # Short of it on munmap: what every kernel's munmap of leaves costs before them.
        fm = bench.med("series", FLOOR_ROW, "bar_untouched_munmap_us")
        ff = bench.med("series", FLOOR_ROW, "tlb_flush_us")
        if key == "munmap_ms" and x < 100 and fm is not None and ff is not None:
            out.append("  (series floors: munmap of the untouched BAR {:.0f} us, a full TLB flush {:.0f} us;"
                       " 100x of 6.1 is {:.0f} us)".format(fm, ff, 1000 * vb / 100))
        # The same BAR touched every 2 MiB: what does not follow the pages touched.
        sb, ss = bench.med("base", row + "-sparse", key), bench.med("series", row + "-sparse", key)
        if key == "munmap_ms" and sb and ss:
            out.append("  (touched every 2 MiB instead of every 4 KiB ({}-sparse): {:.0f}x, {} vs {})".format(
                row, sb / ss, fmt(ss, "{:.2f}"), fmt(sb, "{:.2f}")))
    # 3. Faults and page-table memory flat in BAR size.
    singles = [(size_gib(r), r) for r in rows if size_gib(r)]
    if singles:
        # x86_64: 1 GiB PUD leaves; arm64: 2 MiB PMD leaves, one PMD table page per GiB.
        per_gib_faults, per_gib_kb = (1, 0) if arch == "x86_64" else (512, 4)
        details, ok = [], True
        for gib, r in sorted(singles):
            f, kb = bench.med("series", r, "faults"), bench.med("series", r, "vmpte_kB")
            if f is None or kb is None:
                continue
            good = f <= per_gib_faults * gib + 1 and kb <= per_gib_kb * gib + 8
            ok &= good
            details.append("{} {:.0f} faults/{:.0f} kB".format(r, f, kb))
        out.append("[{}] series faults and page-table memory flat in BAR size (at most {} fault(s) and {} kB per GiB, plus one fault and 8 kB): {}".format(
            verdict(ok and details), per_gib_faults, per_gib_kb, ", ".join(details)))
    # 4. 64 GiB MAP_DMA + UNMAP_DMA under 10 ms (x86_64).
    if arch == "x86_64":
        v = bench.med("series", "1x64G", "dma_ms")
        if v is None:
            out.append("[n/a] series MAP_DMA + UNMAP_DMA of a 64 GiB BAR under 10 ms: no 64 GiB row")
        else:
            out.append("[{}] series MAP_DMA + UNMAP_DMA of a 64 GiB BAR under 10 ms: {:.2f} ms (MAP {:.2f}, UNMAP {:.2f})".format(
                verdict(v < 10), v, bench.med("series", "1x64G", "map_dma_ms"),
                bench.med("series", "1x64G", "unmap_dma_ms")))
    # 5. DESIGN.md's fallback rule: where no leaf fits, populating the BAR costs
    # no more than on 6.1 (which maps the whole vma in its first fault).
    row = "1M-skewed"
    r = bench.not_worse("series", "base", row, "populate_ms")
    if r is not None:
        vs, vb = bench.values("series", row, "populate_ms"), bench.values("base", row, "populate_ms")
        out.append("[{}] series populate of the 2 GiB BAR where no leaf fits ({}) no dearer than 6.1 within noise:"
                   " {} [{}..{}] vs {} [{}..{}] ms: {} ({} noise; faults {} vs {}){}".format(
                       verdict(r[0]), row, fmt(median(vs), MS), fmt(min(vs), MS), fmt(max(vs), MS),
                       fmt(median(vb), MS), fmt(min(vb), MS), fmt(max(vb), MS), fmt_ratio(r[1], 1),
                       fmt_noise(r[2]), fmt(bench.med("series", row, "faults"), "{:.0f}"),
                       fmt(bench.med("base", row, "faults"), "{:.0f}"),
                       # Met only through the spread (one slow boot of either kernel widens it): say so.
                       "; within noise only: the series' median is {:.0f}% above 6.1's".format(
                           100 * (r[1] - 1)) if r[0] and r[1] > 1 else
                       "; every boot behind" if min(vs) > max(vb) else ""))
    return out


def plot(bench, peer, path, arch, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator

    singles = sorted((size_gib(r), r) for r in bench.scale_rows() if size_gib(r))
    if not singles:
        return False
    metrics = [m for m in SCALE_METRICS if m[0] != "dma_ms"]
    # The peer is drawn first, dashed with hollow markers, so that the series
    # stays visible where the two are equal.
    kinds = [("base", "6.1 base", "#d62728", "o"), ("series", "6.1 + series", "#1f77b4", "s")]
    if peer:
        kinds.insert(0, (peer, peer + " (Debian)", "#2ca02c", "^"))
    ncol = 4
    nrow = math.ceil(len(metrics) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.6 * nrow), squeeze=False)
    xs_all = [g for g, _ in singles]
    for i, (key, label, unit, _) in enumerate(metrics):
        ax = axes[i // ncol][i % ncol]
        floor = None
        series_pts = []
        for kind, name, color, marker in kinds:
            xs, ys, lo, hi = [], [], [], []
            for gib, row in singles:
                v = bench.values(kind, row, key)
                if not v:
                    continue
                xs.append(gib)
                ys.append(statistics.median(v))
                lo.append(min(v))
                hi.append(max(v))
            if xs:
                series_pts.append((name, color, marker, xs, ys, lo, hi))
        positives = [y for _, _, _, _, ys, lo, _ in series_pts for y in ys + lo if y > 0]
        # Zero (no page tables, say) cannot sit on a log axis: draw it at a floor and say so.
        floor = min(positives) / 4 if positives else 0.1
        if key in COUNTS:
            floor = min(floor, 0.5)
        for name, color, marker, xs, ys, lo, hi in series_pts:
            yp = [y if y > 0 else floor for y in ys]
            err = [[max(y - l, 0) if y > 0 else 0 for y, l in zip(ys, lo)],
                   [max(h - y, 0) if y > 0 else 0 for y, h in zip(ys, hi)]]
            hollow = name.startswith(peer) if peer else False
            ax.errorbar(xs, yp, yerr=err, color=color, marker=marker, markersize=9 if hollow else 5,
                        capsize=3, linewidth=1.5, linestyle="--" if hollow else "-",
                        markerfacecolor="none" if hollow else color, label=name)
            for x, y in zip(xs, ys):
                if y == 0:
                    ax.annotate("0", (x, floor), textcoords="offset points", xytext=(4, 2),
                                color=color, fontsize=8)
        if key == "populate_ms":
            ax.text(0.97, 0.04, "2 GiB: every 4 KiB touched\n8-64 GiB: every 2 MiB", ha="right",
                    va="bottom", transform=ax.transAxes, fontsize=8, color="#444444")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(FixedLocator(xs_all))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels(["{:g}".format(x) for x in xs_all])
        ax.set_xlabel("BAR size (GiB)")
        ax.set_ylabel(unit if unit else "count")
        ax.set_title(label + (" (" + unit + ")" if unit else ""), fontsize=11)
        ax.grid(True, which="major", alpha=0.35)
        ax.grid(True, which="minor", alpha=0.12)
    # The last cell: legend and how to read the panels.
    for j in range(len(metrics), nrow * ncol):
        ax = axes[j // ncol][j % ncol]
        ax.axis("off")
    legend_ax = axes[(nrow * ncol - 1) // ncol][(nrow * ncol - 1) % ncol]
    handles, labels = axes[0][0].get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: ["6.1 base", "6.1 + series"].index(labels[i])
                   if labels[i] in ("6.1 base", "6.1 + series") else 2)
    legend_ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="upper left",
                     fontsize=10, frameon=False)
    boots = ", ".join("{} {}".format("6.1" if k == "base" else k, bench.boots[k]) for k in bench.kinds)
    legend_ax.text(0.0, 0.55,
                   "median of the boots ({}),\nbars: min to max\n"
                   "2 GiB BARs touched every 4 KiB,\nlarger ones every 2 MiB\n"
                   "0 is drawn at the bottom of its panel\n"
                   "DMA: vfio type1 behind the vIOMMU".format(boots),
                   transform=legend_ax.transAxes, fontsize=9, va="top")
    fig.suptitle(title, fontsize=13)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="the table and the goals (text)")
    ap.add_argument("--plot", help="the plot (PNG), cost against BAR size")
    ap.add_argument("--json", help="every number of every boot")
    ap.add_argument("--peer", default="6.12", help="the peer kernel's KIND ('none': without one)")
    ap.add_argument("--arch", default="x86_64")
    ap.add_argument("--note", action="append", default=[], help="a line for the report's head")
    ap.add_argument("runs", nargs="+")
    a = ap.parse_args()
    peer = None if a.peer in ("", "none") else a.peer
    kinds = ["base", "series"] + ([peer] if peer else [])
    bench = Bench(a.runs, kinds)
    if not any(bench.boots.values()):
        print("bench.py: no BENCH numbers in {}".format(" ".join(a.runs)), file=sys.stderr)
        return 1
    if len(bench.clocks) > 1:
        print("bench.py: these boots ran on different clocks (icount shift {}): one report per clock".format(
            ", ".join(sorted(c or "none" for c in bench.clocks))), file=sys.stderr)
        return 1
    shift = next(iter(bench.clocks))

    out = []
    out.append("Huge pfnmaps benchmark, {}: 6.1 base, 6.1 + series{}; boots: {}".format(
        a.arch, ", " + peer if peer else "",
        ", ".join("{} {}".format("6.1" if k == "base" else k, bench.boots[k]) for k in kinds)))
    out += a.note
    if shift:
        out.append("Clock: QEMU -icount shift={0}: the guest's clocks advance {1} ns per instruction it runs,".format(
            shift, 1 << int(shift)))
        out.append("so every time below counts instructions ({} per us), whatever the host's load or".format(
            "{:g}".format(1000 / (1 << int(shift)))))
        out.append("where TCG places its translated code; cache and TLB misses cost nothing in it.")
    out.append("Numbers are medians over the boots; noise is (max - min) / median over the boots.")
    out.append("Ratios below 1 mean the series costs less (series/base 1/100 = 100x faster).")
    out.append("")
    out.append("== Scale: every mapping 1 GiB-aligned, vfio type1 behind the vIOMMU")
    out.append("touch: the benchmark writes every 4 KiB of a 2 GiB BAR, every 2 MiB of a larger one")
    out.append("(its host backing is a sparse tmpfs file, where each 4 KiB touched costs a host page);")
    out.append("every BAR is touched that way once, untimed, before the rows (the first also")
    out.append("DMA-mapped and unmapped, so that no row is the first to run those paths).")
    out.append("first access: median of 7 fresh mappings, all made first, then each written once,")
    out.append("just before the row's own mapping (a single write under TCG measures what came")
    out.append("before it; a write right after a munmap, what the munmap left: see the floors).")
    out.append("NxSIZE: N devices in one process (first access: mean; other times: total);")
    out.append("1xSIZE-Nprocs: N processes mapping one BAR at once (first access: mean; other")
    out.append("times: wall clock of the phase in all of them; faults and VmPTE summed).")
    out.append("")
    out += table(bench, bench.scale_rows(), peer)
    if bench.align_rows():
        out.append("== Alignment: one 2 GiB BAR, every 4 KiB written (populate includes the first fault;")
        out.append("first access as above: median of 7 fresh mappings)")
        out.append("1G-aligned is the boot's first touch of the BAR: its populate includes the host's")
        out.append("first-touch cost (QEMU), alike for every kernel.")
        out += align_table(bench, peer)
        out.append("")
    out += floor_table(bench, kinds)
    out.append("== Noise")
    out += noise_summary(bench, kinds)
    out.append("")
    out.append("== Goals (reported, not enforced)")
    out += goals(bench, peer, a.arch)
    if bench.problems:
        out.append("")
        out.append("== Problems in the boots (their numbers may be wrong)")
        out += ["  " + p for p in bench.problems]
    text = "\n".join(out) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(text)
    sys.stdout.write(text)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"arch": a.arch, "icount_shift": int(shift) if shift else None, "boots": bench.boots, "data": bench.data,
                       "problems": bench.problems}, f, indent=1, sort_keys=True)
    if a.plot:
        try:
            clock = "QEMU TCG, icount: {} ns per instruction".format(1 << int(shift)) if shift else "QEMU TCG"
            if plot(bench, peer, a.plot, a.arch, "vfio BAR mmap cost against BAR size ({}, {})".format(a.arch, clock)):
                print("plot: {}".format(a.plot))
        except ImportError:
            print("bench.py: no matplotlib (Debian's python3-matplotlib): no plot", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
