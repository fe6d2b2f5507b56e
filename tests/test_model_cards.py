"""The shipped model cards: one per model of the paper's Tables 1-2, each valid and loadable by
name, and their reported numbers reproduce the paper's printed averages."""

from __future__ import annotations

import pytest

from finebench.adapters.factory import ADAPTERS
from finebench.leaderboard.collect import reported_models
from finebench.leaderboard.tables import build_tables
from finebench.models.cards import all_cards, card_files, resolve_model

PAPER_MODELS = {
    "clip-l": "clip", "eva-g": "clip", "siglip-l": "clip", "siglip2-l": "clip",
    "idefics2-8b": "general-mllm", "idefics3-8b": "general-mllm", "llava-v1.6-mistral-7b": "general-mllm",
    "llava-onevision-7b": "general-mllm", "internvl2.5-2b": "general-mllm", "internvl2.5-4b": "general-mllm",
    "internvl2.5-8b": "general-mllm", "qwen2-vl-2b": "general-mllm", "qwen2-vl-7b": "general-mllm",
    "qwen2.5-vl-3b": "general-mllm", "qwen2.5-vl-7b": "general-mllm", "deepperception-7b": "reasoning-mllm",
    "fine-r1-3b": "reasoning-mllm", "fine-r1-7b": "reasoning-mllm",
}


def test_every_paper_model_has_a_valid_card():
    cards = {card.name: card for card in all_cards()}
    assert set(PAPER_MODELS) <= set(cards)
    for name, family in PAPER_MODELS.items():
        card = resolve_model(name)
        assert card.family == family and card.adapter in ADAPTERS and card.display_name
        assert card.adapter == ("clip" if family == "clip" else "hf")
    assert set(card_files()) == set(cards)


def test_reported_numbers_cover_both_tables_and_match_the_papers_averages():
    cards = [resolve_model(name) for name in PAPER_MODELS]
    tables = build_tables([], reported_models(cards), {c.name: c.display_name for c in cards})
    by_number = {t.spec.number: t for t in tables}
    closed = {r.key.removesuffix(" (reported)"): r.values for r in by_number[1].rows}
    opened = {r.key.removesuffix(" (reported)"): r.values for r in by_number[2].rows}
    assert set(closed) == set(PAPER_MODELS)
    assert set(opened) == {n for n, f in PAPER_MODELS.items() if f != "clip"}  # CLIP has no open world
    assert all(len(values) == 12 + 3 for values in closed.values())  # 12 cells and 3 averages
    # Printed in the paper (and the authors' README): overall averages of a few rows
    assert closed["fine-r1-7b"]["avg"] == pytest.approx(88.71, abs=0.01)
    assert closed["siglip-l"]["avg"] == pytest.approx(84.44, abs=0.01)
    assert closed["qwen2.5-vl-7b"]["seen:avg"] == pytest.approx(83.98, abs=0.01)
    assert opened["fine-r1-7b"]["avg"] == pytest.approx(74.80, abs=0.01)
    assert opened["idefics2-8b"]["unseen:avg"] == pytest.approx(9.73, abs=0.01)
