"""Evaluation during training (eval_tasks in SFT and TAPO recipes): settings checked before any
model loads, the evaluator run on live weights without disturbing training state, and, slow, a
curve that rises during SFT on the synthetic benchmark, logged to tensorboard and tabulated by
`finebench leaderboard` and the explorer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from finebench.training.evaluation_callback import (
    EvalSettings,
    eval_settings,
    evaluate_weights,
    flat_scores,
    read_curve,
)
from finebench.training.sft.recipe import load_recipe
from finebench.training.tapo.config import load_tapo_config
from finebench.util.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory) -> Path:
    from finebench.data.synthetic import build_synthetic

    root = tmp_path_factory.mktemp("synth")
    build_synthetic(root, seed=0, image_size=84, test_per_class=4, train_per_class=16)
    return root


def test_recipes_take_the_eval_keys_and_bad_values_fail_before_a_model_loads(synth_root):
    sft = load_recipe(REPO / "training" / "synth-sft.yaml", ["eval_tasks=[synth_closed_seen]", "eval_limit=8",
                                                            f"eval_data_root={synth_root}"])
    settings = eval_settings(sft, "recipe")
    assert settings.tasks == ("synth_closed_seen",) and settings.limit == 8 and settings.steps == 100
    assert eval_settings(load_recipe(REPO / "training" / "synth-sft.yaml"), "recipe") is None  # off by default
    tapo = load_tapo_config(REPO / "training" / "synth-tapo.yaml", ["eval_tasks=synth", "eval_steps=5",
                                                                    f"eval_data_root={synth_root}", "eval_metrics=[accuracy]"])
    assert eval_settings(tapo, "tapo.yaml").metrics == ("accuracy",)
    for overrides, message in (
        (["eval_tasks=[synth_closed_sen]"], "synth_closed_sen"),
        (["eval_tasks=[synth_closed_seen]", "eval_steps=0"], "eval_steps"),
        (["eval_tasks=[synth_closed_seen]", "eval_limit=0"], "eval_limit"),
        (["eval_tasks=[synth_closed_seen]", "eval_metrics=[acuracy]"], "acuracy"),
        (["eval_tasks=[cub_closed_seen]"], "item file"),
        (["eval_tasks=[synth_closed_seen]", "deepspeed=training/ds_zero3.json"], "DeepSpeed"),
    ):
        recipe = load_recipe(REPO / "training" / "synth-sft.yaml", [*overrides, f"eval_data_root={synth_root}"])
        with pytest.raises(ConfigError, match=message) as error:
            eval_settings(recipe, "synth-sft.yaml")
        assert str(error.value).startswith("synth-sft.yaml: key 'eval_")
    with pytest.raises(ConfigError, match="eval_limit"):
        load_recipe(REPO / "training" / "synth-sft.yaml", ["eval_limit=many"])


def test_evaluate_weights_runs_the_evaluator_and_restores_the_model(synth_root, tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from finebench.models.builtin import resolve_builtin

    source = resolve_builtin("tiny-qwen2.5-vl")
    model = AutoModelForImageTextToText.from_pretrained(source)
    processor = AutoProcessor.from_pretrained(source)
    model.train()
    model.config.use_cache = False
    processor.tokenizer.padding_side = "right"
    settings = EvalSettings(("synth_closed_seen",), 10, 6, synth_root, ("accuracy",), 4, tmp_path)
    results = evaluate_weights(model, processor, settings, 20, "run", seed=0)
    assert model.training and model.config.use_cache is False and processor.tokenizer.padding_side == "right"
    folder = tmp_path / "eval" / "step-000020"
    on_disk = json.loads((folder / "results.json").read_text())
    assert on_disk["model"]["name"] == "run@step-20" and on_disk["results"]["synth_closed_seen"]["n"] == 6
    assert len((folder / "samples_synth_closed_seen.jsonl").read_text().splitlines()) == 6  # synth tasks: one trial
    assert flat_scores(results)["eval_synth_closed_seen/accuracy"] == results["results"]["synth_closed_seen"]["accuracy"]
    # the same seeded items as `finebench run --limit 6` picks
    from finebench.evaluation.plan import select_items
    from finebench.tasks.index import TaskIndex
    from finebench.tasks.items import load_items

    task = TaskIndex().load("synth_closed_seen")
    items = select_items(load_items(synth_root / task.source), 6, task.seed)
    rows = [json.loads(line) for line in (folder / "samples_synth_closed_seen.jsonl").read_text().splitlines()]
    assert sorted({r["doc_id"] for r in rows}) == [item.doc_id for item in items]


def finebench(*args: str, cwd: Path = REPO) -> str:
    result = subprocess.run([sys.executable, "-m", "finebench", *args], cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
def test_accuracy_rises_during_sft_on_the_synthetic_benchmark(synth_root, tmp_path):
    """About 4 minutes on 2 cores: 160 SFT steps of the tiny model, evaluated every 80 steps on 48
    seeded seen-class items (chance is 25%, the random model does not answer)."""
    out = tmp_path / "sft"
    finebench("train", "sft", "--config", "training/synth-sft.yaml", f"data_files={synth_root}/synth/sft/synth-stage1.json",
              f"image_root={synth_root}", f"output_dir={out}", "max_steps=160", "eval_tasks=[synth_closed_seen]",
              "eval_steps=80", "eval_limit=48", f"eval_data_root={synth_root}", "report_to=[tensorboard]")
    curve = read_curve(out)
    steps = [point["step"] for point in curve]
    accuracy = [point["eval_synth_closed_seen/accuracy"] for point in curve]
    print("steps", steps, "accuracy", accuracy)
    assert steps == [0, 80, 160]
    assert accuracy[0] < 10 and accuracy[-1] > 25 and accuracy[-1] > accuracy[0] + 20  # measured: 0.0, 2.1, 37.5

    # the trainer's loggers got the same numbers at the same steps
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = [EventAccumulator(str(path.parent)).Reload() for path in (out / "runs").rglob("events.out.tfevents.*")]
    logged = {e.step: e.value for acc in events if "eval/synth_closed_seen/accuracy" in acc.Tags()["scalars"]
              for e in acc.Scalars("eval/synth_closed_seen/accuracy")}
    assert sorted(logged) == steps and [logged[s] for s in steps] == pytest.approx(accuracy)

    # each step is a results folder: the leaderboard tabulates the curve, the explorer compares its ends
    folders = [str(out / "eval" / f"step-{s:06d}") for s in steps]
    finebench("leaderboard", *folders, "--out", str(tmp_path / "lb"), "--resamples", "0", "--no-plots", "--explorer")
    table = (tmp_path / "lb" / "README.md").read_text()
    assert all(f"sft@step-{s}" in table for s in steps)
    assert (tmp_path / "lb" / "explorer" / "index.html").is_file()


@pytest.mark.slow
def test_tapo_recipe_evaluates_during_training(tiny_model_dir, synth_root, tmp_path):
    """Two TAPO steps of the tiny model with an evaluation at every step (about 30 s)."""
    from finebench.cli.train import tapo_command

    out = tmp_path / "tapo"
    tapo_command(REPO / "training" / "synth-tapo.yaml", [
        f"model={tiny_model_dir}", f"train_data={synth_root}/synth/tapo/synth-stage2.json", f"image_root={synth_root}",
        f"output_dir={out}", "max_steps=2", "max_completion_length=16", "eval_tasks=[synth_closed_seen]",
        "eval_steps=1", "eval_limit=4", f"eval_data_root={synth_root}",
    ])
    assert [point["step"] for point in read_curve(out)] == [0, 1, 2]
    history = json.loads((out / "finebench_tapo.json").read_text())["log_history"]
    assert [entry["step"] for entry in history if "eval_synth_closed_seen/accuracy" in entry] == [0, 1, 2]
    for step in (0, 1, 2):
        results = json.loads((out / "eval" / f"step-{step:06d}" / "results.json").read_text())
        assert results["results"]["synth_closed_seen"]["n"] == 4 and results["model"]["name"] == f"tapo@step-{step}"
