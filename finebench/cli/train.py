"""`finebench train sft|tapo`: the two Fine-R1 training stages from a recipe and key=value overrides.

Each recipe and its overrides are validated before torch, transformers or TRL are imported, so a
mistyped key fails at once instead of after the model has been loaded onto every GPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from finebench.training.sft.trainer import SFTResult

train_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Train the Fine-R1 stages (CoT SFT, TAPO).")


@train_app.command("sft")
def train_sft(
    config: Annotated[Path, typer.Option("--config", "-c", help="SFT recipe, e.g. training/sft.yaml.")],
    overrides: Annotated[Optional[list[str]], typer.Argument(metavar="KEY=VALUE", help="key=value overrides, e.g. max_steps=1 output_dir=/tmp/x")] = None,
) -> None:
    """CoT SFT (Fine-R1 stage 1) from a YAML recipe; the output is a plain HF checkpoint."""
    sft_command(config, overrides or [])


@train_app.command("tapo")
def train_tapo(
    config: Annotated[Path, typer.Option("--config", "-c", help="TAPO recipe, e.g. training/tapo.yaml.")],
    overrides: Annotated[Optional[list[str]], typer.Argument(metavar="KEY=VALUE", help="key=value overrides, e.g. max_steps=2 output_dir=/tmp/x")] = None,
) -> None:
    """TAPO (Fine-R1 stage 2) from a YAML recipe; the output is a plain HF checkpoint."""
    tapo_command(config, overrides or [])


def sft_command(config_path: Path, overrides: list[str]) -> SFTResult:
    """Train with the recipe at ``config_path`` and ``key=value`` overrides; the checkpoint folder
    it reports is evaluated as is by ``finebench run --model hf:DIR``."""
    from finebench.training.preflight import check_model_source, recipe_source
    from finebench.training.sft.recipe import load_recipe

    where = recipe_source(config_path, overrides)
    recipe = load_recipe(config_path, overrides)
    check_model_source(recipe.model, where, config_path)  # before torch: a missing folder is one line
    from finebench.training.sft.trainer import REPORT_FILE, run_sft

    result = run_sft(recipe, where)
    for file, problems in result.skipped.items():
        report = result.output_dir / REPORT_FILE
        typer.echo(f"{file}: skipped {len(problems)} bad sample(s), listed in {report}", err=True)
    typer.echo(
        f"trained on {result.n_samples} samples, {result.global_step} steps, mean loss {result.train_loss:.4f}\n"
        f"checkpoint: {result.output_dir}\n"
        f"evaluate:   {evaluate_command(result.output_dir, recipe.eval_tasks, recipe.data_files, recipe.eval_data_root or recipe.image_root)}"
    )
    return result


def evaluate_command(checkpoint: Path | str, eval_tasks: list[str], data_files: list[str], data_root: str | None) -> str:
    """The `finebench run` line for a fresh checkpoint on the recipe's benchmark: its ``eval_tasks``
    if set, else the tasks its (generated) training data belongs to, else the paper's ``fgvr``."""
    from finebench.util.generated import generated_tasks

    tasks = ",".join(eval_tasks) or next((t for f in data_files if (t := generated_tasks(Path(f)))), "fgvr")
    root = f" --data-root {data_root}" if data_root else ""
    return f"finebench run --model hf:{checkpoint} --tasks {tasks}{root}"


def tapo_command(config_path: Path, overrides: list[str]) -> Path:
    """Train with the recipe at ``config_path`` and ``key=value`` overrides; returns the checkpoint
    folder, which ``finebench run --model hf:DIR`` evaluates as is."""
    from finebench.training.preflight import check_model_source, recipe_source
    from finebench.training.tapo.config import load_tapo_config

    config = load_tapo_config(config_path, overrides)
    where = recipe_source(config_path, overrides)
    check_model_source(config.model, where, config_path)  # e.g. TAPO before its SFT checkpoint exists
    from finebench.training.tapo.run import train_tapo

    checkpoint = train_tapo(config, where)
    hint = evaluate_command(checkpoint, config.eval_tasks, [config.train_data], config.eval_data_root or config.image_root)
    typer.echo(f"checkpoint: {checkpoint}\nevaluate:   {hint}")
    return checkpoint
