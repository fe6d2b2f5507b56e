"""Start-up: wall time of `finebench ls` and `finebench --help` (a fresh interpreter each run) next
to a bare interpreter, and to the same commands through typer's full option parsing (the path they
took before they answered without it). Target: < 0.3 s median on 2 cores. Runs are interleaved so
that a busy machine slows every variant alike; medians of --repeats runs.

    python benchmarks/bench_startup.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

THROUGH_TYPER = "import sys; sys.argv = ['finebench', *sys.argv[1:]]; from finebench.cli.root import app; app()"
VARIANTS = {
    "bare interpreter": [sys.executable, "-c", "pass"],
    "finebench ls": [sys.executable, "-m", "finebench", "ls"],
    "finebench --help": [sys.executable, "-m", "finebench", "--help"],
    "ls through typer": [sys.executable, "-c", THROUGH_TYPER, "ls"],
    "--help through typer": [sys.executable, "-c", THROUGH_TYPER, "--help"],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.repeats):
        for name, command in VARIANTS.items():
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)
    bare = statistics.median(times["bare interpreter"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:22s} median {median:.3f} s  min {min(values):.3f} s  ({median / bare:.1f}x bare)")


if __name__ == "__main__":
    main()
