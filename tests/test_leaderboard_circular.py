"""CircularEval position bias and the paper-vs-shuffled gap, on hand-made samples."""

from __future__ import annotations

import pytest

from finebench.leaderboard.circular import circular_result, protocol_gaps
from finebench.leaderboard.collect import MixedResultsError, load_run
from finebench.tasks.items import Item
from finebench.tasks.prompts import shown_options
from finebench.util.errors import FinebenchError
from tests.test_leaderboard_support import constant, write_run


def circular_rows(correct_by_position: list[list[int]]) -> list[dict]:
    """Rows as a circular run writes them: trial t shows the ground truth at position t."""
    rows = []
    for doc_id, correct in enumerate(correct_by_position):
        item = Item(doc_id, f"{doc_id}.jpg", "q", (f"gt{doc_id}", "b", "c", "d"), f"gt{doc_id}")
        for trial, ok in enumerate(correct):
            options = list(shown_options(item, "circular", seed=0, trial=trial))
            answer = item.ground_truth if ok else next(o for o in options if o != item.ground_truth)
            rows.append({"doc_id": doc_id, "trial": trial, "options": options, "target": item.ground_truth,
                         "response": f"<answer>{answer}</answer>", "answer": answer, "no_answer": False,
                         "scores": {"accuracy": float(ok)}, "error": None})
    return rows


def test_circular_accuracy_on_a_hand_made_example():
    # doc 0: always right; doc 1: right only with the ground truth first (position bias);
    # doc 2: wrong only at position 3.
    rows = circular_rows([[1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 1, 0]])
    result = circular_result("cub_closed_seen", rows, "x")
    assert result.n_items == 3 and result.n_incomplete == 0
    assert result.circular_accuracy == pytest.approx(100 / 3)
    assert result.accuracy_by_position == pytest.approx((100.0, 200 / 3, 200 / 3, 100 / 3))
    assert result.mean_accuracy == pytest.approx(800 / 12)
    assert result.first_position_gap == pytest.approx(100 - 800 / 12)


def test_position_comes_from_the_shown_options_not_the_trial_number():
    rows = circular_rows([[1, 0, 0, 0]])
    for row in rows:
        row["trial"] = 3 - row["trial"]  # e.g. trials written in another order
    assert circular_result("t", rows, "x").accuracy_by_position == (100.0, 0.0, 0.0, 0.0)


def test_items_missing_a_position_are_left_out_and_counted():
    rows = circular_rows([[1, 1, 1, 1], [0, 0, 0, 0]])
    rows = [r for r in rows if not (r["doc_id"] == 1 and r["trial"] == 2)]
    result = circular_result("t", rows, "x")
    assert (result.n_items, result.n_incomplete, result.circular_accuracy) == (1, 1, 100.0)
    with pytest.raises(FinebenchError, match="all 4 positions"):
        circular_result("t", [r for r in rows if r["trial"] == 0], "x")


def test_paper_vs_shuffled_gap(tmp_path):
    paper = write_run(tmp_path / "p", "m", {"cub_closed_seen": {"accuracy": constant(100, 0.9)},
                                            "cub_closed_unseen": {"accuracy": constant(50, 0.5)}})
    shuffled = write_run(tmp_path / "s", "m", {"cub_closed_seen": {"accuracy": constant(100, 0.6)}},
                         protocol="finebench", option_order="shuffled")
    (gap,) = protocol_gaps(load_run(paper), load_run(shuffled), 500, 0)
    assert (gap.task, gap.paper, gap.shuffled) == ("cub_closed_seen", 90.0, 60.0)
    assert gap.gap == pytest.approx(30.0)
    assert gap.difference.delta == pytest.approx(0.3) and gap.difference.significant
    assert gap.difference.ci_low <= 0.3 <= gap.difference.ci_high


def test_gap_needs_one_model_and_the_right_option_orders(tmp_path):
    paper = load_run(write_run(tmp_path / "p", "m", {"cub_closed_seen": {"accuracy": constant(10, 0.9)}}))
    other = load_run(write_run(tmp_path / "o", "other", {"cub_closed_seen": {"accuracy": constant(10, 0.6)}},
                               protocol="finebench", option_order="shuffled"))
    with pytest.raises(MixedResultsError, match="needs one model"):
        protocol_gaps(paper, other, 100, 0)
    with pytest.raises(MixedResultsError, match="shuffled order"):
        protocol_gaps(paper, paper, 100, 0)
