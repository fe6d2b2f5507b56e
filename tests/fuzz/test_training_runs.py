"""Training output folders: a run killed with SIGKILL resumes from its last checkpoint to the same
weights as an uninterrupted run; a different recipe's run is never silently mixed in; bad recipe
values and undecodable images fail before any model loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from finebench.training.tapo.config import config_from_mapping
from finebench.util.errors import ConfigError

RUN_FILE = "finebench_run.json"


def plan_output_dir(*args, **kwargs):
    from finebench.training.runs import plan_output_dir

    return plan_output_dir(*args, **kwargs)


def prepare_output_dir(*args, **kwargs):
    from finebench.training.runs import prepare_output_dir

    return prepare_output_dir(*args, **kwargs)

ROOT = Path(__file__).resolve().parents[2]
RECIPE = {"model": "m", "learning_rate": 1e-3, "max_steps": 4, "output_dir": "x", "report_to": ["none"]}


def test_an_empty_or_new_folder_starts_a_run(tmp_path):
    assert plan_output_dir(tmp_path / "new", RECIPE, "report.json", resume="auto", overwrite=False, where="r") == (False, None)
    assert prepare_output_dir(tmp_path / "new", RECIPE, "report.json", resume="auto", overwrite=False, where="r") is None
    assert json.loads((tmp_path / "new" / RUN_FILE).read_text())["recipe"]["learning_rate"] == 1e-3


def test_a_killed_run_of_the_same_recipe_resumes_from_its_last_complete_checkpoint(tmp_path):
    out = tmp_path / "run"
    prepare_output_dir(out, RECIPE, "report.json", resume="auto", overwrite=False, where="r")
    for step, complete in ((2, True), (4, True), (6, False)):  # checkpoint-6 was being written when killed
        (out / f"checkpoint-{step}").mkdir()
        if complete:
            (out / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    moved = {**RECIPE, "output_dir": "elsewhere", "logging_steps": 5}  # keys that do not change the weights
    assert prepare_output_dir(out, moved, "report.json", resume="auto", overwrite=False, where="r") == out / "checkpoint-4"
    assert plan_output_dir(out, RECIPE, "report.json", resume="never", overwrite=False, where="r") == (True, None)


def test_a_different_recipes_run_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "run"
    prepare_output_dir(out, RECIPE, "report.json", resume="auto", overwrite=False, where="r")
    (out / "report.json").write_text(json.dumps({"recipe": RECIPE}))
    (out / "model.safetensors").write_bytes(b"old weights")
    other = {**RECIPE, "learning_rate": 5e-6}
    with pytest.raises(ConfigError, match=r"holds a finished run of another recipe \(learning_rate: 0.001 -> 5e-06\)"):
        prepare_output_dir(out, other, "report.json", resume="auto", overwrite=False, where="sft.yaml")
    assert (out / "model.safetensors").exists()
    prepare_output_dir(out, other, "report.json", resume="auto", overwrite=True, where="sft.yaml")
    assert sorted(p.name for p in out.iterdir()) == [RUN_FILE]  # nothing of the old run is left to mix in


def test_a_folder_that_holds_no_run_is_never_cleared(tmp_path):
    (tmp_path / "thesis.tex").write_text("years of work")
    for overwrite in (False, True):
        with pytest.raises(ConfigError, match="holds no finebench training run"):
            prepare_output_dir(tmp_path, RECIPE, "report.json", resume="auto", overwrite=overwrite, where="r")
    assert (tmp_path / "thesis.tex").read_text() == "years of work"


TAPO_BASE = {"model": "builtin:tiny-qwen2.5-vl", "train_data": "t.json", "output_dir": "o"}


@pytest.mark.parametrize(("key", "value", "needle"), [
    ("top_p", 2.5, "'top_p' must be in (0, 1]"),
    ("temperature", -1, "'temperature' must be a number > 0"),
    ("max_completion_length", 0, "'max_completion_length' must be >= 1"),
    ("seed", -3, "'seed' must be >= 0"),
    ("learning_rate", 0, "'learning_rate' must be > 0"),
    ("resume", "sometimes", "'resume' must be one of auto, never"),
])
def test_tapo_recipe_values_are_checked_before_any_model_loads(key, value, needle):
    with pytest.raises(ConfigError) as refused:
        config_from_mapping({**TAPO_BASE, key: value}, "tapo.yaml")
    assert needle in str(refused.value) and str(refused.value).startswith("tapo.yaml")


def test_tapo_takes_builtin_models_as_sft_does(tmp_path, monkeypatch):
    from finebench.training import runs

    monkeypatch.setattr("finebench.models.builtin.resolve_builtin", lambda name: tmp_path / "models" / name)
    assert runs.model_source("builtin:tiny-qwen2.5-vl") == str(tmp_path / "models" / "tiny-qwen2.5-vl")
    assert runs.model_source("Qwen/Qwen2.5-VL-7B-Instruct") == "Qwen/Qwen2.5-VL-7B-Instruct"


def test_preflight_decodes_every_training_image(tmp_path):
    from PIL import Image

    from finebench.data.formats import Stage1Sample, check_stage1

    Image.new("RGB", (8, 8)).save(tmp_path / "good.png")
    (tmp_path / "truncated.png").write_bytes((tmp_path / "good.png").read_bytes()[:40])
    os.mkfifo(tmp_path / "fifo.png")
    samples = [Stage1Sample("<image>q", "<answer>a</answer>", (name,)) for name in ("good.png", "truncated.png", "fifo.png")]
    problems = {p.index: p.reason for p in check_stage1(samples, tmp_path)}
    assert sorted(problems) == [1, 2]
    assert problems[1].startswith("cannot decode image") and "is not a regular file" in problems[2]


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.mark.slow
def test_sft_killed_with_sigkill_resumes_to_the_uninterrupted_result(tiny_model_dir, tmp_path):
    from finebench.cli.train import sft_command
    from finebench.data.demo import write_demo_data_root
    from finebench.data.formats import write_stage1
    from tests.test_training_sft_train import SFT_YAML, demo_samples

    data_root = write_demo_data_root(tmp_path / "data", items_per_file=2)
    write_stage1(tmp_path / "train.json", demo_samples(data_root))
    common = [f"model={tiny_model_dir}", f"data_files={tmp_path / 'train.json'}", f"image_root={data_root}",
              "max_steps=6", "learning_rate=1e-3", "warmup_steps=0", "effective_batch_size=2",
              "per_device_train_batch_size=1", "bf16=false", "gradient_checkpointing=false",
              "dataloader_num_workers=0", "save_strategy=steps", "save_steps=2", "lr_scheduler_type=linear"]
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    died = subprocess.run([sys.executable, "-m", "tests.fuzz.sft_killed", "4", *common, f"output_dir={killed}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert died.returncode == -9, died.stderr[-3000:]
    assert (killed / "checkpoint-4" / "trainer_state.json").is_file() and not (killed / "finebench_sft.json").exists()
    resumed = sft_command(SFT_YAML, [*common, f"output_dir={killed}"])
    straight = sft_command(SFT_YAML, [*common, f"output_dir={tmp_path / 'straight'}"])
    assert resumed.global_step == straight.global_step == 6
    started = json.loads((killed / RUN_FILE).read_text())
    assert started["resumed_from"] == str(killed / "checkpoint-4")  # steps 5 and 6 only, on the restored state
    a, b = weights(killed), weights(tmp_path / "straight")
    assert a.keys() == b.keys()
    import torch

    assert all(torch.allclose(a[k], b[k], atol=1e-6, rtol=0) for k in a), "resumed weights differ"
    losses = [[e["loss"] for e in json.loads((d / "finebench_sft.json").read_text())["log_history"] if "loss" in e]
              for d in (killed, tmp_path / "straight")]
    assert losses[0] == pytest.approx(losses[1][-len(losses[0]):], abs=1e-6)
    # the same command with another recipe into the finished folder is refused
    with pytest.raises(ConfigError, match="holds a finished run of another recipe"):
        sft_command(SFT_YAML, [*common, "learning_rate=2e-3", f"output_dir={killed}"])
