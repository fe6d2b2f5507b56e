"""What the model is shown and says, finebench vs the authors' evaluation loop, side by side.

On the tiny random Qwen2.5-VL (fp32, CPU) and N generated bird items of random sizes (every tenth
an RGBA PNG), with T forced new tokens: for ``--protocol fine-r1`` and ``--protocol finebench``,
how many items get the authors' prompt text, image grid and pixel tensor (and the largest pixel
difference), and how many greedy outputs agree; then wall time, finebench at its default batch
size 8 against the authors' loop at theirs (2) and at 8. The authors' loop is the transcription in
tests/authors_eval.py around the installed qwen_vl_utils (or its transcription).

    python benchmarks/bench_image_parity.py [--items 200] [--tokens 64]
    python benchmarks/bench_image_parity.py --device cuda --dtype bfloat16 --batch-size 2 --request-order doc

The second form is the authors' setting on a GPU (bf16); with finebench batching exactly as their
loop does (2 items at a time, in file order), the outputs must agree item for item.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from finebench.adapters.factory import RuntimeOptions  # noqa: E402
from finebench.adapters.hf import HFAdapter  # noqa: E402
from finebench.models.builtin import resolve_builtin  # noqa: E402
from finebench.models.cards import resolve_model  # noqa: E402
from tests.authors_eval import process_vision_info, transcribed_process_vision_info, write_bird_items  # noqa: E402
from tests.parity_runs import authors_run, finebench_run  # noqa: E402


def compare(ours: dict, theirs: dict) -> tuple[int, int, int, float]:
    """Items with equal prompt text, equal grid, equal pixels; the largest pixel difference."""
    import torch

    texts = grids = pixels = 0
    largest = 0.0
    for doc_id, (text, rows, grid) in ours.items():
        their_text, their_rows, their_grid = theirs[doc_id]
        rows, grid, their_rows, their_grid = rows.cpu(), grid.cpu(), their_rows.cpu(), their_grid.cpu()
        texts += text == their_text
        grids += bool(torch.equal(grid, their_grid))
        if rows.shape == their_rows.shape:
            pixels += bool(torch.equal(rows, their_rows))
            largest = max(largest, float((rows - their_rows).abs().max()))
    return texts, grids, pixels, largest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", help="the tiny card's float32, or auto/bfloat16/float16")
    parser.add_argument("--batch-size", type=int, default=8, help="finebench's batch size")
    parser.add_argument("--request-order", default="length", help="finebench's request order (doc: file order)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        card = replace(resolve_model("tiny-qwen2.5-vl"), model=str(resolve_builtin("tiny-qwen2.5-vl", work / "cache")),
                       dtype=args.dtype)
        adapter = HFAdapter.from_card(card, RuntimeOptions(device=args.device))
        items = write_bird_items(work / "data", args.items, seed=0)
        source = "qwen_vl_utils" if process_vision_info() is not transcribed_process_vision_info else "its transcription"
        print(f"{args.items} bird items, {args.tokens} forced tokens, tiny Qwen2.5-VL {adapter.settings()['dtype']} on "
              f"{adapter.model.device}; finebench batch {args.batch_size}, {args.request_order} order; authors' loop with {source}")

        authors_run(adapter, items[:8], work / "data", tokens=args.tokens, batch_size=2)  # warm-up
        timings = {}
        start = time.perf_counter()
        theirs, their_out = authors_run(adapter, items, work / "data", tokens=args.tokens, batch_size=2)
        timings["authors' loop, batch 2 (as shipped)"] = time.perf_counter() - start
        start = time.perf_counter()
        _, their_out_8 = authors_run(adapter, items, work / "data", tokens=args.tokens, batch_size=8)
        timings["authors' loop, batch 8"] = time.perf_counter() - start
        for protocol in ("fine-r1", "finebench"):
            start = time.perf_counter()
            ours, our_out = finebench_run(adapter, card, work / "data", work / protocol, protocol=protocol, tokens=args.tokens,
                                          batch_size=args.batch_size, request_order=args.request_order)
            timings[f"finebench --protocol {protocol}, batch {args.batch_size}"] = time.perf_counter() - start
            texts, grids, pixels, largest = compare(ours, theirs)
            same_out = sum(our_out[d] == their_out[d] for d in their_out)
            print(f"--protocol {protocol:9s}: prompt text {texts}/{args.items}, grid {grids}/{args.items}, "
                  f"pixels {pixels}/{args.items} (max |diff| {largest:.4f}), greedy outputs {same_out}/{args.items}")
        print(f"authors' loop batch 2 vs batch 8: {sum(their_out[d] == their_out_8[d] for d in their_out)}/{args.items} equal outputs")
        reference = timings["authors' loop, batch 2 (as shipped)"]
        for name, seconds in timings.items():
            print(f"  {name:40s} {seconds:7.2f} s  ({reference / seconds:.2f}x the shipped loop's speed)")
        adapter.close()


if __name__ == "__main__":
    main()
