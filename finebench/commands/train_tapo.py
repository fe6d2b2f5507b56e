"""``finebench train tapo --config RECIPE [KEY=VALUE ...]``: stage 2 of Fine-R1 (TAPO).

The recipe and its overrides are validated before torch, transformers or TRL are imported, so a
mistyped key fails at once instead of after the model has been loaded onto every GPU.
"""

from __future__ import annotations

from pathlib import Path

import typer

from finebench.training.preflight import recipe_source


def tapo_command(config_path: Path, overrides: list[str]) -> Path:
    """Train with the recipe at ``config_path`` and ``key=value`` overrides; returns the checkpoint
    folder, which ``finebench run --model hf:DIR`` evaluates as is."""
    from finebench.training.tapo_config import load_tapo_config

    config = load_tapo_config(config_path, overrides)
    from finebench.training.tapo import train_tapo

    where = recipe_source(config_path, overrides)
    checkpoint = train_tapo(config, where)
    typer.echo(f"checkpoint: {checkpoint}\nevaluate:   finebench run --model hf:{checkpoint} --tasks fgvr")
    return checkpoint
