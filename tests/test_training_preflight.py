"""Preflight: a recipe that cannot run on this machine fails before any model loads, with the
recipe file and the key to change (bf16 support, weight dtype vs optimiser, report_to loggers)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import torch
import yaml

from finebench.data.demo import write_demo_data_root
from finebench.data.formats import write_stage1
from finebench.training import preflight
from finebench.training.sft.recipe import load_recipe
from finebench.training.sft.trainer import run_sft
from finebench.training.tapo.config import load_tapo_config
from finebench.training.tapo.run import train_tapo
from finebench.util.errors import ConfigError
from tests.test_training_sft_train import SFT_YAML, demo_samples

REPO = Path(__file__).resolve().parents[1]
TAPO_YAML = REPO / "training" / "tapo.yaml"


@pytest.fixture
def train_file(tmp_path: Path) -> Path:
    data_root = write_demo_data_root(tmp_path / "data", items_per_file=2)
    write_stage1(tmp_path / "train.json", demo_samples(data_root))
    return tmp_path / "train.json"


def test_bf16_weights_with_plain_adamw_are_refused_naming_file_and_key(train_file: Path) -> None:
    work = train_file.parent
    recipe = load_recipe(SFT_YAML, [f"data_files={work / 'train.json'}", f"output_dir={work / 'o'}",
                                    "dtype=bfloat16", "model=/nonexistent"])
    with pytest.raises(ConfigError, match=r"^training/sft.yaml: key 'dtype' is bfloat16 with optimizer 'adamw'"):
        run_sft(recipe, "training/sft.yaml")
    # with DeepSpeed (fp32 master weights of its own) or the Kahan optimiser it is allowed
    preflight.check_precision(dtype="bfloat16", bf16=False, optimizer="adamw", deepspeed=True, where="r")
    preflight.check_precision(dtype="bfloat16", bf16=False, optimizer="adamw_kahan", deepspeed=False, where="r")


def test_bf16_on_a_device_without_it_is_refused_before_the_model_loads(train_file: Path, monkeypatch) -> None:
    work = train_file.parent
    monkeypatch.setattr(preflight, "bf16_support", lambda: (False, "Tesla V100-SXM2-32GB"))
    recipe = load_recipe(SFT_YAML, [f"data_files={work / 'train.json'}", f"output_dir={work / 'o'}",
                                    "model=/nonexistent", "report_to=[none]"])
    with pytest.raises(ConfigError, match=r"^my.yaml: key 'bf16' is true, but Tesla V100-SXM2-32GB has no bfloat16"):
        run_sft(recipe, "my.yaml")


def test_this_machine_supports_bf16_autocast() -> None:
    supported, device = preflight.bf16_support()
    assert supported and device in ("cpu", torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu")


def test_the_train_extra_installs_every_logger_the_shipped_recipes_use() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    installed = {requirement.split(">")[0].split("=")[0].split("<")[0].strip() for requirement in extras["train"]}
    for recipe in sorted((REPO / "training").glob("*.yaml")):
        for target in yaml.safe_load(recipe.read_text()).get("report_to", []) or []:
            if target != "none":
                assert preflight.REPORT_TO_PACKAGES[target] in installed, f"{recipe.name}: {target}"
    preflight.check_report_to(load_tapo_config(TAPO_YAML).report_to, str(TAPO_YAML))  # installed here: passes


def test_an_uninstalled_logger_is_named_with_key_file_and_package(monkeypatch) -> None:
    import transformers.integrations.integration_utils as integrations

    monkeypatch.setattr(integrations, "get_available_reporting_integrations", lambda: [])
    config = load_tapo_config(TAPO_YAML, ["model=/nonexistent", "train_data=/nonexistent.json"])
    with pytest.raises(ConfigError, match=r"^training/tapo.yaml: key 'report_to' asks for 'tensorboard', but its "
                                          r"package is not installed: pip install tensorboard"):
        train_tapo(config, "training/tapo.yaml")  # before the (nonexistent) model or data is touched


def test_an_unknown_logger_gets_a_suggestion(train_file: Path) -> None:
    recipe = load_recipe(SFT_YAML, [f"data_files={train_file}", "output_dir=o", "report_to=[tensorbord]"])
    with pytest.raises(ConfigError, match=r"^r.yaml: key 'report_to': unknown logger 'tensorbord'; did you mean "
                                          r"'tensorboard'"):
        run_sft(recipe, "r.yaml")


def test_a_recipe_whose_model_folder_a_sibling_recipe_writes_names_that_stage(tmp_path, monkeypatch):
    """`train tapo` before `train sft`: the TAPO recipe's model is the SFT recipe's output_dir."""
    from finebench.cli.train import tapo_command
    from finebench.util import hub
    from finebench.util.errors import FinebenchError

    monkeypatch.chdir(tmp_path)  # a fresh clone: no checkpoints/ yet
    monkeypatch.setattr(hub, "hub_unreachable_reason", lambda: pytest.fail("asked the Hub for a local folder"))
    recipes = Path(__file__).resolve().parents[1] / "training"
    with pytest.raises(FinebenchError) as caught:
        tapo_command(recipes / "synth-tapo.yaml", [])
    assert str(caught.value) == (
        f"{recipes / 'synth-tapo.yaml'}: key 'model': folder checkpoints/synth-sft does not exist; it is written by "
        f"`finebench train sft --config {recipes / 'synth-sft.yaml'}`: run that first")


def test_the_hint_after_training_uses_the_recipes_tasks_and_data_root(tmp_path, monkeypatch):
    from finebench.cli.train import evaluate_command
    from finebench.data.synthetic import build_synthetic
    from finebench.training.tapo.config import load_tapo_config

    monkeypatch.chdir(tmp_path)
    build_synthetic(tmp_path / "finebench-data", test_per_class=1, train_per_class=2, image_size=28)
    config = load_tapo_config(Path(__file__).resolve().parents[1] / "training" / "synth-tapo.yaml", [])
    hint = evaluate_command(config.output_dir, config.eval_tasks, [config.train_data], config.image_root)
    assert hint == "finebench run --model hf:checkpoints/synth-tapo --tasks synth --data-root finebench-data"
    # the paper's recipes (data not generated here) evaluate on fgvr; eval_tasks wins when set
    assert evaluate_command("c", [], ["released.json"], None) == "finebench run --model hf:c --tasks fgvr"
    assert evaluate_command("c", ["cub_closed_seen", "cub_open_seen"], [], "d") == (
        "finebench run --model hf:c --tasks cub_closed_seen,cub_open_seen --data-root d")
