"""Wall time of `finebench ls` (a fresh interpreter each time). Target: < 0.3 s.

    python benchmarks/bench_ls.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time


def main(repeats: int = 10) -> None:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "finebench", "ls"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    print(f"finebench ls: median {statistics.median(times):.3f} s, min {min(times):.3f} s over {repeats} runs")


if __name__ == "__main__":
    main()
