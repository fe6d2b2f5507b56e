"""Requests/s of the openai adapter at concurrency 64 against the tests' local fake server, with
5% of prompts failing once (HTTP 500 or 429). Target: >= 200 requests/s, nothing lost or duplicated.

    python benchmarks/bench_openai.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from finebench.adapters.factory import RuntimeOptions, create_adapter  # noqa: E402
from finebench.adapters.instance import Request  # noqa: E402
from finebench.models.cards import ModelCard  # noqa: E402
from tests.test_adapter_openai import FakeServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    from PIL import Image

    server = FakeServer()
    card = ModelCard(name="bench", adapter="openai", model="m",
                     adapter_options={"base_url": server.url, "concurrency": 64, "backoff_s": 0.01})
    adapter = create_adapter(card, RuntimeOptions())
    image = Image.new("RGB", (8, 8))
    prompts = [f"{'FAIL500' if i % 40 == 0 else 'FAIL429' if i % 40 == 1 else 'ok'} {i}" for i in range(args.requests)]
    requests = [Request("t", i, 0, p, image, ("A",), {"max_new_tokens": 8}) for i, p in enumerate(prompts)]
    start = time.perf_counter()
    outputs = adapter.generate(requests)
    seconds = time.perf_counter() - start
    lost = sum(o != f"1|{p}|t=0.0|max=8" for o, p in zip(outputs, prompts))
    duplicated = sum(n - 1 for n in server.answered.values() if n > 1)
    print(f"{len(requests)} requests ({sum(server.failed.values())} failed once) in {seconds:.2f} s = "
          f"{len(requests) / seconds:.0f} requests/s; lost {lost}, duplicated {duplicated}")
    server.httpd.shutdown()


if __name__ == "__main__":
    main()
