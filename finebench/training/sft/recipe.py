"""The SFT recipe: a YAML file plus key=value overrides, read into one typed dataclass and checked
(types, ranges, required keys) before any model loads; and the batch arithmetic that makes the
effective batch size independent of the number of processes."""

from __future__ import annotations

import difflib
import math
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from finebench.data.formats import (
    BAD_SAMPLE_POLICIES,
)
from finebench.tasks.config import read_yaml_mapping, yaml_float
from finebench.training import preflight, runs
from finebench.training.evaluation_callback import EvaluationKeys
from finebench.training.images import IMAGE_MODES
from finebench.util.errors import ConfigError

DTYPES = ("float32", "bfloat16", "float16")


SAVE_STRATEGIES = ("no", "steps", "epoch")


REQUIRED = ("model", "data_files", "output_dir")


@dataclass(frozen=True)
class SFTRecipe(EvaluationKeys):
    """One SFT run; see ``training/sft.yaml`` for the paper's values and what each key means."""

    model: str = ""
    """A local folder, a hub id (in the HF cache when offline) or ``builtin:tiny-qwen2.5-vl``."""
    data_files: list[str] = field(default_factory=list)
    """Stage-1 JSON files (the released one, ``finebench`` CoT output, or both)."""
    image_root: str | None = None
    """Folder that relative image paths in the data are resolved against [default: working dir]."""
    output_dir: str = ""
    classes_file: str | None = None
    """Optional class list, one name a line: a sample whose <answer> is not in it is a bad sample."""
    on_bad_sample: str = "error"
    """``error``: refuse the data if any sample is bad; ``skip``: train without them, listed."""

    learning_rate: float = 5e-6
    lr_scheduler_type: str = "cosine"
    warmup_steps: int = 6
    weight_decay: float = 0.1
    max_grad_norm: float = 1.0
    num_train_epochs: float = 10.0
    max_steps: int = -1
    """> 0 stops after that many optimiser steps (smoke runs); -1 trains all epochs."""
    effective_batch_size: int = 64
    per_device_train_batch_size: int = 4
    seed: int = 42

    dtype: str = "float32"
    """Dtype the weights are loaded (and kept) in; with ``bf16`` the compute runs in bfloat16 and
    the optimiser updates float32 master weights, so lr 5e-6 steps are not lost to rounding."""
    optimizer: str = "adamw"
    """``adamw`` (needs float32 weights unless DeepSpeed keeps master weights) or ``adamw_kahan``
    (Kahan-summed AdamW for bfloat16 weights, see ``finebench.training.optim``)."""
    bf16: bool = True
    gradient_checkpointing: bool = True
    attn_implementation: str | None = None
    """``sdpa``, ``flash_attention_2``...; None lets transformers choose."""
    freeze_vision_tower: bool = True
    max_length: int = 4096
    image_max_pixels: int = 768 * 768
    image_min_pixels: int = 32 * 32
    image_resize: str = "processor"
    """How images meet the pixel bounds (``finebench.training.images``): ``processor`` (RGB first,
    then scaled to land inside the bounds; the processor refuses extreme aspect ratios) or
    ``release`` (LLaMA-Factory's Qwen2-VL rules, as the released stage-1 run)."""

    deepspeed: str | None = None
    """A DeepSpeed JSON (``training/ds_zero3.json``) when launched with torchrun; leave empty when
    ``accelerate launch --config_file training/accelerate_zero3.yaml`` already names one."""
    logging_steps: int = 1
    save_strategy: str = "no"
    """Intermediate checkpoints (``steps``/``epoch``); the final model is always saved."""
    save_steps: int = 500
    report_to: list[str] = field(default_factory=lambda: ["none"])
    dataloader_num_workers: int = 0
    resume: str = "auto"
    """``auto``: a killed run of the same recipe in ``output_dir`` continues from its last
    checkpoint (needs ``save_strategy`` steps or epoch); ``never``: start over."""
    overwrite: bool = False
    """Replace a different recipe's run in ``output_dir`` (refused otherwise)."""


def load_recipe(path: Path, overrides: Sequence[str] = ()) -> SFTRecipe:
    """The YAML recipe at ``path`` with ``key=value`` overrides applied (values parsed as YAML)."""
    path = Path(path)
    data = read_yaml_mapping(path)
    sources = dict.fromkeys(data, str(path))
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected key=value")
        try:
            data[key] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: invalid value ({exc})") from exc
        sources[key] = f"override {item!r}"
    return recipe_from_mapping(data, sources, str(path))


def recipe_from_mapping(data: dict[str, Any], sources: dict[str, str], recipe_name: str) -> SFTRecipe:
    """Validate every key; ``sources`` says where each came from (a file or an override)."""
    hints = typing.get_type_hints(SFTRecipe)
    known = [f.name for f in fields(SFTRecipe)]
    values = {}
    for key, value in data.items():
        where = sources.get(key, recipe_name)
        if key not in hints:
            close = difflib.get_close_matches(key, known, n=1)
            suggestion = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{where}: unknown key {key!r}{suggestion}")
        values[key] = _coerce(value, hints[key], f"{where}: key {key!r}")
    recipe = SFTRecipe(**values)
    _check_values(recipe, lambda key: sources.get(key, recipe_name))
    return recipe


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """``value`` checked against a field type (int -> float is the only conversion)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        if value is None:
            return None
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    origin = typing.get_origin(annotation) or annotation
    if origin is bool:
        ok = isinstance(value, bool)
    elif origin is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif origin is float:
        value = yaml_float(value)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        value = float(value) if ok else value
    elif origin is str:
        ok = isinstance(value, str)
    else:  # list[str]; a single string is a one-element list
        value = [value] if isinstance(value, str) else value
        ok = isinstance(value, list) and all(isinstance(v, str) and v for v in value)
    if not ok:
        names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
        expected = names.get(origin, "a list of strings")
        raise ConfigError(f"{where} must be {expected}, got {value!r}")
    return value


def _check_values(recipe: SFTRecipe, where: Any) -> None:
    """Checks that need no heavy import (the scheduler name is checked by ``build_trainer``), so a
    typo fails in a fraction of a second rather than after the model is loaded."""

    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(f"{where(key)}: key {key!r} {message}")

    for key in REQUIRED:
        if not getattr(recipe, key):
            raise fail(key, "is required")
    choices = {
        "on_bad_sample": BAD_SAMPLE_POLICIES,
        "dtype": DTYPES,
        "optimizer": preflight.OPTIMIZERS,
        "save_strategy": SAVE_STRATEGIES,
        "image_resize": IMAGE_MODES,
        "resume": runs.RESUME_MODES,
    }
    for key, allowed in choices.items():
        if getattr(recipe, key) not in allowed:
            raise fail(key, f"must be one of {', '.join(allowed)}, got {getattr(recipe, key)!r}")
    for key in ("learning_rate", "effective_batch_size", "per_device_train_batch_size", "max_length",
                "image_min_pixels", "logging_steps", "save_steps", "num_train_epochs"):
        if getattr(recipe, key) <= 0:
            raise fail(key, f"must be positive, got {getattr(recipe, key)}")
    for key in ("warmup_steps", "weight_decay", "max_grad_norm", "dataloader_num_workers", "seed"):
        if getattr(recipe, key) < 0:
            raise fail(key, f"must not be negative, got {getattr(recipe, key)}")
    if recipe.max_steps == 0 or recipe.max_steps < -1:
        raise fail("max_steps", f"must be a positive number of steps, or -1 for all epochs; got {recipe.max_steps}")
    if recipe.image_max_pixels < recipe.image_min_pixels:
        bounds = f"({recipe.image_max_pixels}) is below image_min_pixels ({recipe.image_min_pixels})"
        raise fail("image_max_pixels", bounds)
    if recipe.effective_batch_size % recipe.per_device_train_batch_size:
        raise fail("effective_batch_size", f"({recipe.effective_batch_size}) must be a multiple of "
                   f"per_device_train_batch_size ({recipe.per_device_train_batch_size})")


def gradient_accumulation_steps(recipe: SFTRecipe, world_size: int) -> int:
    per_step = recipe.per_device_train_batch_size * world_size
    if recipe.effective_batch_size % per_step:
        raise ConfigError(
            f"effective_batch_size {recipe.effective_batch_size} is not a multiple of per_device_train_batch_size "
            f"{recipe.per_device_train_batch_size} x {world_size} process(es)"
        )
    return recipe.effective_batch_size // per_step
