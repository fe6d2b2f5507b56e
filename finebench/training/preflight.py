"""Checks a training recipe must pass before any model is loaded.

A recipe that cannot run here should fail in seconds with the key and the file to fix, not after
the weights have been loaded onto every GPU, nor deep inside transformers with a message that
names neither (``TensorBoardCallback requires tensorboard to be installed``). Each check takes
``where``, the recipe's file (and overrides), to name in its error.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from finebench.adapters.checkpoints import BUILTIN_PREFIX
from finebench.util.errors import ConfigError
from finebench.util.hub import locate
from finebench.util.suggest import unknown_name_error

REPORT_TO_PACKAGES = {
    "azure_ml": "azureml-core", "clearml": "clearml", "codecarbon": "codecarbon", "comet_ml": "comet_ml",
    "dagshub": "dagshub", "dvclive": "dvclive", "mlflow": "mlflow", "neptune": "neptune",
    "swanlab": "swanlab", "tensorboard": "tensorboard", "trackio": "trackio", "wandb": "wandb",
    "kubeflow": "kubeflow",
}
"""The pip package behind each ``report_to`` target that transformers can tell is installed."""

LOW_PRECISION_WEIGHTS = ("bfloat16", "float16")
OPTIMIZERS = ("adamw", "adamw_kahan")
"""Recipe ``optimizer`` values (``finebench.training.optim`` builds them)."""


class Recipe(Protocol):
    """The fields of an SFT recipe or a TAPO config that the machine has to support."""

    report_to: list[str]
    dtype: str
    bf16: bool
    optimizer: str
    deepspeed: str | None


def recipe_source(path: Path, overrides: Sequence[str]) -> str:
    """How errors name a recipe: its file, and the command-line overrides applied to it."""
    return f"{path}" + (f" (with overrides {' '.join(overrides)})" if overrides else "")


def producing_command(folder: str, recipe_dir: Path) -> str | None:
    """The ``finebench train`` command whose recipe, next to this one, writes ``folder`` (its
    ``output_dir``): what to run first when a recipe's ``model`` does not exist yet."""
    import yaml

    target = os.path.normpath(os.path.expanduser(folder))
    for path in sorted(Path(recipe_dir).glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        output = data.get("output_dir") if isinstance(data, dict) else None
        if not isinstance(output, str) or os.path.normpath(os.path.expanduser(output)) != target:
            continue
        stage = "sft" if "data_files" in data else "tapo" if "train_data" in data else None
        if stage:
            return f"finebench train {stage} --config {path}"
    return None


def check_model_source(model: str, where: str, recipe_path: Path) -> None:
    """The recipe's ``model`` is a folder that exists or a Hub id the Hub (or the local cache) can
    serve, checked before torch loads: a Stage-2 recipe run before its Stage-1 checkpoint exists
    names the command that writes it."""
    if model.startswith(BUILTIN_PREFIX):
        return
    locate(model, f"{where}: key 'model'", produced_by=producing_command(model, Path(recipe_path).parent))


def check_recipe(recipe: Recipe, where: str) -> None:
    """Everything a recipe needs from this machine (loggers, bf16, an optimiser that keeps small
    updates for its weight dtype), checked before any model loads; errors name ``where``."""
    check_report_to(recipe.report_to, where)
    check_precision(dtype=recipe.dtype, bf16=recipe.bf16, optimizer=recipe.optimizer,
                    deepspeed=under_deepspeed(recipe.deepspeed), where=where)


def check_report_to(targets: Sequence[str], where: str) -> None:
    """Every ``report_to`` target is one transformers knows and its package is installed."""
    from transformers.integrations.integration_utils import (
        INTEGRATION_TO_CALLBACK,
        get_available_reporting_integrations,
    )

    chosen = [t for t in targets if t != "none"]
    if not chosen:
        return
    known = {*INTEGRATION_TO_CALLBACK, "all", "none"}
    available = set(get_available_reporting_integrations())
    for target in chosen:
        if target not in known:
            raise ConfigError(f"{where}: key 'report_to': {unknown_name_error('logger', target, sorted(known))}")
        if target in REPORT_TO_PACKAGES and target not in available:
            raise ConfigError(
                f"{where}: key 'report_to' asks for {target!r}, but its package is not installed: "
                f"pip install {REPORT_TO_PACKAGES[target]} (or set report_to: [none])"
            )


def bf16_support() -> tuple[bool, str]:
    """Whether bfloat16 autocast works on the device training will use, and that device's name."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported(including_emulation=False), torch.cuda.get_device_name()
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            ok = (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    except (RuntimeError, TypeError):
        ok = False
    return ok, "cpu"


def no_accelerator() -> bool:
    """True on a CPU-only machine, where transformers needs ``use_cpu`` to accept ``bf16``
    (CPU autocast); set only then, so a GPU, MPS or XPU machine is never forced onto the CPU."""
    import torch

    return not torch.accelerator.is_available()


def check_precision(*, dtype: str, bf16: bool, optimizer: str, deepspeed: bool, where: str) -> None:
    """bf16 compute is available here, and low-precision weights come with an optimiser that keeps
    small updates: plain AdamW on bf16 weights rounds away nearly every step at Fine-R1's learning
    rates (see ``finebench.training.optim``). DeepSpeed keeps fp32 master weights of its own."""
    if bf16:
        supported, device = bf16_support()
        if not supported:
            raise ConfigError(
                f"{where}: key 'bf16' is true, but {device} has no bfloat16 support; set bf16: false "
                "(float32 compute) or train on a device that supports bfloat16"
            )
    if dtype in LOW_PRECISION_WEIGHTS and optimizer == "adamw" and not deepspeed:
        raise ConfigError(
            f"{where}: key 'dtype' is {dtype} with optimizer 'adamw': AdamW on {dtype} weights loses almost every "
            "small update to rounding. Use dtype: float32 with bf16: true (fp32 master weights, bf16 compute), "
            "or optimizer: adamw_kahan to keep the weights in low precision"
        )


def under_deepspeed(recipe_deepspeed: str | None) -> bool:
    """Whether the run uses DeepSpeed: named in the recipe or by the ``accelerate launch`` config."""
    if recipe_deepspeed:
        return True
    from accelerate.utils import DistributedType

    return launch_state().distributed_type == DistributedType.DEEPSPEED


def launch_state() -> Any:
    """accelerate's process state (a singleton: the first call fixes it for the run). It must be
    created as the Trainer will create it, on the CPU where there is no accelerator; created with
    the default (``cpu=False``) under ``torchrun`` on a CPU-only machine it sees one process, and
    every rank would then train as if alone."""
    from accelerate import PartialState

    return PartialState(cpu=no_accelerator())
