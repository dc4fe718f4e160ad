#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Check results.py's kernel-log rules against logs whose verdict is known.

The "kernel log clean" result of every boot comes from results.splat_result()
and the entries of known-splats.txt. A rule that lets a real splat through, or
that fails on what known-splats.txt tolerates, changes every boot's verdict, so
each rule is run here on two real excerpts of the rig's console logs
(fixtures/) and on variations of them with a known answer.

It also checks that a boot scripts/run-vm repeated after QEMU lost an EOI
is named so in its result, and fails with that reason when both hung, that
hang_dump.py's lost-EOI verdict (which makes run-vm boot again) holds only
for a vector in service and pending with interrupts on, and
that the failure lines a program prints as it runs reach the
verdict that fails at its end (bar_fuzz reports that way), so that a failed
run in a log cut to its tail says what failed.

Prints one "PASS|FAIL host: kernel-log check: <case>" line per case, the
format of scripts/check's stage results; exits 1 if any case failed.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import results  # noqa: E402


def fixture(name):
    return results.read_lines(os.path.join(HERE, "fixtures", name))


KNOWN = results.load_known_splats(os.path.join(HERE, "known-splats.txt"))
CSD = fixture("csd-lost-ipi.log")          # a lost IPI during the selftest
HUGETLB = fixture("hugetlb-split-warn.log")  # the base's WARN in vm/hugetlb-madvise
QUIET = [l for l in CSD if "rig:" in l or "vfio-noiommu device opened" in l]


def verdict(console):
    """(status of the "kernel log clean" result, how many known splats were named)."""
    res = results.splat_result(console, "run", "t", KNOWN)
    return res[0].status, sum(1 for r in res[1:] if r.status == "SKIP")


def retest(lines, old, new):
    return [l.replace(f"rig: start {old}", f"rig: start {new}") for l in lines]


def after(lines, extra):
    """@lines with @extra inserted before their last line (inside the test)."""
    return lines[:-1] + [f"[   50.000000] {e}" for e in extra] + lines[-1:]


CASES = [
    ("a log without splats passes", QUIET, ("PASS", 0)),
    ("a lost IPI (csd: Detected) during any test is named and tolerated", CSD, ("PASS", 1)),
    ("a CSD lock that stays stuck (csd: Continued) fails",
     after(CSD, ["smp: csd: Continued non-responsive CSD lock (#1) on CPU#1, waiting 10000000000 ns for CPU#00"]),
     ("FAIL", 0)),
    ("the base's hugetlb_split() WARN in vm/hugetlb-madvise is named and tolerated", HUGETLB, ("PASS", 1)),
    ("the same WARN during another test fails", retest(HUGETLB, "vm/hugetlb-madvise", "vm/vfio_huge_pfnmap"),
     ("FAIL", 0)),
    ("a second, unknown splat next to a known one fails",
     after(HUGETLB, ["BUG: Bad rss-counter state mm:00000000d6f1d8e2 type:MM_FILEPAGES val:-512"]), ("FAIL", 0)),
    ("a WARNING fails", after(QUIET, ["------------[ cut here ]------------",
                                       "WARNING: CPU: 1 PID: 181 at mm/huge_memory.c:912 insert_pfn_pud+0x1b0/0x1d0",
                                       "Call Trace:", " <TASK>", " </TASK>",
                                       "---[ end trace 0000000000000000 ]---"]), ("FAIL", 0)),
    ("a bad pmd report fails", after(QUIET, ["mm/pgtable-generic.c:53: pmd_clear_bad: bad pmd 00000000a1b2c3d4(8000000080000e7)"]),
     ("FAIL", 0)),
    ("a page_table_check BUG fails", after(QUIET, ["kernel BUG at mm/page_table_check.c:119!",
                                                   "invalid opcode: 0000 [#1] PREEMPT SMP NOPTI"]), ("FAIL", 0)),
    ("a lockdep report fails", after(QUIET, ["WARNING: possible circular locking dependency detected"]), ("FAIL", 0)),
    ("a stack dump without a headline fails", after(QUIET, ["Call Trace:", " <TASK>", " dump_stack_lvl+0x33/0x42",
                                                            " </TASK>"]), ("FAIL", 0)),
    ("a splat before the first test (boot) fails",
     ["[    0.500000] WARNING: CPU: 0 PID: 1 at arch/x86/mm/pgtable.c:700 pud_set_huge+0x50/0x60"] + QUIET,
     ("FAIL", 0)),
    ("timestamps are not part of the match",
     [l.split("] ", 1)[1] if l.startswith("[") else l for l in HUGETLB], ("PASS", 1)),
]


# A program that reports its failures as it runs and its verdicts at the end
# (bar_fuzz): the failed verdict must carry the failure lines, the others none.
FUZZ_TAP = [
    "TAP version 13",
    "    TAP version 13",
    "    1..3",
    "    # bar_fuzz: seed 7",
    "    # FAIL behaviour (thread 1, mremap, pid 9): mremap (move) of a 3-page mapping: File exists [mremap move]",
    "    # ops mremap 10",
    "    # RESULT fuzz: seed=7 signal_failures=0 behaviour_failures=1",
    "    ok 1 the worker ran to the end (exit status 0)",
    "    not ok 2 SIGBUS and SIGSEGV exactly where due; every call behaved",
    "    ok 3 no thread stuck in an op",
    "not ok 1 fuzz/bar_fuzz # exit=1",
]


def explained():
    """True when the failure lines reach the failed verdict, and only it."""
    res = [r for node in results.parse_tap(FUZZ_TAP) for r in results.leaves(node, "")]
    bad = [r for r in res if r.status == "FAIL"]
    return (len(res) == 3 and len(bad) == 1 and
            any("File exists" in d for d in bad[0].detail) and
            any("RESULT fuzz" in d for d in bad[0].detail) and
            not any(r.detail for r in res if r.status == "PASS"))


def retried_results(scenario, reason, test, bad):
    """The guest results of a boot that scripts/run-vm repeated for @reason,
    once with the second boot done and once with it ended as @bad."""
    import tempfile
    got = []
    with tempfile.TemporaryDirectory() as run:
        for guest in ("done", bad):
            with open(os.path.join(run, "meta.env"), "w") as f:
                f.write(f"ARCH=x86_64\nVARIANT=normal\nKIND=series\nSCENARIO={scenario}\nRETRIED={reason}\n"
                        f"GUEST={guest}\n")
            with open(os.path.join(run, "console.log"), "w") as f:
                f.write(f"[    1.0] rig: start {test}\n")
            with open(os.path.join(run, "results.log"), "w") as f:
                f.write("TAP version 13\n" + (f"ok 1 {test}\n1..1\nRIG-DONE\n" if guest == "done" else ""))
            res, _ = results.run_results(run, None, os.path.dirname(os.path.dirname(HERE)))
            got += [r for r in res if "ran its tests to the end" in r.name]
    return got


def retried():
    """A boot that scripts/run-vm repeated after a lost EOI or a death in the
    nested KVM test: its guest result names the first boot; when both
    failed, the reason is the EOI or the nested test."""
    got = retried_results("demo", "lost-eoi", "vfio/smoke", "hung")
    ok = (len(got) == 2 and got[0].status == "PASS" and "lost an EOI in the first" in got[0].name
          and got[1].status == "FAIL" and any("both boots stopped" in d for d in got[1].detail))
    got = retried_results("nested", "nested", "nested/qemu_vfio_kvm", "oopsed")
    return (ok and len(got) == 2 and got[0].status == "PASS" and "died while its nested KVM guest ran" in got[0].name
            and got[1].status == "FAIL" and any("both boots' kernels died" in d for d in got[1].detail))


def oops_stall():
    """scripts/run-vm stops a guest early only when its kernel oopsed and
    then reported a stall or a recursive fault (fixtures/oops-stall.log, a
    boot that otherwise waited 20 minutes for its time limit); an oops that
    the tests survive, or a stall report alone, is left to run."""
    import subprocess
    import tempfile
    top = os.path.dirname(os.path.dirname(HERE))
    with open(os.path.join(top, "scripts", "run-vm")) as f:
        fn = re.search(r"^oops_then_stall\(\) \{\n.*?^\}\n", f.read(), re.M | re.S).group(0)
    with open(os.path.join(HERE, "fixtures", "oops-stall.log")) as f:
        dead = f.read().splitlines()
    oops = [l for l in dead if "rcu:" not in l and "Fixing recursive" not in l]
    stall = ["[   30.5] rcu: INFO: rcu_sched detected stalls on CPUs/tasks:"]
    want = {"the oops, a recursive fault and a stall": (dead, True),
            "an oops alone": (oops, False),
            "a stall report alone": (QUIET + stall, False),
            "a stall before the oops": (QUIET + stall + oops, False),
            "an oops, then a stall": (QUIET + oops + stall, True),
            "no log": (None, False)}
    for name, (lines, stop) in want.items():
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "console.log")
            if lines is not None:
                with open(log, "w") as f:
                    f.write("\n".join(lines) + "\n")
            got = subprocess.run(["bash", "-c", fn + 'oops_then_stall "$1"', "-", log]).returncode == 0
        if got != stop:
            print(f"# {name}: stops {got}, want {stop}")
            return False
    return True


class FakeMonitor:
    """QEMU's monitor as hang_dump.py reads it, from a running x86_64 guest's
    replies (fixtures/monitor-x86-*.txt), with the APIC's ISR and IRR, and
    the interrupt flag, set by the case."""

    def __init__(self, isr, irr, interrupts_on):
        with open(os.path.join(HERE, "fixtures", "monitor-x86-registers.txt")) as f:
            self.regs = f.read()
        with open(os.path.join(HERE, "fixtures", "monitor-x86-lapic.txt")) as f:
            self.lapic = f.read()
        rfl = "00000246" if interrupts_on else "00000046"
        self.regs = re.sub(r"RFL=[0-9a-f]+", "RFL=" + rfl, self.regs)
        self.lapic = re.sub(r"ISR\t.*", "ISR\t " + isr, re.sub(r"IRR\t.*", "IRR\t " + irr, self.lapic))

    def cmd(self, line):
        if line == "info registers":
            return self.regs
        if line == "info lapic":
            return self.lapic
        if line.startswith("x /1gx"):
            return "ffff88817fc1f280: 0x0000000000000000"
        return ""


def nested_death():
    """scripts/run-vm boots again only when the guest died between the start
    and the end of the nested KVM test: oopsed and stalled, hung, or
    stopped without RIG-DONE."""
    import subprocess
    import tempfile
    top = os.path.dirname(os.path.dirname(HERE))
    with open(os.path.join(top, "scripts", "run-vm")) as f:
        fn = re.search(r"^died_in_nested\(\) \{\n.*?^\}\n", f.read(), re.M | re.S).group(0)
    start, end = "[ 1.9] rig: start nested/qemu_vfio_kvm", "[ 9.1] rig: end nested/qemu_vfio_kvm rc=0"
    want = {"oopsed in the test": ("0", True, [start], False, True),
            "hung in the test": ("124", False, [start], False, True),
            "stopped in the test": ("0", False, [start], False, True),
            "oopsed after the test": ("0", True, [start, end], False, False),
            "hung before the test": ("124", False, [], False, False),
            "finished": ("0", False, [start, end], True, False),
            "finished, no end line": ("0", False, [start], True, False),
            "QEMU failed": ("1", False, [start], False, False)}
    for name, (rc, oopsed, console, done, retry) in want.items():
        with tempfile.TemporaryDirectory() as run:
            with open(os.path.join(run, "console.log"), "w") as f:
                f.write("\n".join(console) + "\n")
            with open(os.path.join(run, "results.log"), "w") as f:
                f.write("TAP version 13\n" + ("RIG-DONE\n" if done else ""))
            if oopsed:
                open(os.path.join(run, "oopsed"), "w").close()
            got = subprocess.run(["bash", "-c", fn + 'RUN=$1 rc=$2 died_in_nested', "-", run, rc]).returncode == 0
        if got != retry:
            print(f"# {name}: boots again {got}, want {retry}")
            return False
    return True


class StackMonitor(FakeMonitor):
    """A vCPU at @rip with fault address @cr2 and @frames on its stack."""

    def __init__(self, rip, cr2, frames):
        super().__init__("(none)", "(none)", False)
        self.regs = re.sub(r"RIP=[0-9a-f]+", "RIP=" + rip, self.regs)
        self.regs = re.sub(r"CR2=[0-9a-f]+", "CR2=" + cr2, self.regs)
        self.frames = frames

    def cmd(self, line):
        if line.startswith("x /512gx"):
            return "\n".join("ffffc90000003e%02x: 0x%016x 0x0000000000000000" % (8 * i, a)
                             for i, a in enumerate(self.frames))
        return super().cmd(line)


def faulting():
    """hang_dump.py's verdict that a vCPU cannot leave the fault path, which
    makes run-vm stop a guest that died without a word: a fault fetching the
    fault handler, or FAULT_DEPTH oopses nested on one stack; a single oops
    on the stack, or RIP = CR2 elsewhere, is not that."""
    import io
    import hang_dump
    names = ["asm_exc_page_fault", "page_fault_oops", "oops_begin", "default_idle"]
    addrs = [0xffffffff81400b00, 0xffffffff81401000, 0xffffffff81402000, 0xffffffff81403000]
    oops = [0xffffffff81401010, 0xffffffff81402008, 0xffffffff81400b22]
    want = {("ffffffff81400b00", "ffffffff81400b00", ()): True,
            ("ffffffff81403010", "0000000000000030", tuple(oops * 3)): True,
            ("ffffffff81403010", "0000000000000030", tuple(oops * 2)): False,
            ("ffffffff81403010", "ffffffff81403010", tuple(oops)): False,
            ("ffffffff81403010", "0000000000000000", ()): False}
    for (rip, cr2, frames), dead in want.items():
        got = hang_dump.faulting(StackMonitor(rip, cr2, list(frames)), [0], addrs, names, io.StringIO())
        if got != dead:
            print(f"# RIP {rip}, CR2 {cr2}, {len(frames) // 3} oopses on the stack: dead {got}, want {dead}")
            return False
    return True


def lost_eoi():
    """hang_dump.py's lost-EOI verdict, which makes run-vm stop and boot again:
    only a vector in service and pending again while interrupts are on."""
    import io
    import tempfile
    import hang_dump
    with tempfile.NamedTemporaryFile("w", suffix=".map", delete=False) as f:
        f.write("0000000000013bc0 D call_single_queue\n")
        sysmap = f.name
    try:
        want = {("236", "236", True): True, ("(none)", "(none)", True): False,
                ("236", "236", False): False, ("236", "(none)", True): False,
                ("(none)", "236", True): False, ("236", "48 236", True): True}
        for (isr, irr, on), lost in want.items():
            got = hang_dump.lost_ipi_check(FakeMonitor(isr, irr, on), [0, 1], sysmap, [], [], io.StringIO())
            if got != lost:
                print(f"# ISR {isr}, IRR {irr}, interrupts {'on' if on else 'off'}: lost EOI {got}, want {lost}")
                return False
        return True
    finally:
        os.unlink(sysmap)


def main():
    failed = 0
    for check, name in ((retried, "a boot repeated after a lost EOI or a death in the nested test says so,"
                                  " and fails when both did"),
                        (lost_eoi, "hang_dump.py finds a lost EOI only in a vector in service and pending,"
                                   " interrupts on"),
                        (explained, "a failed verdict of bar_fuzz shows the failures it printed earlier"),
                        (oops_stall, "run-vm stops a guest whose kernel oopsed and then stalled, and no other"),
                        (nested_death, "run-vm boots again only after a death in the nested KVM test"),
                        (faulting, "hang_dump.py finds a vCPU stuck in the fault path only in nested oopses"
                                   " or a fault on the fault handler")):
        try:
            ok = check()
        except Exception as e:  # a crash is a failed case
            ok = False
            print(f"# {type(e).__name__}: {e}")
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'} host: results: {name}")
    for name, console, want in CASES:
        try:
            got = verdict(console)
        except Exception as e:  # a crash is a failed case, not a silent pass
            got = (f"exception {type(e).__name__}: {e}", 0)
        ok = got == want
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'} host: kernel-log check: {name}"
              + ("" if ok else f": got {got}, want {want}"))
    if not CSD or not HUGETLB:
        print("FAIL host: kernel-log check: fixtures: tests/host/fixtures/*.log are missing")
        failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
