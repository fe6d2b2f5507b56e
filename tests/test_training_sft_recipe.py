"""SFT recipes: the shipped files, key=value overrides, and errors that name the file and key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from PIL import Image

from finebench.training.images import fit_inside
from finebench.training.sft.recipe import SFTRecipe, gradient_accumulation_steps, load_recipe
from finebench.training.sft.trainer import freeze_vision_tower
from finebench.util.errors import ConfigError

TRAINING_DIR = Path(__file__).resolve().parents[1] / "training"
SFT_YAML = TRAINING_DIR / "sft.yaml"


def test_shipped_recipe_has_the_paper_defaults() -> None:
    recipe = load_recipe(SFT_YAML)
    assert recipe.model == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert (recipe.learning_rate, recipe.lr_scheduler_type, recipe.num_train_epochs) == (5e-6, "cosine", 10.0)
    assert (recipe.effective_batch_size, recipe.bf16, recipe.max_length) == (64, True, 4096)
    assert recipe.image_max_pixels == 768 * 768 and recipe.freeze_vision_tower
    assert (recipe.warmup_steps, recipe.weight_decay) == (6, 0.1)  # the released script's
    # Every key of the shipped file is a recipe field, so the file documents them all.
    assert set(yaml.safe_load(SFT_YAML.read_text())) == {f for f in SFTRecipe.__dataclass_fields__}


def test_deepspeed_and_accelerate_configs_fit_together() -> None:
    ds = json.loads((TRAINING_DIR / "ds_zero3.json").read_text())
    assert ds["zero_optimization"]["stage"] == 3 and ds["bf16"]["enabled"] == "auto"
    assert ds["train_micro_batch_size_per_gpu"] == ds["gradient_accumulation_steps"] == "auto"
    accelerate = yaml.safe_load((TRAINING_DIR / "accelerate_zero3.yaml").read_text())
    assert accelerate["distributed_type"] == "DEEPSPEED"
    assert (TRAINING_DIR.parent / accelerate["deepspeed_config"]["deepspeed_config_file"]).resolve() == (
        TRAINING_DIR / "ds_zero3.json").resolve()


def test_overrides_are_parsed_as_yaml_values() -> None:
    recipe = load_recipe(SFT_YAML, ["max_steps=1", "output_dir=/tmp/x", "learning_rate=1e-3", "bf16=false",
                                    "data_files=a.json", "attn_implementation=", "report_to=[tensorboard]"])
    assert (recipe.max_steps, recipe.output_dir, recipe.learning_rate, recipe.bf16) == (1, "/tmp/x", 1e-3, False)
    assert recipe.data_files == ["a.json"] and recipe.attn_implementation is None
    assert recipe.report_to == ["tensorboard"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["learnig_rate=1"], r"override 'learnig_rate=1': unknown key 'learnig_rate'; did you mean 'learning_rate'\?"),
        (["bf16=3"], r"override 'bf16=3': key 'bf16' must be true or false, got 3"),
        (["max_length=long"], r"key 'max_length' must be an integer, got 'long'"),
        (["learning_rate=fast"], r"key 'learning_rate' must be a number"),
        (["data_files=[1, 2]"], r"key 'data_files' must be a list of strings"),
        (["on_bad_sample=ignore"], r"override 'on_bad_sample=ignore': key 'on_bad_sample' must be one of skip, error"),
        (["dtype=int8"], r"key 'dtype' must be one of float32, bfloat16, float16"),
        (["model="], r"override 'model=': key 'model' must be a string, got None"),
        (["model=''"], r"override \"model=''\": key 'model' is required"),
        (["learning_rate=0"], r"key 'learning_rate' must be positive"),
        (["max_steps=0"], r"key 'max_steps' must be a positive number of steps, or -1"),
        (["effective_batch_size=10"],
         r"key 'effective_batch_size' \(10\) must be a multiple of per_device_train_batch_size \(4\)"),
        (["image_max_pixels=100"], r"key 'image_max_pixels' \(100\) is below image_min_pixels"),
        (["max_steps"], r"override 'max_steps': expected key=value"),
    ],
)
def test_bad_values_name_the_override_and_key(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_recipe(SFT_YAML, overrides)


def test_bad_values_in_a_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("model: m\ndata_files: [d.json]\noutput_dir: o\nwarmup_steps: -1\n")
    with pytest.raises(ConfigError, match=rf"{path}: key 'warmup_steps' must not be negative"):
        load_recipe(path)
    path.write_text("model: m\ndata_files: [d.json]\n")
    with pytest.raises(ConfigError, match=rf"{path}: key 'output_dir' is required"):
        load_recipe(path)
    path.write_text("- not a mapping\n")
    with pytest.raises(ConfigError, match="expected a YAML mapping"):
        load_recipe(path)
    path.write_text("model: m\ndata_files: d.json\noutput_dir: o\nlearning_rate: 5e-6\n")
    assert load_recipe(path).learning_rate == 5e-6  # YAML 1.1 reads 5e-6 as a string


def test_gradient_accumulation_follows_the_number_of_processes() -> None:
    recipe = load_recipe(SFT_YAML)
    assert [gradient_accumulation_steps(recipe, n) for n in (1, 2, 4, 8, 16)] == [16, 8, 4, 2, 1]
    with pytest.raises(ConfigError, match=r"not a multiple of per_device_train_batch_size 4 x 3 process"):
        gradient_accumulation_steps(recipe, 3)


def test_images_are_scaled_into_the_pixel_budget() -> None:
    big, small, fine = Image.new("RGB", (2000, 1000)), Image.new("RGB", (10, 20)), Image.new("RGB", (300, 200))
    scaled = fit_inside(big, 1024, 768 * 768)
    assert scaled.width * scaled.height <= 768 * 768 and abs(scaled.width / scaled.height - 2) < 0.01
    grown = fit_inside(small, 1024, 768 * 768)
    assert grown.width * grown.height >= 1024 and grown.height > grown.width
    assert fit_inside(fine, 1024, 768 * 768) is fine


def test_freezing_stops_gradients_to_the_vision_tower_only(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    frozen = freeze_vision_tower(model)
    vision = {id(p) for p in model.get_encoder(modality="image").parameters()}
    assert frozen == sum(p.numel() for p in model.get_encoder(modality="image").parameters()) > 0
    assert all(not p.requires_grad for p in model.parameters() if id(p) in vision)
    assert all(p.requires_grad for p in model.parameters() if id(p) not in vision)


def test_an_unknown_scheduler_is_refused_before_the_model_is_loaded() -> None:
    from finebench.training.sft.trainer import build_trainer

    recipe = load_recipe(SFT_YAML, ["lr_scheduler_type=cosin", "model=/nonexistent"])
    with pytest.raises(ConfigError, match="key 'lr_scheduler_type' must be one of linear, cosine"):
        build_trainer(recipe, [])


def test_recipe_maps_onto_trl_arguments() -> None:
    from finebench.training.sft.trainer import sft_config
    from finebench.util.compat import checkpointing_enabled

    args = sft_config(load_recipe(SFT_YAML, ["bf16=false", "output_dir=/tmp/unused"]), world_size=4)
    assert (args.learning_rate, args.lr_scheduler_type.value, args.num_train_epochs) == (5e-6, "cosine", 10.0)
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (4, 4)  # 4 x 4 x 4 GPUs = 64
    assert (args.max_length, args.assistant_only_loss, checkpointing_enabled(args)) == (4096, True, True)
    assert (args.warmup_steps, args.weight_decay, args.report_to) == (6, 0.1, [])


def test_bf16_on_a_cpu_only_machine_runs_as_cpu_autocast() -> None:
    """transformers refuses bf16 without a GPU unless told to train on the CPU; finebench tells it
    so only where there is no accelerator (bf16 support itself is a preflight check)."""
    import torch

    from finebench.training.sft.trainer import sft_config

    args = sft_config(load_recipe(SFT_YAML, ["output_dir=/tmp/unused"]), world_size=1)
    assert args.bf16 and args.use_cpu == (not torch.accelerator.is_available())
