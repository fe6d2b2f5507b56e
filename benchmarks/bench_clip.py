"""The clip adapter's image pipeline: items/s of ``score_options`` with 0 and N DataLoader workers.

Uses the built-in tiny CLIP, so the model costs next to nothing and the number is the
preprocessing throughput the adapter can feed a real model with (resize + crop + normalise of
photo-sized images). Text embeddings are warmed up first, as they are cached after a task's first
batch.

    python benchmarks/bench_clip.py [--items 256] [--batch-size 64] [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from finebench.adapters.clip import ClipAdapter  # noqa: E402
from finebench.adapters.factory import RuntimeOptions  # noqa: E402
from finebench.adapters.instance import Request  # noqa: E402
from finebench.models.builtin import resolve_builtin
from finebench.models.cards import ModelCard  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (375, 500, 3), dtype=np.uint8)) for _ in range(args.items)]
    classes = tuple(f"Class {i}" for i in range(200))
    requests = [Request("bench", i, 0, "", image, classes[i % 196 : i % 196 + 4]) for i, image in enumerate(images)]
    with tempfile.TemporaryDirectory() as tmp:
        directory = resolve_builtin("tiny-clip", cache_root=Path(tmp))
        for workers in (0, args.workers):
            card = ModelCard(name="tiny-clip", adapter="clip", model=str(directory), adapter_options={"num_workers": workers})
            adapter = ClipAdapter.from_card(card, RuntimeOptions(batch_size=args.batch_size, device="cpu"))
            adapter.score_options([Request("bench", -1, 0, "", images[0], classes)])  # every class text cached
            start = time.perf_counter()
            for i in range(0, len(requests), args.batch_size):
                adapter.score_options(requests[i : i + args.batch_size])
            seconds = time.perf_counter() - start
            print(f"{workers} workers: {args.items} images of 500x375 in {seconds:.2f} s = {args.items / seconds:.0f} images/s")


if __name__ == "__main__":
    main()
