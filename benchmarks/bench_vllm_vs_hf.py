"""Items per second of the vllm and hf backends on the same closed-world items (GPU machines only).

The paper's evaluation script ran transformers at batch size 2; the issue's target is that vllm
is at least 20x faster on Qwen2.5-VL-3B closed-world items. Both backends run through the full
harness (planning, caching, scoring) with a fresh cache each, on the same ``--limit`` items, and
the script prints items/s, the speed-up and how often the two backends' answers agree.

    python benchmarks/bench_vllm_vs_hf.py --data-root ~/data/fgvr [--model qwen2.5-vl-3b]
        [--task cub_closed_seen] [--limit 200] [--hf-batch-size 2]

Without a GPU, or without vllm, it says so and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from finebench.adapters.factory import RuntimeOptions, create_adapter, vllm_usable  # noqa: E402
from finebench.models.cards import resolve_model  # noqa: E402
from finebench.runner import Evaluator, RunConfig  # noqa: E402


def timed_run(card, backend: str, batch_size: int, args: argparse.Namespace, out: Path) -> tuple[float, dict, list[dict]]:
    adapter = create_adapter(replace(card, adapter=backend), RuntimeOptions(batch_size=batch_size, device="cuda"))
    config = RunConfig(tasks=(args.task,), data_root=args.data_root, output_path=out, trials=1, limit=args.limit,
                       batch_size=batch_size, metrics=("accuracy",))
    try:
        start = time.perf_counter()
        results = Evaluator(config, adapter, card).run()
        seconds = time.perf_counter() - start
    finally:
        adapter.close()
    samples = [json.loads(line) for line in (out / f"samples_{args.task}.jsonl").read_text().splitlines()]
    return seconds, results["results"][args.task], samples


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--model", default="qwen2.5-vl-3b")
    parser.add_argument("--task", default="cub_closed_seen")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--hf-batch-size", type=int, default=2)
    args = parser.parse_args()
    if not vllm_usable():
        print("bench_vllm_vs_hf: needs vllm and a CUDA GPU; neither is usable here", file=sys.stderr)
        return 2
    card = resolve_model(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        hf_s, hf_result, hf_samples = timed_run(card, "hf", args.hf_batch_size, args, Path(tmp) / "hf")
        vllm_s, vllm_result, vllm_samples = timed_run(card, "vllm", args.limit, args, Path(tmp) / "vllm")
    n = hf_result["n_samples"]
    agree = sum(a["answer"] == b["answer"] for a, b in zip(sorted(hf_samples, key=lambda r: r["doc_id"]),
                                                            sorted(vllm_samples, key=lambda r: r["doc_id"])))
    print(f"model {args.model}, task {args.task}, {n} items (model loading not timed)")
    print(f"hf   (batch {args.hf_batch_size}): {hf_s:8.1f} s  {n / hf_s:8.2f} items/s  accuracy {hf_result['accuracy']:.2f}")
    print(f"vllm             : {vllm_s:8.1f} s  {n / vllm_s:8.2f} items/s  accuracy {vllm_result['accuracy']:.2f}")
    print(f"speed-up {hf_s / vllm_s:.1f}x; same extracted answer on {agree}/{n} items")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
