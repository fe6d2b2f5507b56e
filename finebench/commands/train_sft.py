"""``finebench train sft --config RECIPE [KEY=VALUE ...]``: stage 1 of Fine-R1 (CoT SFT).

The recipe and its overrides are validated before torch, transformers or TRL are imported, so a
mistyped key fails at once instead of after the model has been loaded.
"""

from __future__ import annotations

from pathlib import Path

import typer

from finebench.training.preflight import recipe_source
from finebench.training.sft import REPORT_FILE, SFTResult


def sft_command(config_path: Path, overrides: list[str]) -> SFTResult:
    """Train with the recipe at ``config_path`` and ``key=value`` overrides; the checkpoint folder
    it reports is evaluated as is by ``finebench run --model hf:DIR``."""
    from finebench.training.sft import load_recipe, run_sft

    where = recipe_source(config_path, overrides)
    result = run_sft(load_recipe(config_path, overrides), where)
    for file, problems in result.skipped.items():
        report = result.output_dir / REPORT_FILE
        typer.echo(f"{file}: skipped {len(problems)} bad sample(s), listed in {report}", err=True)
    typer.echo(
        f"trained on {result.n_samples} samples, {result.global_step} steps, mean loss {result.train_loss:.4f}\n"
        f"checkpoint: {result.output_dir}\n"
        f"evaluate:   finebench run --model hf:{result.output_dir} --tasks fgvr"
    )
    return result
