"""TAPO recipes: the shipped YAML, overrides, errors naming file and key, the mapping onto TRL."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from finebench.training.tapo.config import (
    DEFAULT_FORMAT_PROMPT,
    config_from_mapping,
    grpo_args,
    load_tapo_config,
    parse_overrides,
)
from finebench.util.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "training" / "tapo.yaml"
MINIMAL = {"model": "m", "train_data": "d.json", "output_dir": "out"}


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_the_shipped_recipe_has_the_paper_defaults() -> None:
    config = load_tapo_config(RECIPE)
    assert (config.n_anchor, config.n_positive, config.conditioning) == (5, 5, "own")
    assert (config.gamma, config.eta_policy, config.eta_negative, config.neg_grad) == (0.01, 0.03, 0.03, True)
    assert (config.epsilon_low, config.epsilon_high, config.max_resample_rounds) == (0.2, 0.28, 20)
    assert (config.learning_rate, config.weight_decay, config.temperature) == (1e-6, 0.01, 1.0)
    assert (config.accuracy_weight, config.format_weight) == (0.9, 0.1)
    assert config.format_prompt == DEFAULT_FORMAT_PROMPT
    # 4 GPUs x 8 rollouts x 60 micro-batches = 192 prompts x 10 rollouts per generation (the release)
    assert 4 * config.per_device_train_batch_size * config.steps_per_generation == 192 * config.group_size


def test_overrides_are_typed_yaml_scalars() -> None:
    assert parse_overrides(["max_steps=2", "neg_grad=false", "run_name=null", "report_to=[tensorboard, wandb]",
                            "trl.vllm_server_timeout=600", "output_dir=/tmp/x=y"]) == {
        "max_steps": 2, "neg_grad": False, "run_name": None, "report_to": ["tensorboard", "wandb"],
        "trl": {"vllm_server_timeout": 600}, "output_dir": "/tmp/x=y",
    }
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_overrides(["max_steps"])


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, {**MINIMAL, "gamma": 0.5, "trl": {"vllm_server_timeout": 10}})
    config = load_tapo_config(path, ["gamma=0", "max_steps=2", "trl.vllm_server_host=h"])
    assert (config.gamma, config.max_steps) == (0.0, 2)
    assert config.trl == {"vllm_server_timeout": 10, "vllm_server_host": "h"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"gama": 0.1}, r"unknown key 'gama'; did you mean 'gamma'"),
        ({"n_anchor": "five"}, r"key 'n_anchor' must be an integer"),
        ({"neg_grad": "yes"}, r"key 'neg_grad' must be true or false"),
        ({"gamma": -0.1}, r"key 'gamma' must be >= 0"),
        ({"conditioning": "positive"}, r"key 'conditioning' must be one of own, anchor"),
        ({"dynamic_sampling_key": "format"}, r"key 'dynamic_sampling_key' must be one of"),
        ({"vllm_mode": "remote"}, r"key 'vllm_mode' must be one of colocate, server"),
        ({"n_anchor": 1, "n_positive": 0}, r"at least 2 rollouts"),
        ({"per_device_train_batch_size": 4}, r"multiple of n_anchor \+ n_positive \(10\)"),
        ({"warmup_ratio": 1.5}, r"key 'warmup_ratio' must be in \[0, 1\)"),
        ({"trl": {"beta": 0.04}}, r"key 'trl' may not set beta"),
        ({"trl": {"learning_rate": 1.0}}, r"key 'trl' may not set learning_rate"),
        ({"output_dir": ""}, r"key 'output_dir' is required"),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path: Path, change: dict, message: str) -> None:
    path = write(tmp_path, {**MINIMAL, **change})
    with pytest.raises(ConfigError, match=message) as info:
        load_tapo_config(path)
    assert str(path) in str(info.value)


def test_an_override_error_names_the_override(tmp_path: Path) -> None:
    expected = r"with overrides max_step=2\): unknown key 'max_step'; did you mean 'max_steps'"
    with pytest.raises(ConfigError, match=expected):
        load_tapo_config(write(tmp_path, MINIMAL), ["max_step=2"])


def test_integers_are_accepted_for_float_keys_and_numbers_for_strings() -> None:
    config = config_from_mapping({**MINIMAL, "gamma": 1, "num_train_epochs": 3, "run_name": 2024}, "x")
    assert (config.num_train_epochs, config.run_name) == (3.0, "2024")


def test_trl_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="key 'trl' must be a mapping"):
        load_tapo_config(write(tmp_path, {**MINIMAL, "trl": ["beta"]}))


def test_grpo_args_are_dapo_without_reference_model() -> None:
    config = config_from_mapping({**MINIMAL, "n_anchor": 3, "n_positive": 2, "per_device_train_batch_size": 5,
                                  "trl": {"vllm_server_timeout": 7}}, "x")
    args = grpo_args(config)
    assert (args["loss_type"], args["beta"], args["epsilon"], args["epsilon_high"]) == ("dapo", 0.0, 0.2, 0.28)
    assert args["num_generations"] == 5
    assert args["reward_weights"] == [0.9, 0.1]
    assert (args["learning_rate"], args["weight_decay"], args["temperature"]) == (1e-6, 0.01, 1.0)
    assert args["remove_unused_columns"] is False
    assert args["vllm_server_timeout"] == 7


def test_vllm_settings_map_onto_trl() -> None:
    config = config_from_mapping({**MINIMAL, "use_vllm": True, "vllm_mode": "server",
                                  "vllm_server_base_url": "http://h:8000"}, "x")
    args = grpo_args(config)
    assert (args["use_vllm"], args["vllm_mode"], args["vllm_server_base_url"]) == (True, "server", "http://h:8000")
    assert grpo_args(config_from_mapping(MINIMAL, "x"))["use_vllm"] is False


def test_grpo_args_build_a_trl_config(tmp_path: Path) -> None:
    from trl import GRPOConfig

    config = config_from_mapping({**MINIMAL, "output_dir": str(tmp_path), "report_to": "tensorboard"}, "x")
    args = GRPOConfig(**grpo_args(config))
    assert args.report_to == ["tensorboard"]
    assert (args.num_generations, args.generation_batch_size % args.num_generations) == (10, 0)


def test_the_accelerate_config_names_an_existing_deepspeed_file() -> None:
    accelerate = yaml.safe_load((REPO / "training" / "accelerate_tapo_zero3.yaml").read_text())
    assert accelerate["distributed_type"] == "DEEPSPEED"
    assert (REPO / accelerate["deepspeed_config"]["deepspeed_config_file"]).is_file()


def test_exponent_floats_from_the_command_line_are_numbers_and_warmup_needs_a_warmup_scheduler(tmp_path) -> None:
    recipe = write(tmp_path, MINIMAL)
    assert load_tapo_config(recipe, ["learning_rate=2e-5"]).learning_rate == 2e-5  # YAML 1.1 reads "2e-5" as text
    with pytest.raises(ConfigError, match=r"key 'warmup_ratio' is 0.1 but lr_scheduler_type 'constant' has no warm-up"):
        load_tapo_config(recipe, ["warmup_ratio=0.1", "lr_scheduler_type=constant"])
    assert load_tapo_config(recipe, ["warmup_ratio=0.1", "lr_scheduler_type=constant_with_warmup"]).warmup_ratio == 0.1
