"""A 2-step TAPO run from a recipe, whose checkpoint the harness then evaluates as ``hf:DIR``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from finebench.cli.train import tapo_command

pytestmark = pytest.mark.slow


def test_two_steps_train_log_and_the_checkpoint_loads_back_in_the_harness(
    tiny_model_dir: Path, tapo_stage2_file: Path, tmp_path: Path
) -> None:
    recipe = tmp_path / "tapo.yaml"
    recipe.write_text(yaml.safe_dump({
        "model": str(tiny_model_dir), "train_data": str(tapo_stage2_file), "output_dir": "unused",
        "n_anchor": 2, "n_positive": 2, "per_device_train_batch_size": 4, "max_completion_length": 8,
        "max_resample_rounds": 2, "save_steps": 1,
    }), encoding="utf-8")
    out = tmp_path / "ckpt"
    checkpoint = tapo_command(recipe, ["max_steps=2", f"output_dir={out}", "conditioning=anchor"])
    assert checkpoint == out

    state = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    logged = [entry for entry in state["log_history"] if "loss" in entry]
    assert len(logged) == 2
    for key in ("reward", "rewards/accuracy_reward/mean", "rewards/format_reward/mean", "tapo/inter_class_kl",
                "tapo/policy_entropy", "tapo/negative_entropy", "tapo/kept_groups", "tapo/dropped_groups",
                "tapo/short_groups", "completions/mean_length"):
        assert key in logged[0], key

    from finebench.adapters.factory import RuntimeOptions
    from finebench.adapters.hf import HFAdapter
    from finebench.data.demo import write_demo_data_root
    from finebench.evaluation.config import RunConfig
    from finebench.evaluation.evaluator import Evaluator
    from finebench.models.cards import ModelCard

    # as `finebench run --model hf:DIR` builds it, with short answers: a random model rarely stops by itself
    card = ModelCard(name=f"hf:{out}", adapter="hf", model=str(out), generation={"max_new_tokens": 16})
    adapter = HFAdapter.from_card(card, RuntimeOptions(device="cpu"))
    data_root = write_demo_data_root(tmp_path / "data", items_per_file=2)
    config = RunConfig(tasks=("cub_closed_seen",), data_root=data_root, output_path=tmp_path / "eval",
                       metrics=("accuracy",), trials=1)
    results = Evaluator(config, adapter, card).run()
    assert results["results"]["cub_closed_seen"]["n_errors"] == 0
