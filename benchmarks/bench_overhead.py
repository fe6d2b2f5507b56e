"""Harness overhead over the adapter alone, with a fake adapter of fixed latency per batch.

The same requests go (a) straight to the adapter in batches and (b) through the full runner
(image decoding, cache, scoring, logging). Target: the runner adds < 5% wall time.

    python benchmarks/bench_overhead.py [--latency-ms 50] [--items 64]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from finebench.adapters.instance import Request  # noqa: E402
from finebench.data.demo import write_demo_data_root  # noqa: E402
from finebench.evaluation.config import RunConfig
from finebench.evaluation.evaluator import Evaluator
from finebench.evaluation.plan import load_image
from finebench.models.cards import ModelCard  # noqa: E402
from tests.fakes import ScriptedAdapter  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--items", type=int, default=64, help="items per task file")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = write_demo_data_root(Path(tmp) / "data", items_per_file=args.items)
        tasks = ("cub_closed_seen", "pets_open_seen")
        config = RunConfig(tasks=tasks, data_root=root, output_path=Path(tmp) / "out", trials=1,
                           batch_size=args.batch_size, metrics=("accuracy", "inclusion"))
        adapter = ScriptedAdapter(latency_s=args.latency_ms / 1000)
        start = time.perf_counter()
        Evaluator(config, adapter, ModelCard(name="fake", adapter="fake", model="fake")).run()
        harness = time.perf_counter() - start
        n_batches = len(adapter.calls)
        image = load_image(next(root.rglob("*.jpg")))
        alone = ScriptedAdapter(latency_s=args.latency_ms / 1000)
        batch = [Request("t", i, 0, "q", image, ("A", "B")) for i in range(args.batch_size)]
        start = time.perf_counter()
        for _ in range(n_batches):
            alone.generate(batch)
        bare = time.perf_counter() - start
    print(f"{n_batches} batches of {args.batch_size}, {args.latency_ms:.0f} ms each: adapter alone {bare:.2f} s, "
          f"through the harness {harness:.2f} s, overhead {100 * (harness - bare) / bare:.1f}%")


if __name__ == "__main__":
    main()
