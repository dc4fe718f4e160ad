#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Merge the hand-written cover letter into the one git format-patch made.

usage: cover-letter.py OURS GENERATED DATE  > result

OURS is patches/0000-cover-letter.patch as committed: its subject (after the
[PATCH 0/N] prefix) and its text up to the shortlog are ours. GENERATED is
format-patch's cover letter with "*** SUBJECT HERE ***" and "*** BLURB HERE ***";
its shortlog, diffstat and base-commit trailer are kept. DATE replaces the
Date: header so that re-exporting an unchanged series changes nothing.
"""
import re
import sys

SHORTLOG = re.compile(r"^\S.* \(\d+\):$")


def split(path):
    with open(path) as f:
        text = f.read()
    head, _, body = text.partition("\n\n")
    return head.split("\n"), body.split("\n")


def main():
    ours, generated, date = sys.argv[1:4]
    ohead, obody = split(ours)
    subject = ""
    for i, l in enumerate(ohead):
        if l.startswith("Subject:"):
            subject = l[len("Subject:"):]
            # folded continuation lines
            j = i + 1
            while j < len(ohead) and ohead[j].startswith((" ", "\t")):
                subject += ohead[j]
                j += 1
    subject = re.sub(r"^\s*\[[^]]*\]\s*", "", subject).strip()
    blurb = []
    for l in obody:
        if SHORTLOG.match(l) or l.startswith("base-commit:"):
            break
        blurb.append(l)
    while blurb and not blurb[-1].strip():
        blurb.pop()

    ghead, gbody = split(generated)
    out = []
    for l in ghead:
        if l.startswith("Date:"):
            l = "Date: " + date
        out.append(l.replace("*** SUBJECT HERE ***", subject))
    body = "\n".join(gbody).replace("*** BLURB HERE ***", "\n".join(blurb))
    sys.stdout.write("\n".join(out) + "\n\n" + body)


if __name__ == "__main__":
    main()
