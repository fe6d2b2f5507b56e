"""Items per second and peak GPU memory of the vllm and hf backends on the same items (GPU only).

The paper's evaluation script ran transformers at batch size 2; the issue's target is that vllm
is at least 20x faster on Qwen2.5-VL-3B closed-world items. Both backends run through the full
harness (planning, image loading, caching, scoring) with a fresh cache each, on the same items,
and every response is forced to the same length (``min_new_tokens`` = ``max_new_tokens``), so the
two do equal work whatever the weights; model loading is not timed.

    # a random-weight model of the real 3B architecture on generated items: no hub, no data set
    python benchmarks/bench_vllm_vs_hf.py --random-size qwen2.5-vl-3b
    # a real card on the real items
    python benchmarks/bench_vllm_vs_hf.py --model qwen2.5-vl-3b --data-root ~/data/fgvr

Peak GPU memory is the device's used memory (``cudaMemGetInfo``, all processes: vLLM's engine runs
in a process of its own), sampled every 20 ms while a backend runs. vLLM reserves
``--gpu-memory-utilization`` of the device for weights and KV cache when it starts, so its peak
is that share by design; the hf peak is what transformers needed. Without vllm or a GPU the
script says so and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from finebench.adapters.factory import RuntimeOptions, create_adapter, vllm_usable  # noqa: E402
from finebench.evaluation.config import RunConfig
from finebench.evaluation.evaluator import Evaluator
from finebench.models.cards import ModelCard, resolve_model  # noqa: E402

GIB = 1024**3


class PeakMemory:
    """The device's peak used memory while the ``with`` block runs, from a sampling thread."""

    def __enter__(self) -> PeakMemory:
        import torch

        self.peak, self._stop = 0, threading.Event()

        def sample() -> None:
            while not self._stop.is_set():
                free, total = torch.cuda.mem_get_info()
                self.peak = max(self.peak, total - free)
                time.sleep(0.02)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def generated_items(root: Path, n_items: int, size: tuple[int, int]) -> Path:
    """The offline demo release with ``n_items`` items per file, the bird images enlarged to
    ``size`` so the vision tower does the work of a real photo (Qwen keeps the native resolution)."""
    from PIL import Image

    from finebench.data.demo import RELEASE_ITEMS_DIR, write_demo_data_root

    write_demo_data_root(root, items_per_file=n_items)
    for line in (root / RELEASE_ITEMS_DIR / "bird_seen.jsonl").read_text().splitlines():
        path = root / json.loads(line)["image_path"]
        Image.open(path).convert("RGB").resize(size, Image.Resampling.BICUBIC).save(path, quality=90)
    return root


def random_card(size: str, cache: Path) -> ModelCard:
    """A card for the random-weight model of ``size``, built on the GPU on first use."""
    from finebench.models.random_size import architecture, build_random_qwen25vl

    directory = build_random_qwen25vl(cache / f"random-{size}", architecture(size), device="cuda")
    return ModelCard(name=f"random-{size}", adapter="hf", model=str(directory), dtype="bfloat16")


def timed_run(card: ModelCard, batch_size: int, args: argparse.Namespace, out: Path) -> dict:
    adapter = create_adapter(card, RuntimeOptions(batch_size=batch_size, device="cuda"))
    config = RunConfig(tasks=(args.task,), data_root=args.data_root, output_path=out, trials=1, limit=args.limit,
                       batch_size=batch_size, metrics=("accuracy",))
    try:
        with PeakMemory() as memory:
            start = time.perf_counter()
            results = Evaluator(config, adapter, card).run()
            seconds = time.perf_counter() - start
    finally:
        adapter.close()
    samples = sorted((json.loads(line) for line in (out / f"samples_{args.task}.jsonl").read_text().splitlines()),
                     key=lambda row: row["doc_id"])
    result = results["results"][args.task]
    return {"seconds": seconds, "n": result["n_samples"], "errors": result["n_errors"], "peak": memory.peak,
            "answers": [row["answer"] for row in samples]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--model", help="a model card name or hf:PATH")
    model.add_argument("--random-size", choices=("qwen2.5-vl-3b", "qwen2.5-vl-7b"),
                       help="a random-weight model of that architecture (finebench.models.random_size)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "finebench-bench-models",
                        help="where --random-size models are built (reused when present)")
    parser.add_argument("--data-root", type=Path, help="release items and images [default: generated items]")
    parser.add_argument("--task", default="cub_closed_seen")
    parser.add_argument("--limit", type=int, default=64, help="items (and generated items per file)")
    parser.add_argument("--image-size", default="448x336", help="WIDTHxHEIGHT of generated images")
    parser.add_argument("--new-tokens", type=int, default=64, help="length every response is forced to")
    parser.add_argument("--hf-batch-size", type=int, default=2)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.5)
    parser.add_argument("--max-model-len", type=int, default=4096)
    args = parser.parse_args()
    if not vllm_usable():
        print("bench_vllm_vs_hf: needs vllm and a CUDA GPU; this machine lacks one or both", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        if args.data_root is None:
            width, height = (int(v) for v in args.image_size.split("x"))
            args.data_root = generated_items(Path(tmp) / "data", args.limit, (width, height))
        card = random_card(args.random_size, args.cache) if args.random_size else resolve_model(args.model)
        card = replace(card, generation={**card.generation, "max_new_tokens": args.new_tokens,
                                         "min_new_tokens": args.new_tokens})
        vllm_card = replace(card, adapter="vllm", adapter_options={
            **card.adapter_options, "gpu_memory_utilization": args.gpu_memory_utilization,
            "max_model_len": args.max_model_len})
        hf = timed_run(replace(card, adapter="hf"), args.hf_batch_size, args, Path(tmp) / "hf")
        vllm = timed_run(vllm_card, args.limit, args, Path(tmp) / "vllm")
    n = hf["n"]
    agree = sum(a == b for a, b in zip(hf["answers"], vllm["answers"], strict=True))
    speed_up = hf["seconds"] / vllm["seconds"]
    print(f"model {card.name}, task {args.task}, {n} items, {args.new_tokens} new tokens each (forced); loading not timed")
    for name, run in ((f"hf   (batch {args.hf_batch_size})", hf), (f"vllm (chunk {args.limit})", vllm)):
        print(f"{name:17s} {run['seconds']:8.1f} s {n / run['seconds']:8.2f} items/s   peak GPU memory "
              f"{run['peak'] / GIB:6.1f} GiB   errors {run['errors']}")
    print(f"speed-up {speed_up:.1f}x (target >= 20x: {'met' if speed_up >= 20 else 'NOT met'}); "
          f"same extracted answer on {agree}/{n} items")
    return 0 if hf["errors"] == vllm["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
