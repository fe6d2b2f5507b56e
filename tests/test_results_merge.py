"""A second run into a results folder never drops the first: tasks accumulate, re-run tasks are
replaced, settings each task records may differ, another model or text encoder is refused before
any work, concurrent runs both land."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from finebench.data.demo import write_demo_data_root
from finebench.evaluation.config import RunConfig
from finebench.evaluation.evaluator import Evaluator
from finebench.models.cards import ModelCard
from finebench.util.errors import FinebenchError
from tests.fakes import CharGramEncoder, ScriptedAdapter

CARD = ModelCard(name="fake", adapter="fake", model="fake", family="test")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return write_demo_data_root(tmp_path_factory.mktemp("demo"), items_per_file=3)


def run(data_root: Path, out: Path, tasks: tuple[str, ...], adapter=None, **overrides):
    config = RunConfig(tasks=tasks, data_root=data_root, output_path=out, trials=1, **overrides)
    adapter = adapter or ScriptedAdapter()
    return Evaluator(config, adapter, CARD, encoder_loader=lambda spec: CharGramEncoder()).run(), adapter


def on_disk(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


def test_a_second_run_keeps_the_first_runs_tasks(data_root, tmp_path):
    run(data_root, tmp_path, ("cub_closed_seen",))
    first = on_disk(tmp_path)
    run(data_root, tmp_path, ("cars_closed_seen",))
    merged = on_disk(tmp_path)
    assert set(merged["results"]) == set(merged["tasks"]) == {"cub_closed_seen", "cars_closed_seen"}
    assert merged["results"]["cub_closed_seen"] == first["results"]["cub_closed_seen"]
    assert merged["created"] == first["created"] and merged["config"]["tasks"] == ["cub_closed_seen", "cars_closed_seen"]
    assert (tmp_path / "samples_cub_closed_seen.jsonl").is_file() and (tmp_path / "samples_cars_closed_seen.jsonl").is_file()


def test_a_rerun_task_is_replaced_and_groups_are_recomputed(data_root, tmp_path):
    run(data_root, tmp_path, ("cub_closed_seen",), adapter=ScriptedAdapter(lambda r: "<answer>none</answer>"))
    assert on_disk(tmp_path)["results"]["cub_closed_seen"]["accuracy"] == 0.0
    run(data_root, tmp_path, ("cub_closed_seen",), cache_path=tmp_path / "other-cache.sqlite")
    assert on_disk(tmp_path)["results"]["cub_closed_seen"]["accuracy"] == 100.0
    closed = ("aircraft", "cub", "cars", "dogs", "flowers", "pets")
    run(data_root, tmp_path, tuple(f"{d}_closed_unseen" for d in closed))
    run(data_root, tmp_path, tuple(f"{d}_closed_seen" for d in closed if d != "cub"))
    assert "fgvr_closed" in on_disk(tmp_path)["groups"]  # a group completed across three runs


def test_another_model_or_configuration_is_refused_before_any_generation(data_root, tmp_path):
    run(data_root, tmp_path, ("cub_closed_seen",))
    before = (tmp_path / "results.json").read_bytes()
    other = ScriptedAdapter(name="other")
    with pytest.raises(FinebenchError, match="holds results of another model.*fingerprint"):
        run(data_root, tmp_path, ("cars_closed_seen",), adapter=other)
    run(data_root, tmp_path / "open", ("cub_open_seen",), ss_encoder="enc-a")
    encoder = ScriptedAdapter()
    with pytest.raises(FinebenchError, match=r"another configuration \(ss_encoder 'enc-a' vs 'enc-b'\)"):
        run(data_root, tmp_path / "open", ("cars_open_seen",), adapter=encoder, ss_encoder="enc-b")
    assert other.n_generated == encoder.n_generated == 0
    assert (tmp_path / "results.json").read_bytes() == before


def test_settings_each_task_records_merge(data_root, tmp_path):
    """A --limit smoke run, then the full run, then another protocol: each task keeps its own."""
    run(data_root, tmp_path, ("cub_closed_seen",), limit=2)
    run(data_root, tmp_path, ("cars_closed_seen",))
    run(data_root, tmp_path, ("dogs_closed_seen",), protocol="finebench", seed=5)
    merged = on_disk(tmp_path)
    assert merged["results"]["cub_closed_seen"]["n"] == 2 and merged["results"]["cars_closed_seen"]["n"] == 3
    assert merged["tasks"]["dogs_closed_seen"]["protocol"] == "finebench"
    assert merged["tasks"]["cub_closed_seen"]["protocol"] == "fine-r1"


def test_two_concurrent_runs_into_one_folder_both_land(data_root, tmp_path):
    """Both runs are in flight at once (slow adapters); each writes after every task. Without the
    lock and re-read, the last writer's in-memory results would replace the other's."""
    errors = []

    def worker(tasks):
        try:
            run(data_root, tmp_path, tasks, adapter=ScriptedAdapter(latency_s=0.05), batch_size=1)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(tasks,)) for tasks in
               (("cub_closed_seen", "cars_closed_seen"), ("dogs_closed_seen", "pets_closed_seen"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert set(on_disk(tmp_path)["results"]) == {"cub_closed_seen", "cars_closed_seen", "dogs_closed_seen", "pets_closed_seen"}


def test_an_output_path_that_is_a_file_is_refused(data_root, tmp_path):
    (tmp_path / "out").write_text("not a folder")
    with pytest.raises(FinebenchError, match="is a file, not a folder"):
        run(data_root, tmp_path / "out" / "run", ("cub_closed_seen",))
    (tmp_path / "o2").mkdir()
    (tmp_path / "o2" / "results.json").write_text("{not json")
    with pytest.raises(FinebenchError, match="invalid JSON"):
        run(data_root, tmp_path / "o2", ("cub_closed_seen",))
