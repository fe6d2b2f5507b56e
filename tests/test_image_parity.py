"""``--protocol fine-r1`` shows the model what the authors' evaluation showed it.

Against ``tests/authors_eval.py`` (a transcription of the authors' loop around the installed
``qwen_vl_utils``, or its transcription when not installed), on the tiny Qwen2.5-VL and generated
bird items of random sizes: identical prompt texts, pixel tensors and image grids per item, and
identical greedy outputs (forced to full length), with finebench at its default batch size 8 and
the authors' loop at theirs (2). The ``finebench`` protocol (decoded image, the processor's own
resize) is the control: its pixels differ, so the comparison can fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from finebench.adapters.factory import RuntimeOptions
from finebench.adapters.hf import HFAdapter
from finebench.models.cards import ModelCard, resolve_model
from tests.authors_eval import write_bird_items
from tests.parity_runs import authors_run, finebench_run

TOKENS = 24


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> Iterator[tuple[HFAdapter, ModelCard]]:
    card = replace(resolve_model("tiny-qwen2.5-vl"), model=str(tiny_model_dir))
    adapter = HFAdapter.from_card(card, RuntimeOptions(device="cpu"))
    yield adapter, card
    adapter.close()


def check_parity(tiny, tmp_path: Path, n_items: int) -> None:
    import torch

    adapter, card = tiny
    root = tmp_path / "data"
    items = write_bird_items(root, n_items, seed=n_items)
    ours, our_responses = finebench_run(adapter, card, root, tmp_path / "fine-r1", protocol="fine-r1", tokens=TOKENS)
    theirs, their_responses = authors_run(adapter, items, root, tokens=TOKENS)
    assert sorted(ours) == sorted(theirs) == list(range(n_items))
    for doc_id in range(n_items):
        text, pixels, grid = ours[doc_id]
        their_text, their_pixels, their_grid = theirs[doc_id]
        assert text == their_text, doc_id
        assert torch.equal(grid, their_grid), doc_id
        assert torch.equal(pixels, their_pixels), doc_id
    assert our_responses == their_responses
    assert len(set(our_responses.values())) > n_items // 4  # the outputs depend on the image

    # control: the finebench protocol resizes with the processor alone, and the pixels differ
    decoded, _ = finebench_run(adapter, card, root, tmp_path / "finebench", protocol="finebench", tokens=TOKENS)
    differ = sum(not torch.equal(decoded[d][1], theirs[d][1]) for d in range(n_items) if decoded[d][1].shape == theirs[d][1].shape)
    assert differ >= n_items // 2


def test_fine_r1_protocol_matches_the_authors_loop(tiny, tmp_path: Path) -> None:
    check_parity(tiny, tmp_path, 24)


@pytest.mark.slow
def test_fine_r1_protocol_matches_the_authors_loop_on_200_items(tiny, tmp_path: Path) -> None:
    check_parity(tiny, tmp_path, 200)
