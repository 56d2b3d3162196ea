#!/usr/bin/env python3
"""Reads a pytest junit XML file.

    compare.py passed JUNIT            print the ids of the tests that passed
    compare.py check JUNIT EXPECTED [KNOWN_GAPS]
                                       fail if a test listed in EXPECTED did
                                       not pass, unless KNOWN_GAPS lists it
                                       (with its reason); print the counts
"""
import sys
import xml.etree.ElementTree as ET


def results(path):
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            out[test_id] = "failed"
        elif case.find("skipped") is not None:
            out[test_id] = "skipped"
        else:
            out[test_id] = "passed"
    return out


def listed(path):
    return [l.strip() for l in open(path) if l.strip() and not l.startswith("#")]


def main():
    mode, junit = sys.argv[1], sys.argv[2]
    res = results(junit)
    if mode == "passed":
        for t in sorted(t for t, r in res.items() if r == "passed"):
            print(t)
        return 0
    expected = listed(sys.argv[3])
    gaps = set(listed(sys.argv[4])) if len(sys.argv) > 4 else set()
    counts = {r: sum(1 for v in res.values() if v == r) for r in ("passed", "failed", "skipped")}
    print(f"upstream docker-py suite: {counts['passed']} passed, {counts['failed']} failed, "
          f"{counts['skipped']} skipped; {len(expected)} pass against dockerd")
    missing = [t for t in expected if res.get(t) != "passed" and t not in gaps]
    known = [t for t in expected if res.get(t) != "passed" and t in gaps]
    closed = sorted(t for t in gaps if res.get(t) == "passed")
    if known:
        print(f"{len(known)} pass against dockerd but not here, known gaps (see the gaps file):")
        for t in known:
            print(f"  ~ {t} ({res.get(t, 'not run')})")
    if closed:
        print(f"{len(closed)} known gaps pass now; remove them from the gaps file:")
        for t in closed:
            print(f"  ! {t}")
    extra = sorted(t for t, r in res.items() if r == "passed" and t not in set(expected))
    if extra:
        print(f"{len(extra)} pass here but not against dockerd:")
        for t in extra:
            print(f"  + {t}")
    if missing:
        print(f"{len(missing)} pass against dockerd but not here:")
        for t in missing:
            print(f"  - {t} ({res.get(t, 'not run')})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
