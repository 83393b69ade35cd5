#!/usr/bin/env python3
"""Save-to-result time of `mart build --watch` on the example mart.

A copy of the example is built under `mart build --watch`; then a leaf
model's SQL (sql/marts/ab_test_results.sql) is saved with an edit, RUNS
times, and the time from the save to the printed end of the build it
starts ("Done in ...") is measured. Prints each time and the median.

    python3 benches/watch.py [MART] [RUNS]

MART defaults to the release binary under $CARGO_TARGET_DIR (or target/).
"""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
MART = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else os.path.join(TARGET, "release", "mart")
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 10
LEAF = os.path.join("sql", "marts", "ab_test_results.sql")


def main():
    project = tempfile.mkdtemp(prefix="mart-watch-")
    for folder in ("marts", "sql", "seeds"):
        shutil.copytree(os.path.join(ROOT, folder), os.path.join(project, folder))
    watch = subprocess.Popen(
        [MART, "build", "--watch", "-q"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )

    def until(prefix):
        for line in watch.stdout:
            if line.startswith(prefix):
                return line
        sys.exit(f"mart stopped before printing {prefix!r}")

    until("watching")
    leaf = os.path.join(project, LEAF)
    original = open(leaf).read()
    times = []
    for i in range(RUNS):
        days = "15 days" if i % 2 == 0 else "14 days"
        edited = original.replace("14 days", days)
        time.sleep(0.3)
        started = time.perf_counter()
        with open(leaf, "w") as f:
            f.write(edited)
        done = until("Done in")
        times.append((time.perf_counter() - started) * 1000)
        print(f"save -> {done.strip()}: {times[-1]:.0f} ms")
        until("watching")
    watch.send_signal(signal.SIGINT)
    watch.wait()
    shutil.rmtree(project)
    print(f"median {statistics.median(times):.0f} ms, min {min(times):.0f}, max {max(times):.0f} ({RUNS} saves)")


if __name__ == "__main__":
    main()
