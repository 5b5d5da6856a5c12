#!/usr/bin/env python3
"""Prints the ninja targets that the tests of the given meson suites need:
the executables they run or take as arguments (meson's own list, "depends"),
one a line, as paths inside the build directory. tools/test.sh builds just
these in its sanitizer build directories, so a test added to a suite later
is built there without test.sh knowing its name.

Usage: suite_targets.py BUILD_DIR SUITE...
"""
import json
import os
import subprocess
import sys


def introspect(build, what):
    out = subprocess.run(["meson", "introspect", what, build], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def in_suites(test, suites):
    # meson names a suite "project:suite"
    return any(s.split(":")[-1] in suites for s in test["suite"])


def main(build, suites):
    files = {t["id"]: t["filename"] for t in introspect(build, "--targets")}
    wanted = set()
    for test in introspect(build, "--tests"):
        if in_suites(test, suites):
            for dep in test["depends"]:
                wanted.update(files.get(dep, []))
    if not wanted:
        sys.exit(f"suite_targets.py: no test of {', '.join(suites)} in {build}")
    for f in sorted(wanted):
        print(os.path.relpath(f, build))


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], set(sys.argv[2:]))
