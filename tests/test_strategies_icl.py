"""ICL demonstration selection and its wiring through the runner."""

from __future__ import annotations

import json

import pytest

from finebench.data.demo import write_demo_data_root
from finebench.evaluation.config import RunConfig
from finebench.evaluation.evaluator import Evaluator
from finebench.models.cards import ModelCard
from finebench.tasks.icl import load_demo_pool, select_demonstrations
from finebench.util.errors import FinebenchError
from tests.fakes import ScriptedAdapter

POOL = {"A": ["a1.jpg", "a2.jpg", "a3.jpg"], "B": ["b1.jpg"], "C": ["c1.jpg"]}


def test_one_demo_per_seen_option_in_option_order():
    demos = select_demonstrations(("B", "A", "D", "C"), {"A", "B"}, POOL, seed=0, doc_id=3, exclude="q.jpg")
    assert [label for _, label in demos] == ["B", "A"]  # C is not seen, D has no pool
    assert demos[0] == ("b1.jpg", "B") and demos[1][0] in POOL["A"]


def test_selection_is_seeded_per_item_and_excludes_the_query():
    picks = {select_demonstrations(("A",), {"A"}, POOL, seed=0, doc_id=d, exclude="x")[0][0] for d in range(30)}
    assert len(picks) > 1
    assert select_demonstrations(("A",), {"A"}, POOL, 5, 7, exclude="x") == select_demonstrations(("A",), {"A"}, POOL, 5, 7, exclude="x")
    assert select_demonstrations(("B",), {"B"}, POOL, 0, 0, exclude="b1.jpg") == []


def test_pool_file_errors_name_the_line(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_text('{"image_path": "a.jpg", "class_name": "A"}\n{"image_path": "b.jpg"}\n')
    with pytest.raises(FinebenchError, match="pool.jsonl:2"):
        load_demo_pool(path)
    path.write_text('{"image_path": "a.jpg", "class_name": "A"}\n{"image_path": "b.jpg", "class_name": "A"}\n')
    assert load_demo_pool(path) == {"A": ["a.jpg", "b.jpg"]}


def test_icl_runs_send_demonstration_images(tmp_path):
    root = write_demo_data_root(tmp_path / "data", items_per_file=4)
    items = [json.loads(l) for l in (root / "fine-r1/eval/bird_seen.jsonl").read_text().splitlines()]
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"image_path": i["image_path"], "class_name": i["ground_truth"]}) + "\n" for i in items))
    seen = []

    def record(request):
        seen.append((request.doc_id, [label for _, label in request.demonstrations], len(request.images())))
        return f"<answer>{request.options[0]}</answer>"

    config = RunConfig(tasks=("cub_closed_seen",), data_root=root, output_path=tmp_path / "out", trials=1,
                       strategy="icl", icl_pool=pool)
    results = Evaluator(config, ScriptedAdapter(record), ModelCard(name="f", adapter="f", model="f")).run()
    assert results["tasks"]["cub_closed_seen"]["strategy"] == "icl"
    # each query is an item of the pool itself, so its own class has no other image to show
    for doc_id, labels, n_images in seen:
        assert items[doc_id]["ground_truth"] not in labels
        assert n_images == len(labels) + 1 and labels
    rows = [json.loads(l) for l in (tmp_path / "out" / "samples_cub_closed_seen.jsonl").read_text().splitlines()]
    assert all(row["demonstrations"] for row in rows)
