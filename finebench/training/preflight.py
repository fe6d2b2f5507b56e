"""Checks a training recipe must pass before any model is loaded.

A recipe that cannot run here should fail in seconds with the key and the file to fix, not after
the weights have been loaded onto every GPU, nor deep inside transformers with a message that
names neither (``TensorBoardCallback requires tensorboard to be installed``). Each check takes
``where``, the recipe's file (and overrides), to name in its error.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from finebench.util.errors import ConfigError
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
