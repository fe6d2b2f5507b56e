"""Harness overhead per sample: a zero-latency fake model over all 35,566 release items.

Measures request building, cache look-ups and writes, scoring and logging; image decoding is
excluded (the loader returns one pre-decoded image). Target: < 0.5 ms per sample.

    python benchmarks/bench_harness.py [--release ../shared/fine-r1-release/eval]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from finebench.data.release import import_release  # noqa: E402
from finebench.evaluation.config import RunConfig
from finebench.evaluation.evaluator import Evaluator
from finebench.models.cards import ModelCard  # noqa: E402
from tests.fakes import ScriptedAdapter  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--release", type=Path, default=ROOT.parent / "shared" / "fine-r1-release" / "eval")
    parser.add_argument("--protocol", default="fine-r1")
    args = parser.parse_args()
    from PIL import Image

    image = Image.new("RGB", (8, 8))
    card = ModelCard(name="zero-latency", adapter="fake", model="fake", family="test")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        import_release(args.release, root)
        for label in ("cold (generate + cache writes)", "warm (served from cache)"):
            config = RunConfig(tasks=("fgvr",), data_root=root, output_path=Path(tmp) / "out", trials=1,
                               batch_size=64, metrics=("accuracy", "inclusion"), protocol=args.protocol)
            adapter = ScriptedAdapter()
            start = time.perf_counter()
            results = Evaluator(config, adapter, card, image_loader=lambda path: image).run()
            seconds = time.perf_counter() - start
            n = sum(r["n_samples"] for r in results["results"].values())
            print(f"{label}: {n} samples in {seconds:.2f} s = {1000 * seconds / n:.3f} ms/sample "
                  f"({adapter.n_generated} generated)")


if __name__ == "__main__":
    main()
