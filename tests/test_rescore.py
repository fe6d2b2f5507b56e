"""`finebench score`: re-scoring saved responses without any model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from finebench.data.demo import write_demo_data_root
from finebench.evaluation.config import RunConfig
from finebench.evaluation.evaluator import Evaluator
from finebench.evaluation.rescore import rescore, rescore_file
from finebench.models.cards import ModelCard
from finebench.util.errors import FinebenchError
from tests.fakes import CharGramEncoder, ScriptedAdapter


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return write_demo_data_root(tmp_path_factory.mktemp("demo"), items_per_file=4)


def items(root: Path, name: str) -> list[dict]:
    return [json.loads(l) for l in (root / "fine-r1/eval" / name).read_text().splitlines()]


def write_predictions(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_predictions_are_scored_per_protocol(data_root, tmp_path):
    rows = items(data_root, "bird_seen.jsonl")
    preds = [{"doc_id": i, "response": f"<answer>{r['ground_truth']}</answer>", "extra": 1} for i, r in enumerate(rows)]
    preds[0]["response"] = "no tags at all"
    path = write_predictions(tmp_path / "p.jsonl", preds)
    results = rescore_file(path, task="cub_closed_seen", data_root=data_root, output_path=tmp_path / "out")
    assert results["results"]["cub_closed_seen"]["accuracy"] == 75.0
    assert results["results"]["cub_closed_seen"]["n"] == 4
    on_disk = json.loads((tmp_path / "out" / "results.json").read_text())
    assert on_disk["results"]["cub_closed_seen"]["accuracy"] == 75.0


def test_samples_written_by_run_rescore_to_the_same_numbers(data_root, tmp_path):
    config = RunConfig(tasks=("pets_open_unseen",), data_root=data_root, output_path=tmp_path / "run", trials=2,
                       protocol="finebench")
    card = ModelCard(name="fake", adapter="fake", model="fake")
    run = Evaluator(config, ScriptedAdapter(lambda r: f"a {r.options[r.doc_id % 4]}"), card,
                    encoder_loader=lambda s: CharGramEncoder()).run()
    for protocol in ("finebench", "fine-r1"):
        again = rescore_file(tmp_path / "run" / "samples_pets_open_unseen.jsonl", task="pets_open_unseen",
                             data_root=data_root, output_path=tmp_path / protocol, protocol=protocol,
                             encoder_loader=lambda s: CharGramEncoder())
        if protocol == "finebench":
            assert again["results"]["pets_open_unseen"] == run["results"]["pets_open_unseen"]
    # the paper protocol falls back to the whole text, which names the gt for doc 0 (options[0])
    assert again["results"]["pets_open_unseen"]["inclusion"] > run["results"]["pets_open_unseen"]["inclusion"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("{oops", "p.jsonl:2: invalid JSON"),
        ({"doc_id": 1}, "p.jsonl:2: a prediction needs the keys 'doc_id' and 'response'"),
        ({"doc_id": 99, "response": "x"}, "p.jsonl:2: doc_id 99 is not an index of the task's 4 items"),
        ({"doc_id": "1", "response": "x"}, "doc_id '1' is not an index"),
        ({"doc_id": 0, "response": "x"}, "p.jsonl:2: duplicate prediction for doc_id 0"),
        ({"doc_id": 1, "response": 3}, "'response' must be a string or null"),
        ({"doc_id": 1, "response": "x", "options": ["a", "b", "c", "d"]}, "are not those of item 1 of task cub_closed_seen: are these predictions for another task?"),
    ],
)
def test_bad_prediction_rows_are_named_by_line(data_root, tmp_path, row, message):
    path = write_predictions(tmp_path / "p.jsonl", [{"doc_id": 0, "response": "x"}, row])
    with pytest.raises(FinebenchError) as info:
        rescore_file(path, task="cub_closed_seen", data_root=data_root, output_path=tmp_path / "out")
    assert message in str(info.value)
    assert not (tmp_path / "out").exists()


def test_score_command_line(data_root, tmp_path):
    path = write_predictions(tmp_path / "p.jsonl", [{"doc_id": i, "response": "<answer>?</answer>"} for i in range(4)])
    out = subprocess.run([sys.executable, "-m", "finebench", "score", str(path), "--task", "dogs_open_seen",
                          "--metrics", "inclusion", "--data-root", str(data_root), "--output-path", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "o" / "results.json").read_text())["results"]["dogs_open_seen"]["inclusion"] == 0.0
    bad = subprocess.run([sys.executable, "-m", "finebench", "score", str(path), "--task", "dogs_open_seen",
                          "--metrics", "acuracy", "--data-root", str(data_root), "--output-path", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "acuracy" in bad.stderr


def test_a_run_folder_rescores_every_task_into_one_results_file(data_root, tmp_path):
    config = RunConfig(tasks=("cub",), data_root=data_root, output_path=tmp_path / "run", trials=1, metrics=("accuracy", "inclusion"))
    card = ModelCard(name="fake", adapter="fake", model="fake")
    run = Evaluator(config, ScriptedAdapter(lambda r: f"<answer>{r.options[r.doc_id % 4]}</answer>"), card).run()
    results = rescore(tmp_path / "run", tasks=["cub"], data_root=data_root, output_path=tmp_path / "out",
                      metrics=["accuracy", "inclusion"])
    assert list(results["results"]) == ["cub_closed_seen", "cub_closed_unseen", "cub_open_seen", "cub_open_unseen"]
    for task, summary in run["results"].items():
        assert results["results"][task] == summary
    assert results["groups"]["cub"]["n_tasks"] == 4 and results["groups"]["cub"] == run["groups"]["cub"]
    # repeated --task and comma lists on the command line
    out = subprocess.run([sys.executable, "-m", "finebench", "score", str(tmp_path / "run"), "--task", "cub_closed_seen",
                          "--task", "cub_open_seen,cub_open_unseen", "--metrics", "accuracy,inclusion",
                          "--data-root", str(data_root), "-o", str(tmp_path / "cli")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    on_disk = json.loads((tmp_path / "cli" / "results.json").read_text())
    assert list(on_disk["results"]) == ["cub_closed_seen", "cub_open_seen", "cub_open_unseen"]


def test_several_tasks_need_a_folder_holding_each_tasks_predictions(data_root, tmp_path):
    one = write_predictions(tmp_path / "p.jsonl", [{"doc_id": 0, "response": "x"}])
    with pytest.raises(FinebenchError, match="one file but 2 tasks"):
        rescore(one, tasks=["cub_closed_seen", "cub_open_seen"], data_root=data_root,
                output_path=tmp_path / "out")
    folder = tmp_path / "preds"
    folder.mkdir()
    write_predictions(folder / "cub_closed_seen.jsonl", [{"doc_id": i, "response": "x"} for i in range(4)])
    with pytest.raises(FinebenchError, match="no samples_TASK.jsonl .* for cub_open_seen$"):
        rescore(folder, tasks=["cub_closed_seen", "cub_open_seen"], data_root=data_root, output_path=tmp_path / "out")
    with pytest.raises(FinebenchError, match="no such predictions file or folder"):
        rescore(tmp_path / "nothing", tasks=["cub_closed_seen"], data_root=data_root, output_path=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_item_file_shared_by_two_tasks_is_read_once(data_root, tmp_path, monkeypatch):
    from finebench.evaluation import plan as module

    calls = []
    real = module.load_items
    monkeypatch.setattr(module, "load_items", lambda path: calls.append(path) or real(path))
    folder = tmp_path / "preds"
    folder.mkdir()
    for task in ("cub_closed_seen", "cub_open_seen"):  # both read bird_seen.jsonl
        write_predictions(folder / f"samples_{task}.jsonl", [{"doc_id": i, "response": "x"} for i in range(4)])
    rescore(folder, tasks=["cub_closed_seen", "cub_open_seen"], data_root=data_root, output_path=tmp_path / "out",
            metrics=["accuracy", "inclusion"])
    assert len(calls) == 1
