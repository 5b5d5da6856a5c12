#!/usr/bin/env python3
"""Counts the results in meson test logs (meson-logs/testlog.json) the way
tools/test.sh reports them: passed, failed, skipped.

A test that meson calls OK but whose every case was skipped did not pass:
a criterion binary whose cases all called cr_skip_test() exits 0 and says
"Synthesis: Tested: 0". Such a test counts as skipped, with its reason.

Usage: tally.py TESTLOG.json...   prints SKIPPED lines, then "P F S".
"""
import json
import re
import sys

FAILED = {"FAIL", "TIMEOUT", "UNEXPECTEDPASS", "ERROR"}
NOTHING_TESTED = re.compile(r"Synthesis: Tested: 0 \|")


def skip_reason(out):
    why = [l.strip() for l in out.splitlines() if "skip" in l.lower()]
    return why[-1] if why else "no reason given"


def classify(test):
    """Returns ('passed'|'failed'|'skipped', reason or None) for one test."""
    result = test.get("result")
    out = (test.get("stdout") or "") + (test.get("stderr") or "")
    if result in FAILED:
        return "failed", None
    if result == "SKIP":
        return "skipped", skip_reason(out)
    if result == "OK" and NOTHING_TESTED.search(out):
        return "skipped", "all of its cases were skipped (criterion: Tested: 0)"
    if result == "OK":
        return "passed", None
    return "failed", None


def main(paths):
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for path in paths:
        try:
            lines = open(path).read().splitlines()
        except OSError as e:
            print(f"FAILED {path}: no test log ({e.strerror})")
            counts["failed"] += 1
            continue
        for line in lines:
            if not line.strip():
                continue
            test = json.loads(line)
            kind, why = classify(test)
            counts[kind] += 1
            if kind == "skipped":
                print(f"SKIPPED {test['name']}: {why}")
    print(counts["passed"], counts["failed"], counts["skipped"])


if __name__ == "__main__":
    main(sys.argv[1:])
