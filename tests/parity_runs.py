"""finebench and the authors' loop (tests/authors_eval.py) run side by side on one loaded model,
recording per item what the model was shown (prompt text, pixel rows, image grid) and what it
answered. Shared by tests/test_image_parity.py and benchmarks/bench_image_parity.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from finebench.evaluation.config import RunConfig
from finebench.evaluation.evaluator import Evaluator
from tests.authors_eval import authors_closed_world_loop, split_pixel_values

TASK = "cub_closed_seen"
"""Its items are fine-r1/eval/bird_seen.jsonl, where tests.authors_eval.write_bird_items puts them."""


class RecordingProcessor:
    """Delegates to a processor and keeps the outputs of its calls (texts and tensors)."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor
        self.calls: list[tuple[list[str], Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.processor, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = self.processor(*args, **kwargs)
        self.calls.append((list(kwargs["text"]), out))
        return out


def finebench_run(adapter: Any, card: Any, root: Path, out: Path, *, protocol: str, tokens: int,
                  batch_size: int = 8, request_order: str = "length") -> tuple[dict[int, tuple], dict[int, str]]:
    """(doc_id -> (prompt text, pixel rows, grid), doc_id -> response) of one ``Evaluator`` run
    with ``tokens`` forced new tokens (``--gen-kwargs max_new_tokens=N,min_new_tokens=N``)."""
    recorder = RecordingProcessor(adapter.processor)
    batches: list[list[int]] = []
    generate = adapter.generate

    def recording_generate(requests):
        batches.append([r.doc_id for r in requests])
        return generate(requests)

    adapter.processor, adapter.generate = recorder, recording_generate
    try:
        config = RunConfig(tasks=(TASK,), data_root=root, output_path=out, protocol=protocol, trials=1,
                           batch_size=batch_size, request_order=request_order, gen_kwargs={"max_new_tokens": tokens, "min_new_tokens": tokens})
        Evaluator(config, adapter, card).run()
    finally:
        adapter.processor = recorder.processor
        del adapter.generate
    inputs = {}
    for doc_ids, (texts, batch) in zip(batches, recorder.calls, strict=True):
        for doc_id, text, pixels, grid in zip(doc_ids, texts, split_pixel_values(batch), batch["image_grid_thw"], strict=True):
            inputs[doc_id] = (text, pixels, grid)
    rows = [json.loads(line) for line in (out / f"samples_{TASK}.jsonl").read_text().splitlines()]
    return inputs, {row["doc_id"]: row["response"] for row in rows}


def authors_run(adapter: Any, items: list[dict], root: Path, *, tokens: int,
                batch_size: int = 2) -> tuple[dict[int, tuple], dict[int, str]]:
    """The same records from the authors' loop (their shipped batch size: 2) on the adapter's model
    and processor."""
    seen: list[tuple[str, Any, Any]] = []

    def record(texts, batch):
        seen.extend(zip(texts, split_pixel_values(batch), batch["image_grid_thw"], strict=True))

    responses = authors_closed_world_loop(adapter.model, adapter.processor, items, root, batch_size=batch_size,
                                          max_new_tokens=tokens, min_new_tokens=tokens, on_inputs=record)
    return dict(enumerate(seen)), dict(enumerate(responses))
