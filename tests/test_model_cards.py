"""The shipped model cards: one per model of the paper's Tables 1-2, each valid and loadable by
name, and their reported numbers (Tables 1, 2 and 6) reproduce the paper's printed averages."""

from __future__ import annotations

from pathlib import Path

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


PAPER_TABLES = Path(__file__).resolve().parents[1].parent / "shared" / "paper-tables.md"
TABLE6_NAMES = {
    "Idefics2-8B": "idefics2-8b", "Idefics3-LLaMA3-8B": "idefics3-8b", "LLaVA-v1.6-mistral-7B": "llava-v1.6-mistral-7b",
    "LLaVA-Onevision-7B": "llava-onevision-7b", "InternVL2.5-2B": "internvl2.5-2b", "InternVL2.5-4B": "internvl2.5-4b",
    "InternVL2.5-8B": "internvl2.5-8b", "Qwen2-VL-2B": "qwen2-vl-2b", "Qwen2-VL-7B": "qwen2-vl-7b",
    "Qwen2.5-VL-3B": "qwen2.5-vl-3b", "Qwen2.5-VL-7B": "qwen2.5-vl-7b", "DeepPerception-7B": "deepperception-7b",
    "Fine-R1-3B (ours)": "fine-r1-3b", "Fine-R1-7B (ours)": "fine-r1-7b",
}
TABLE6_COLUMNS = [f"{split}:{d}" for split in ("seen", "unseen") for d in ("aircraft", "cub", "cars", "dogs", "flowers", "pets")]


def _table6_rows() -> dict[str, dict[str, float]]:
    """The leaderboard's reference rows of Table 6 (open-world inclusion), by card name."""
    cards = [resolve_model(name) for name in PAPER_MODELS]
    tables = build_tables([], reported_models(cards), {c.name: c.display_name for c in cards})
    table6 = next(t for t in tables if t.spec.number == 6)
    assert all(row.reported for row in table6.rows)
    return {r.key.removesuffix(" (reported)"): r.values for r in table6.rows}


def test_table6_reference_rows_reproduce_the_papers_averages():
    rows = _table6_rows()
    assert set(rows) == set(TABLE6_NAMES.values())  # every MLLM of the paper; CLIP has no open world
    assert all(len(values) == 12 + 3 for values in rows.values())
    # printed averages (seen, unseen, overall) of a few rows, re-derived from the cards' cells
    assert rows["fine-r1-7b"]["seen:avg"] == pytest.approx(78.27, abs=0.01)
    assert rows["fine-r1-7b"]["avg"] == pytest.approx(60.61, abs=0.01)
    assert rows["qwen2-vl-2b"]["unseen:avg"] == pytest.approx(22.13, abs=0.01)
    assert rows["deepperception-7b"]["avg"] == pytest.approx(47.24, abs=0.01)


@pytest.mark.skipif(not PAPER_TABLES.is_file(), reason="shared paper-tables.md not present")
def test_table6_cells_and_averages_match_the_paper_text():
    """Every cell of every row as printed in the paper, and every printed average within rounding."""
    rows = _table6_rows()
    block = PAPER_TABLES.read_text(encoding="utf-8").split("## Table 6")[1].split("```")[1]
    checked = set()
    for line in block.splitlines():
        cells = line.split("\t")
        if cells[0] not in TABLE6_NAMES:
            continue
        printed = [float(v) for v in cells[1:16]]
        values = rows[TABLE6_NAMES[cells[0]]]
        assert [values[c] for c in TABLE6_COLUMNS] == printed[0:6] + printed[7:13]
        averages = (values["seen:avg"], values["unseen:avg"], values["avg"])
        assert averages == pytest.approx((printed[6], printed[13], printed[14]), abs=0.011)
        checked.add(cells[0])
    assert checked == set(TABLE6_NAMES)
