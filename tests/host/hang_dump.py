#!/usr/bin/env python3
"""Dump what the vCPUs of a hung guest are doing, through the QEMU monitor.

    hang_dump.py MONITOR_SOCKET SYSTEM_MAP [OUTPUT]
    hang_dump.py --lost-eoi MONITOR_SOCKET SYSTEM_MAP

For each vCPU: its registers, the kernel symbol of its program counter, and
the kernel text addresses found in the 512 words above its stack pointer,
symbolized with System.map (a rough call chain: the kernel is not stopped
between the reads, and stale return addresses show up too). On x86 it also
prints each vCPU's queue of smp_call_function requests next to its interrupt
flag and local APIC state, and names a lost IPI (a queued request on a
vCPU that runs with interrupts enabled while nothing is pending) and a lost
EOI (a vector in service and pending again while interrupts are enabled).
Written to
OUTPUT (default: stdout). The guest is left running.

--lost-eoi only looks for a lost EOI (x86), prints what it found, and exits
3 if some vCPU has one, 0 if none has (scripts/run-vm's watcher).

--faulting only looks for a vCPU that cannot leave the kernel's fault path
(x86): one that faults fetching the page fault handler itself (its RIP is
its CR2, at the handler's entry), or one with at least FAULT_DEPTH oopses
nested on its stack (an oops that faults again while it reports). A kernel
whose page tables lost their kernel half does both, without printing a word.
Prints what it found and exits 5 if some vCPU does, 0 if none does.
"""
import bisect
import re
import socket
import sys
import time


def load_map(path):
    addrs, names = [], []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[1] in "tTwW":
                addrs.append(int(parts[0], 16))
                names.append(parts[2])
    order = sorted(range(len(addrs)), key=addrs.__getitem__)
    return [addrs[i] for i in order], [names[i] for i in order]


def symbolize(addrs, names, a):
    i = bisect.bisect_right(addrs, a) - 1
    if i < 0 or a - addrs[i] > 0x100000:
        return None
    return "%s+%#x" % (names[i], a - addrs[i])


class Monitor:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(20)
        self.s.connect(path)
        self.read_prompt()

    def read_prompt(self):
        buf = b""
        deadline = time.time() + 20
        while not buf.endswith(b"(qemu) ") and time.time() < deadline:
            chunk = self.s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return buf.decode(errors="replace")

    def cmd(self, line):
        self.s.sendall(line.encode() + b"\n")
        out = self.read_prompt()
        # Drop the echoed command line and the prompt; strip terminal escapes.
        out = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", out)
        lines = out.replace("\r", "").split("\n")
        return "\n".join(l for l in lines[1:] if l != "(qemu) ")


def percpu_symbol(path, name):
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == name:
                return int(parts[0], 16)
    return None


def lost_ipi_check(mon, cpus, sysmap, addrs, names, out):
    """x86: a CPU whose smp_call_function queue holds a request while it runs
    with interrupts enabled and its local APIC has nothing pending or in
    service lost an IPI (the sender waits for it forever). Returns whether
    some CPU lost an EOI."""
    lost_eoi = False
    off = percpu_symbol(sysmap, "call_single_queue")
    if off is None:
        return lost_eoi
    for cpu in cpus:
        mon.cmd("cpu %d" % cpu)
        regs = mon.cmd("info registers")
        gs = re.search(r"GS =\w+ ([0-9a-f]+)", regs)
        rfl = re.search(r"RFL=([0-9a-f]+)", regs)
        if not gs or not rfl:
            return lost_eoi
        head = re.findall(r"0x([0-9a-f]{16})", mon.cmd("x /1gx %#x" % (int(gs.group(1), 16) + off)))
        head = int(head[-1], 16) if head else 0
        lapic = mon.cmd("info lapic")
        irr = re.search(r"IRR\s+(.*)", lapic)
        isr = re.search(r"ISR\s+(.*)", lapic)
        irr = irr.group(1).strip() if irr else "?"
        isr = isr.group(1).strip() if isr else "?"
        desc = "empty"
        if head:
            words = re.findall(r"0x([0-9a-f]{16})", mon.cmd("x /4gx %#x" % head))
            func = symbolize(addrs, names, int(words[2], 16)) if len(words) >= 3 else None
            desc = "request at %#x, function %s" % (head, func or "?")
        print("vCPU %d: smp_call_function queue %s; interrupts %s; APIC IRR %s, ISR %s" %
              (cpu, desc, "on" if int(rfl.group(1), 16) & 0x200 else "off", irr, isr), file=out)
        if head and int(rfl.group(1), 16) & 0x200 and irr.startswith("(none)") and isr.startswith("(none)"):
            print("vCPU %d: a queued request, interrupts on and no IPI pending: the IPI was lost" % cpu,
                  file=out)
        if not isr.startswith("(none)") and isr != "?" and int(rfl.group(1), 16) & 0x200 and \
                any(v in irr.split() for v in isr.split()):
            print("vCPU %d: vector %s is in service while the same vector is pending and interrupts are on:"
                  " its EOI was lost, and it and every lower vector (the timer) stay blocked" % (cpu, isr),
                  file=out)
            lost_eoi = True
    return lost_eoi


FAULT_DEPTH = 3


def vcpu_state(mon, cpu, addrs, names):
    """The registers of vCPU @cpu as QEMU prints them, its program counter's
    symbol, and the kernel text addresses on its stack, innermost first."""
    lo, hi = (addrs[0], addrs[-1]) if addrs else (0, 0)
    mon.cmd("cpu %d" % cpu)
    regs = mon.cmd("info registers")
    pc = re.search(r"\b(?:RIP|PC)=([0-9a-f]+)", regs) or re.search(r"\bPC=([0-9a-f]+)", regs)
    sp = re.search(r"\bRSP=([0-9a-f]+)", regs) or re.search(r"\bSP_EL1=([0-9a-f]+)", regs) \
        or re.search(r"\bSP=([0-9a-f]+)", regs)
    sym = (symbolize(addrs, names, int(pc.group(1), 16)) or "(not kernel text)") if pc else None
    chain = None
    if sp:
        chain = []
        for w in re.findall(r"0x([0-9a-f]{16})", mon.cmd("x /512gx %#x" % int(sp.group(1), 16))):
            a = int(w, 16)
            if lo <= a <= hi:
                s = symbolize(addrs, names, a)
                if s and not s.endswith("+0x0"):
                    chain.append(s)
    return regs, sym, chain


def faulting(mon, cpus, addrs, names, out):
    """Whether some vCPU cannot leave the fault path (see --faulting)."""
    dead = False
    for cpu in cpus:
        regs, sym, chain = vcpu_state(mon, cpu, addrs, names)
        rip = re.search(r"\bRIP=([0-9a-f]+)", regs)
        cr2 = re.search(r"\bCR2=([0-9a-f]+)", regs)
        nested = sum(1 for s in chain or [] if s.startswith("page_fault_oops+"))
        if rip and cr2 and rip.group(1) == cr2.group(1) and (sym or "").startswith("asm_exc_page_fault+"):
            print("vCPU %d: faults fetching the page fault handler (RIP = CR2 = %s): the kernel's own"
                  " mappings are gone" % (cpu, rip.group(1)), file=out)
            dead = True
        elif nested >= FAULT_DEPTH:
            print("vCPU %d: %d oopses nested on its stack (pc %s): each report faults again" %
                  (cpu, nested, sym), file=out)
            dead = True
        else:
            print("vCPU %d: pc %s, %d nested oopses" % (cpu, sym, nested), file=out)
    return dead


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--faulting":
        addrs, names = load_map(sys.argv[3])
        mon = Monitor(sys.argv[2])
        cpus = [int(m) for m in re.findall(r"CPU #(\d+)", mon.cmd("info cpus"))]
        return 5 if faulting(mon, cpus or [0], addrs, names, sys.stdout) else 0
    if len(sys.argv) == 4 and sys.argv[1] == "--lost-eoi":
        addrs, names = load_map(sys.argv[3])
        mon = Monitor(sys.argv[2])
        cpus = [int(m) for m in re.findall(r"CPU #(\d+)", mon.cmd("info cpus"))]
        return 3 if lost_ipi_check(mon, cpus or [0], sys.argv[3], addrs, names, sys.stdout) else 0
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sock, sysmap = sys.argv[1], sys.argv[2]
    out = open(sys.argv[3], "w") if len(sys.argv) > 3 else sys.stdout
    addrs, names = load_map(sysmap)
    mon = Monitor(sock)
    cpus = [int(m) for m in re.findall(r"CPU #(\d+)", mon.cmd("info cpus"))]
    for cpu in cpus or [0]:
        regs, sym, chain = vcpu_state(mon, cpu, addrs, names)
        print("=== vCPU %d" % cpu, file=out)
        noise = re.compile(r"^(YMM|XMM|ZMM|FPR|FCW|DR\d|DR6|DR7|ES |CS |SS |DS |FS |GS |LDT|TR |GDT|IDT|"
                           r"Q\d|Z\d|P\d|FFR|FPCR|FPSR)")
        print("\n".join(l for l in regs.strip().split("\n") if not noise.match(l)), file=out)
        if sym:
            print("pc: %s" % sym, file=out)
        if chain is None:
            continue
        print("kernel text addresses on the stack, innermost first:", file=out)
        for s in chain:
            print("    " + s, file=out)
    lost_ipi_check(mon, cpus or [0], sysmap, addrs, names, out)
    out.flush()


if __name__ == "__main__":
    sys.exit(main())
