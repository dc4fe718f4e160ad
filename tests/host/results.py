#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the rig's logs into per-test results and the closing count.

For each run directory (scripts/run-vm output) it reads:
  results.log  TAP from the guest test runner (nested TAP of each program)
  console.log  the kernel log: KUnit KTAP results and any kernel splat
  meta.env     what was booted and how the guest ended
  bar-verify.log  the host's check of the BAR backing file
Extra host-side results (series checks) come from --extra files with lines
"PASS name", "FAIL name: why" or "SKIP name: why".

Every result is printed as "PASS|FAIL|SKIP  name"; failures get the lines that
explain them. The last line is "N passed, N failed, N skipped".
"""
import argparse
import json
import os
import re
import sys

TS = re.compile(r"^\[\s*\d+\.\d+\]\s?")
RESULT = re.compile(r"^(?P<indent>\s*)(?P<ok>not ok|ok)\s+(?P<num>\d+)\s*(?:-\s*)?(?P<name>[^#]*?)\s*(?:#\s*(?P<directive>.*))?$")
# What a clean kernel log never contains.
SPLAT = re.compile(
    r"(------------\[ cut here \]------------|WARNING:|BUG:|kernel BUG at|Oops|general protection fault|"
    r"Kernel panic|bad pmd|bad pud|bad pte|Bad page|Bad rss-counter|page_table_check|possible circular locking|"
    r"possible recursive locking|inconsistent lock state|suspicious RCU usage|INFO: task .* blocked|"
    r"soft lockup|hard LOCKUP|rcu_sched self-detected stall|rcu: INFO|UBSAN:|Call Trace:|"
    r"csd: (Detected|Continued) non-responsive)"
)


class Result:
    def __init__(self, name, status, detail=None, why=""):
        self.name, self.status, self.detail, self.why = name, status, detail or [], why


def read_meta(run):
    meta = {}
    try:
        with open(os.path.join(run, "meta.env")) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    meta[k] = v
    except OSError:
        pass
    return meta


def read_lines(path):
    try:
        with open(path, errors="replace") as f:
            return [l.rstrip("\r\n").replace("\r", "") for l in f]
    except OSError:
        return None


def parse_tap(lines):
    """Nested TAP/KTAP into a tree: [(name, ok, directive, children, output)]."""
    root = []
    stack = [(-1, root)]
    pending = {}  # indent -> list of children collected at indent+4
    out = []
    for line in lines:
        m = RESULT.match(line)
        if not m:
            out.append(line)
            continue
        ind = len(m.group("indent"))
        children = pending.pop(ind + 4, [])
        # results deeper than this one that were not closed belong to it as well
        for k in sorted([k for k in pending if k > ind + 4]):
            children.extend(pending.pop(k))
        name = m.group("name").strip() or f"#{m.group('num')}"
        node = (name, m.group("ok") == "ok", (m.group("directive") or "").strip(), children, out)
        out = []
        pending.setdefault(ind, []).append(node)
    top = pending.pop(0, [])
    for k in sorted(pending):
        top.extend(pending[k])
    return top


def status_of(ok, directive):
    d = directive.upper()
    if d.startswith("SKIP"):
        return "SKIP"
    return "PASS" if ok else "FAIL"


def skip_reason(directive):
    """The reason a TAP "# SKIP reason" directive gives, or ""."""
    return directive[4:].lstrip(" :") if directive.upper().startswith("SKIP") else ""


# What a program printed to explain its failures: its "# FAIL ..." lines and
# its "# RESULT ..." summary, wherever they came in its output.
EXPLAIN = re.compile(r"^#?\s*(FAIL|RESULT)\b")


def subtree_output(node):
    name, ok, directive, children, out = node
    lines = []
    for c in children:
        lines += subtree_output(c)
    return lines + out


def leaves(node, prefix, explain=()):
    """The leaf results of @node. A failed leaf's detail is its own output;
    @explain, the explaining lines of the program it belongs to, is added
    when they are not in that output already (a program that checks its
    invariants as it runs and reports the verdicts at the end)."""
    name, ok, directive, children, out = node
    full = f"{prefix}/{name}" if prefix else name
    if not children:
        detail = [l.strip() for l in out if l.strip()][-15:]
        detail += [l for l in explain if l not in detail]
        yield Result(full, status_of(ok, directive), detail if not ok else [], skip_reason(directive))
        return
    if not explain:
        explain = [l.strip() for l in subtree_output(node) if EXPLAIN.match(l.strip())]
        # The first failures and the summaries; a run that fails
        # thousands of times says so in its RESULT line.
        explain = [l for l in explain if "FAIL" in l.split()[:2]][:10] + \
                  [l for l in explain if "RESULT" in l.split()[:2]][-3:]
    any_fail = False
    for c in children:
        for r in leaves(c, full, explain):
            any_fail |= r.status == "FAIL"
            yield r
    if not ok and not any_fail and not directive.upper().startswith("SKIP"):
        yield Result(full, "FAIL", [f"exited with failure ({directive})"] +
                     [l.strip() for l in out if l.strip()][-10:])


def load_baseline(path):
    base = {}
    try:
        with open(path) as f:
            for line in f:
                line = line.split("#", 1)[0].split()
                if len(line) >= 2:
                    base[line[0]] = line[1]
    except OSError:
        pass
    return base


def guest_results(run, meta, label, baseline, expected):
    res = []
    lines = read_lines(os.path.join(run, "results.log")) or []
    seen = set()
    for node in parse_tap(lines):
        name = node[0]
        seen.add(name)
        if name.startswith("vm/") and name in baseline:
            st = status_of(node[1], node[2])
            want = baseline[name]
            out = [l.strip() for l in node[4] if l.strip()][-12:]
            if st == want or (want in ("FAIL", "SKIP") and st == "PASS"):
                note = "" if st == "PASS" else f" (as on the unpatched base: {want})"
                # Skipped here is a skip, whatever the base did; a known base
                # failure that still fails passes as "no regression".
                res.append(Result(f"{label} {name}{note}", "SKIP" if st == "SKIP" else "PASS",
                                  why=skip_reason(node[2])))
            else:
                res.append(Result(f"{label} {name}", "FAIL",
                                  [f"{st} here, {want} on the unpatched base ({node[2]})"] + out))
            continue
        for r in leaves(node, ""):
            r.name = f"{label} {r.name}"
            res.append(r)
    for name in expected:
        if name not in seen:
            res.append(Result(f"{label} {name}", "FAIL", ["did not run (the guest stopped before it)"]))
    return res


def kunit_results(console, label):
    """KUnit prints KTAP into the kernel log during boot."""
    res = []
    body = [TS.sub("", l) for l in console]
    # only the KUnit block: from "KTAP version" to the last result line
    start = next((i for i, l in enumerate(body) if l.startswith("KTAP version") or l.startswith("TAP version")), None)
    if start is None:
        return res
    block = []
    for l in body[start:]:
        if l.startswith("rig: start") or "Run /init" in l or "Freeing unused" in l:
            break
        block.append(l)
    for node in parse_tap(block):
        for r in leaves(node, "kunit"):
            r.name = f"{label} {r.name}"
            res.append(r)
    return res


HEADLINE = re.compile(r"(WARNING:|BUG:|kernel BUG at|Oops|general protection fault|Kernel panic|bad p[mu]d|bad pte|"
                      r"Bad page|Bad rss-counter|page_table_check|possible (circular|recursive) locking|"
                      r"inconsistent lock state|suspicious RCU usage|INFO: task|soft lockup|hard LOCKUP|stall|UBSAN:|"
                      r"csd: (Detected|Continued) non-responsive)")


def load_known_splats(path):
    known = []
    for l in read_lines(path) or []:
        if not l.strip() or l.startswith("#"):
            continue
        parts = l.split("\t")
        if len(parts) >= 2:
            known.append((parts[0], re.compile(parts[1]), parts[2] if len(parts) > 2 else ""))
    return known


def splat_result(console, run, label, known):
    """Fail on any splat, except those known from the unpatched base for the
    test during which they appear (see known-splats.txt)."""
    name = f"{label} kernel log clean (no WARN/BUG/Oops/bad pmd/lockdep)"
    windows = []  # (test, [line indexes])
    test = "boot"
    for i, l in enumerate(console):
        body = TS.sub("", l)
        m = re.match(r"rig: start (\S+)", body)
        if m:
            test = m.group(1)
            continue
        if SPLAT.search(body):
            if not windows or windows[-1][0] != test:
                windows.append((test, []))
            windows[-1][1].append(i)
    bad, tolerated = [], []
    for test, idx in windows:
        heads = [TS.sub("", console[i]) for i in idx if HEADLINE.search(TS.sub("", console[i]))]
        ok = bool(heads) and all(any(t in (test, "*") and rx.search(h) for t, rx, _ in known) for h in heads)
        (tolerated if ok else bad).append((test, idx))
    if not bad:
        res = [Result(name, "PASS")]
        for test, idx in tolerated:
            heads = [TS.sub("", console[i]) for i in idx if HEADLINE.search(TS.sub("", console[i]))]
            why = next(w for t, rx, w in known if t in (test, "*") and any(rx.search(h) for h in heads))
            res.append(Result(f"{label} known splat during {test} (tests/host/known-splats.txt): {why[:80]}",
                              "SKIP"))
        return res
    test, idx = bad[0]
    first = idx[0]
    ctx = console[max(0, first - 2): first + 25]
    return [Result(name, "FAIL", [f"{sum(len(i) for _, i in bad)} suspicious lines in {run}/console.log; "
                                  f"the first, during {test}:"] + ctx)]


def numbers(run):
    lines = read_lines(os.path.join(run, "results.log")) or []
    return [l.strip().lstrip("#").strip() for l in lines if "RESULT " in l]


def baseline_file(top, arch, variant=None):
    """The selftests/vm results of the unpatched base for an architecture:
    vm-selftests[-ARCH][-VARIANT].baseline, the variant's own file where its
    results differ from the normal kernel's (make baseline VARIANT=distro)."""
    stem = "vm-selftests" if arch in (None, "x86_64") else f"vm-selftests-{arch}"
    if variant and variant != "normal":
        own = os.path.join(top, "tests", "guest", f"{stem}-{variant}.baseline")
        if os.path.exists(own):
            return own
    return os.path.join(top, "tests", "guest", f"{stem}.baseline")


def run_results(run, baseline_path, top):
    meta = read_meta(run)
    label = f"{meta.get('ARCH', '?')}/{meta.get('VARIANT', '?')}/{meta.get('KIND', '?')}/{meta.get('SCENARIO', '?')}:"
    baseline = load_baseline(baseline_path or baseline_file(top, meta.get("ARCH"), meta.get("VARIANT")))
    res = []
    guest = meta.get("GUEST", "not-run")
    console_path = os.path.join(run, "console.log")
    console = read_lines(console_path) or []
    why = {
        "hung": f"the guest did not finish in time; console log: {console_path}",
        "crashed": f"the guest stopped before its tests ended; console log: {console_path}",
        "oopsed": (f"the guest's kernel died (an oops then a stall, or a vCPU stuck in its fault path),"
                   f" and was stopped before the time limit;"
                   f" console log: {console_path}, vCPU state: {os.path.join(run, 'hang-dump.log')}"),
        "qemu-error": f"QEMU failed: {os.path.join(run, 'qemu.out')}",
        "not-run": "the VM was not booted",
    }
    name = f"{label} guest ran its tests to the end"
    if meta.get("RETRIED") == "lost-eoi":
        # scripts/run-vm booted again after QEMU lost an interrupt's EOI.
        first = os.path.join(run, "lost-eoi-boot")
        name += f" (in a second boot: QEMU lost an EOI in the first, {first})"
        why["hung"] = (f"both boots stopped on an interrupt whose EOI QEMU lost (TCG); console log: {console_path},"
                       f" vCPU state: {os.path.join(run, 'hang-dump.log')}, the first boot: {first}")
    elif meta.get("RETRIED") == "nested":
        # scripts/run-vm booted again after the kernel died during the nested KVM test.
        first = os.path.join(run, "nested-boot")
        name += (f" (in a second boot: the first boot's kernel died while its nested KVM guest ran,"
                 f" as the unpatched kernel's does under TCG; {first})")
        for g in ("hung", "oopsed", "crashed"):
            why[g] = (f"both boots' kernels died while the nested KVM guest ran ({g}); console log: {console_path},"
                      f" the first boot: {first}")
    res.append(Result(name, "PASS" if guest == "done" else "FAIL",
                      [] if guest == "done" else [why.get(guest, guest)] + console[-20:]))
    expected = []
    lst = os.path.join(top, "build", "out",
                       f"{meta.get('ARCH')}-{meta.get('VARIANT')}-{meta.get('KIND')}", "initramfs", "tests",
                       f"{meta.get('SCENARIO')}.list")
    for l in read_lines(lst) or []:
        if l.strip() and not l.startswith("#"):
            expected.append(l.split()[0])
    res += guest_results(run, meta, label, baseline, expected)
    if meta.get("SCENARIO") == "noiommu":
        kunit = kunit_results(console, label)
        if not kunit and guest != "not-run":
            kunit = [Result(f"{label} kunit results present in the kernel log", "FAIL",
                            ["no KTAP output from KUnit found"])]
        res += kunit
    res += splat_result(console, run, label, load_known_splats(os.path.join(top, "tests", "host", "known-splats.txt")))
    verify = read_lines(os.path.join(run, "bar-verify.log"))
    if verify is not None or (guest == "done" and meta.get("SCENARIO") in ("noiommu", "viommu", "nested")):
        text = " ".join(verify or ["no verification ran"])
        res.append(Result(f"{label} host sees the guest's data pattern in the BAR backing file",
                          "PASS" if text.startswith("PASS") else "FAIL", [] if text.startswith("PASS") else [text]))
    return res, numbers(run)


def extra_results(path):
    res = []
    for l in read_lines(path) or []:
        m = re.match(r"^(PASS|FAIL|SKIP)\s+(.*)$", l)
        if m:
            # "PASS name", "FAIL name: why", "SKIP name: why"; a name may
            # start with a one-word prefix of its own ("series: checkpatch ...").
            text = m.group(2)
            pre = re.match(r"^\S+: ", text)
            pre = pre.group(0) if pre else ""
            name, _, why = text[len(pre):].partition(": ")
            if m.group(1) == "PASS":
                name, why = text, ""
            else:
                name = pre + name
            res.append(Result(name, m.group(1), [why] if why and m.group(1) == "FAIL" else [],
                              why if m.group(1) == "SKIP" else ""))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="*", help="run directories (build/runs/...)")
    ap.add_argument("--extra", action="append", default=[], help="file of PASS/FAIL/SKIP lines")
    ap.add_argument("--baseline", default=None,
                    help="vm selftest baseline file (default: tests/guest/vm-selftests.baseline for x86_64, "
                         "vm-selftests-ARCH.baseline for other architectures, and a -VARIANT one where it exists)")
    ap.add_argument("--json", default=None, help="write all results here")
    ap.add_argument("--record-baseline", default=None,
                    help="write the vm selftest results of the runs to this file (unpatched base)")
    args = ap.parse_args()
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    baseline = args.baseline

    allres, nums = [], []
    for e in args.extra:
        allres += extra_results(e)
    for run in args.runs:
        r, n = run_results(run, baseline, top)
        allres += r
        nums += [(run, x) for x in n]

    if args.record_baseline:
        # Only the selftests/vm programs of the baseline list, not the series' own test.
        listed = {l.split()[0] for l in read_lines(os.path.join(top, "tests", "guest", "vm-selftests.list")) or []
                  if l.strip() and not l.startswith("#")}
        rows, arches = {}, set()
        for run in args.runs:
            arches.add(read_meta(run).get("ARCH", "?"))
            for node in parse_tap(read_lines(os.path.join(run, "results.log")) or []):
                if node[0] in listed:
                    rows[node[0]] = status_of(node[1], node[2])
        with open(args.record_baseline, "w") as f:
            f.write(f"# Results of the selected 6.1 selftests/vm programs on the unpatched base ({', '.join(sorted(arches))})\n")
            f.write("# (written by tests/host/results.py --record-baseline). A test listed PASS\n")
            f.write("# here must pass with the series too.\n")
            for k in sorted(rows):
                f.write(f"{k} {rows[k]}\n")

    for r in allres:
        print(f"{r.status:4}  {r.name}" + (f"  # {r.why}" if r.status == "SKIP" and r.why else ""))
        if r.status == "FAIL":
            for d in r.detail:
                print(f"        | {d}")
    if nums:
        print("\nNumbers reported by the guest:")
        for run, x in nums:
            print(f"  {os.path.basename(run)}: {x}")
    failed = [r for r in allres if r.status == "FAIL"]
    if failed:
        # Again at the end, where a log cut to its tail still shows them.
        print("\nFailed:")
        for r in failed:
            print(f"FAIL  {r.name}")
            for d in r.detail:
                print(f"        | {d}")
    p = sum(r.status == "PASS" for r in allres)
    f = sum(r.status == "FAIL" for r in allres)
    s = sum(r.status == "SKIP" for r in allres)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([r.__dict__ for r in allres], fh, indent=1)
    print()
    print(f"{p} passed, {f} failed" + (f", {s} skipped" if s else ""))
    return 1 if f or not allres else 0


if __name__ == "__main__":
    sys.exit(main())
