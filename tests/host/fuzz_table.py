#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Summarize bar_fuzz runs (run-vm's fuzz scenario, scripts/fuzz) as a table:
one row per booted kernel with the long random run's seconds, operations,
operations per second and seed, the splats in the whole boot's kernel log,
the data mismatches and other failed checks bar_fuzz counted, the threads it
found stuck in one op, the named cases that passed, and the host's check of
every BAR page in the backing file.

Reads results.log (the guest's TAP), console.log and bar-verify.log of each
run directory given; the fuzzer's numbers come from its "RESULT fuzz:" line.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results import SPLAT, TS, read_lines, read_meta  # noqa: E402

TOP_RESULT = re.compile(r"^(not ok|ok) \d+ (\S+)(.*)$")
NOT_HEADLINES = ("Call Trace:", "------------[ cut here ]------------")


def outputs(lines):
    """The output of each top-level test of a run's TAP: {name: (ok, directive, lines)}."""
    tests, buf = {}, []
    for line in lines:
        m = TOP_RESULT.match(line)
        if not m:
            buf.append(line)
            continue
        tests[m.group(2)] = (m.group(1) == "ok", m.group(3).strip(), buf)
        buf = []
    return tests


def fuzz_numbers(out):
    """Numbers of a bar_fuzz output: the RESULT line's fields and the STUCK lines."""
    nums = {}
    for line in out:
        line = line.strip().lstrip("#").strip()
        if line.startswith("RESULT fuzz:"):
            nums = dict(f.split("=", 1) for f in line.split()[2:] if "=" in f)
    nums["stuck_lines"] = sum("STUCK:" in l for l in out)
    return nums


def splats(console):
    n = 0
    for line in console:
        body = TS.sub("", line)
        if SPLAT.search(body) and not any(h in body for h in NOT_HEADLINES):
            n += 1
    return n


def row(run):
    meta = read_meta(run)
    kernel = f"{meta.get('ARCH', '?')}/{meta.get('VARIANT', '?')}/{meta.get('KIND', '?')}"
    tests = outputs(read_lines(os.path.join(run, "results.log")) or [])
    ok, directive, out = tests.get("fuzz/random", (False, "not run", []))
    nums = fuzz_numbers(out)
    cases = [v for k, v in tests.items() if k.startswith("fuzz/") and k != "fuzz/random"]
    verify = " ".join(read_lines(os.path.join(run, "bar-verify.log")) or ["not checked"])
    guest = meta.get("GUEST", "not-run")
    stuck = str(nums["stuck_lines"])
    if guest in ("hung", "oopsed"):
        stuck += f" (guest {guest})"
    failed = int(nums.get("signal_failures", 0)) + int(nums.get("behaviour_failures", 0)) if nums.get("ops") else "-"
    return [
        kernel,
        nums.get("seconds", "-"),
        nums.get("ops", "-"),
        nums.get("ops_per_s", "-"),
        nums.get("seed", meta.get("SEED", "-")),
        str(splats(read_lines(os.path.join(run, "console.log")) or [])),
        nums.get("mismatches", "-"),
        str(failed),
        stuck,
        f"{sum(c[0] for c in cases)}/{len(cases)}",
        verify.split()[0] if verify.startswith(("PASS", "FAIL")) else verify,
        "PASS" if ok and guest == "done" else f"FAIL ({directive or guest})",
    ]


def main():
    head = ["kernel", "seconds", "ops", "ops/s", "seed", "splats", "mismatches", "failed checks",
            "stuck", "named cases ok", "host page check", "random run"]
    rows = [row(r) for r in sys.argv[1:]]
    width = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    for r in [head] + rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(r, width)).rstrip())
    bad = [r for r in rows if not r[-1].startswith("PASS") or r[10] != "PASS" or r[5] != "0"]
    return 1 if bad or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
