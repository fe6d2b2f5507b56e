"""Per-task analysis: per-class accuracy, confusion pairs, format compliance, no-answer rate,
response length, seen/unseen gap, and the `analyze` report around them."""

from __future__ import annotations

import json

import pytest

from finebench.cli.leaderboard import analyze_command
from finebench.leaderboard.analysis import (
    analyse_task,
    confusion_pairs,
    seen_unseen_gaps,
)
from finebench.leaderboard.collect import load_run
from tests.test_leaderboard_circular import circular_rows
from tests.test_leaderboard_support import constant, write_run


def closed_row(doc_id, target, answer, options, response=None, no_answer=False, error=None):
    correct = answer is not None and answer.strip().casefold() == target.casefold()
    return {"doc_id": doc_id, "trial": 0, "options": options, "target": target,
            "response": response if response is not None or error else f"<think>hm</think> <answer>{answer}</answer>",
            "answer": answer, "no_answer": no_answer, "scores": {"accuracy": float(correct)}, "error": error}


OPTIONS = ["Laysan Albatross", "Sooty Albatross", "Heermann Gull", "Pomarine Jaeger"]


def test_per_class_accuracy_confusions_and_format():
    rows = [
        closed_row(0, "Laysan Albatross", "Laysan Albatross", OPTIONS),
        closed_row(1, "Laysan Albatross", "  sooty albatross ", OPTIONS),  # normalised to an option
        closed_row(2, "Laysan Albatross", "Sooty Albatross", OPTIONS),
        closed_row(3, "Sooty Albatross", "Laysan Albatross", OPTIONS),
        closed_row(4, "Sooty Albatross", "a seabird", OPTIONS),  # names no option: no confusion pair
        closed_row(5, "Sooty Albatross", None, OPTIONS, response="<think>unsure", no_answer=True),
        closed_row(6, "Heermann Gull", "Heermann Gull", OPTIONS, response="<answer>Heermann Gull</answer>"),
        closed_row(7, "Heermann Gull", None, OPTIONS, error="image not found"),
    ]
    analysis = analyse_task("cub_closed_seen", "closed", rows, "x")
    assert [(c.name, c.n, round(c.score, 2)) for c in analysis.per_class] == [
        ("Sooty Albatross", 3, 0.0), ("Laysan Albatross", 3, 33.33), ("Heermann Gull", 2, 50.0)]
    assert [(c.target, c.answer, c.count) for c in analysis.confusions] == [
        ("Laysan Albatross", "Sooty Albatross", 2), ("Sooty Albatross", "Laysan Albatross", 1)]
    # 7 responses (one failed generation has none); 5 follow <think>..</think> <answer>..</answer>
    assert analysis.format_compliance == pytest.approx(5 / 7 * 100)
    assert analysis.no_answer_rate == pytest.approx(100 / 8)
    assert analysis.n_errors == 1
    responses = [r["response"] for r in rows if r["response"]]
    assert analysis.mean_response_chars == pytest.approx(sum(map(len, responses)) / 7)


def test_open_world_confusions_use_the_task_classes():
    rows = [{"doc_id": i, "trial": 0, "options": [], "target": t, "answer": a, "response": "", "no_answer": False,
             "scores": {"inclusion": 0.0, "ss_relative": 0.4}, "error": None}
            for i, (t, a) in enumerate([("Boeing 737", "airbus a320"), ("Airbus A320", "Boeing 737"),
                                        ("Boeing 737", "Airbus A320"), ("Boeing 737", "some jet")])]
    pairs = confusion_pairs(rows, "open")
    assert [(c.target, c.answer, c.count) for c in pairs] == [("Boeing 737", "Airbus A320", 2), ("Airbus A320", "Boeing 737", 1)]
    assert confusion_pairs(rows, "open", top_k=1)[0].count == 2


def test_seen_unseen_gap(tmp_path):
    run = load_run(write_run(tmp_path / "r", "m", {
        "cub_closed_seen": {"accuracy": constant(20, 0.8)}, "cub_closed_unseen": {"accuracy": constant(20, 0.55)},
        "cars_closed_seen": {"accuracy": constant(20, 0.8)},
    }))
    (gap,) = seen_unseen_gaps(run)
    assert (gap.dataset, gap.metric) == ("cub", "accuracy")
    assert (gap.seen, gap.unseen, gap.gap) == pytest.approx((80.0, 55.0, 25.0))


def test_analyze_command_reports_circular_runs_and_the_shuffled_gap(tmp_path):
    circular = write_run(tmp_path / "circ", "m", {"cub_closed_seen": circular_rows([[1, 1, 1, 1], [1, 0, 0, 0]])},
                         option_order="circular")
    report = analyze_command(circular, resamples=100)
    assert report == circular / "analysis" / "analysis.md"
    text = report.read_text()
    assert "## CircularEval (position bias)" in text and "| cub_closed_seen | 2 | 50.00 | 62.50 |" in text
    data = json.loads((report.parent / "analysis.json").read_text())
    assert data["circular"][0]["accuracy_by_position"] == [100.0, 50.0, 50.0, 50.0]

    paper = write_run(tmp_path / "paper", "m", {"cub_closed_seen": {"accuracy": constant(40, 0.9)},
                                                "cub_closed_unseen": {"accuracy": constant(40, 0.6)}})
    shuffled = write_run(tmp_path / "shuf", "m", {"cub_closed_seen": {"accuracy": constant(40, 0.7)}},
                         protocol="finebench", option_order="shuffled")
    text = analyze_command(paper, out=tmp_path / "out", shuffled=shuffled, resamples=200).read_text()
    assert "## Paper protocol vs shuffled options" in text and "| cub_closed_seen | 90.00 | 70.00 | +20.00 |" in text
    assert "| cub | closed | protocol fine-r1, options release | accuracy | 90.00 | 60.00 | +30.00 |" in text
    assert "## cub_closed_unseen" in text and "Hardest classes by accuracy" in text
