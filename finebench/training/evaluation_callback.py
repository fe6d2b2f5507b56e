"""Evaluation during training: finebench's own evaluator on the current weights every N steps.

A recipe (SFT or TAPO) with ``eval_tasks`` gets a ``TrainerCallback`` that, at the first step, every
``eval_steps`` optimiser steps and at the last, wraps the live model and processor in the ``hf``
adapter and runs ``Evaluator`` exactly as ``finebench run`` would: same prompts, same scorer, the
same seeded ``eval_limit`` items each time (``--limit`` selection with the task's seed), greedy
decoding as the task declares. Each evaluation is a complete results folder,
``OUTPUT_DIR/eval/step-NNNNNN/`` (results.json and samples files), so ``finebench leaderboard
OUTPUT_DIR/eval/step-*`` tabulates the curve and ``finebench view`` shows any two points side by
side. The scores also go to the trainer's loggers (``report_to``: tensorboard...) as
``eval_TASK/METRIC`` at that step (tensorboard shows ``eval/TASK/METRIC``, as for the trainer's own
evaluation), and ``OUTPUT_DIR/eval/curve.json`` lists them all.

Only the main process evaluates (the others wait at the next collective operation); DeepSpeed
ZeRO-3 partitions the weights across processes, so evaluation during training refuses it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from finebench.util.errors import ConfigError, FinebenchError

EVAL_FOLDER = "eval"
CURVE_FILE = "curve.json"


@dataclass(frozen=True, kw_only=True)
class EvaluationKeys:
    """The recipe keys that configure evaluation during training, one definition that SFTRecipe and
    TapoConfig both inherit (keyword-only, so they can follow the recipes' required keys)."""

    eval_tasks: list[str] = field(default_factory=list)
    """Tasks or groups that finebench's evaluator scores during training (see
    ``finebench.training.evaluation_callback``); empty: no evaluation during training."""
    eval_steps: int = 100
    """Evaluate every this many optimiser steps (and before the first and after the last)."""
    eval_limit: int | None = 200
    """A seeded sample of this many items per task, the same at every evaluation; null: all items."""
    eval_data_root: str | None = None
    """Where the tasks' item files and images are [default: finebench's data root]."""
    eval_metrics: list[str] = field(default_factory=list)
    """A subset of the tasks' metrics (e.g. [accuracy, inclusion]); empty: the tasks' own."""
    eval_batch_size: int = 16


class EvalRecipe(Protocol):
    """What evaluation reads from a recipe: its EvaluationKeys plus the output folder and DeepSpeed."""

    eval_tasks: list[str]
    eval_steps: int
    eval_limit: int | None
    eval_data_root: str | None
    eval_metrics: list[str]
    eval_batch_size: int
    output_dir: str
    deepspeed: str | None


@dataclass(frozen=True)
class EvalSettings:
    tasks: tuple[str, ...]
    steps: int
    limit: int | None
    data_root: Path
    metrics: tuple[str, ...] | None
    batch_size: int
    output_dir: Path


def eval_settings(recipe: EvalRecipe, where: str) -> EvalSettings | None:
    """The recipe's evaluation settings, validated without loading a model (tasks known, item files
    present, metrics valid); None when ``eval_tasks`` is empty. Errors name ``where`` and the key."""
    if not recipe.eval_tasks:
        return None
    from finebench.evaluation.plan import item_file
    from finebench.scoring import parse_metrics
    from finebench.tasks.index import TaskIndex
    from finebench.util.resources import default_data_root

    if recipe.eval_steps < 1:
        raise ConfigError(f"{where}: key 'eval_steps' must be a positive number of steps, got {recipe.eval_steps}")
    if recipe.eval_limit is not None and recipe.eval_limit < 1:
        raise ConfigError(f"{where}: key 'eval_limit' must be positive (or null for every item), got {recipe.eval_limit}")
    if recipe.eval_batch_size < 1:
        raise ConfigError(f"{where}: key 'eval_batch_size' must be positive, got {recipe.eval_batch_size}")
    from finebench.training.preflight import under_deepspeed

    if under_deepspeed(recipe.deepspeed):
        raise ConfigError(f"{where}: key 'eval_tasks': evaluation during training does not run under DeepSpeed "
                          "(ZeRO-3 splits the weights across processes); evaluate the saved checkpoints instead")
    data_root = Path(recipe.eval_data_root or default_data_root()).expanduser()
    index = TaskIndex()
    try:
        names = index.expand(list(recipe.eval_tasks))
        for name in names:
            item_file(index.load(name), data_root)
        metrics = tuple(parse_metrics(",".join(recipe.eval_metrics))) if recipe.eval_metrics else None
    except (FinebenchError, ValueError) as exc:
        raise ConfigError(f"{where}: key 'eval_tasks'/'eval_metrics'/'eval_data_root': {exc}") from exc
    return EvalSettings(tuple(recipe.eval_tasks), recipe.eval_steps, recipe.eval_limit, data_root, metrics,
                        recipe.eval_batch_size, Path(recipe.output_dir))


def step_folder(output_dir: Path, step: int) -> Path:
    return Path(output_dir) / EVAL_FOLDER / f"step-{step:06d}"


def flat_scores(results: dict[str, Any]) -> dict[str, float]:
    """``{"eval_TASK/METRIC": value}`` of every task and group metric (percent), for the loggers
    (transformers' loggers file ``eval_``-prefixed keys under ``eval/``, not ``train/``)."""
    scores = {}
    for section in ("results", "groups"):
        for name, entry in results.get(section, {}).items():
            for metric, value in entry.items():
                if isinstance(value, (int, float)) and not metric.endswith("_std") and metric not in ("n", "n_samples", "n_errors", "n_tasks"):
                    scores[f"eval_{name}/{metric}"] = float(value)
    return scores


def evaluate_weights(model: Any, processor: Any, settings: EvalSettings, step: int, run_name: str, seed: int) -> dict[str, Any]:
    """Run the evaluator on ``model`` as it is now; the model's training state, its KV-cache
    setting and the tokenizer's padding side are restored afterwards."""
    from finebench.adapters.hf import HFAdapter
    from finebench.evaluation.config import RunConfig
    from finebench.evaluation.evaluator import Evaluator
    from finebench.models.cards import ModelCard

    out = step_folder(settings.output_dir, step)
    config = RunConfig(tasks=settings.tasks, data_root=settings.data_root, output_path=out, limit=settings.limit,
                       batch_size=settings.batch_size, metrics=settings.metrics)
    card = ModelCard(name=f"{run_name}@step-{step}", adapter="hf", model=str(settings.output_dir), family="trained",
                     display_name=f"{run_name} step {step}")
    tokenizer = processor.tokenizer
    was_training, use_cache, padding_side = model.training, model.config.use_cache, tokenizer.padding_side
    adapter = HFAdapter(model, processor, fingerprint=f"training:{settings.output_dir}|step={step}", default_seed=seed)
    try:
        model.eval()
        model.config.use_cache = True
        tokenizer.padding_side = "left"
        return Evaluator(config, adapter, card).run()
    finally:
        tokenizer.padding_side = padding_side
        model.config.use_cache = use_cache
        model.train(was_training)


def make_callback(trainer: Any, settings: EvalSettings, run_name: str) -> Any:
    """A ``TrainerCallback`` evaluating ``trainer``'s model before training, every ``settings.steps``
    steps and after the last step (each step once), logging through ``trainer.log``."""
    from transformers import TrainerCallback

    class EvaluationCallback(TrainerCallback):
        def __init__(self) -> None:
            self.done: set[int] = set()
            self.curve: list[dict[str, Any]] = []

        def evaluate(self, step: int) -> None:
            if step in self.done:
                return
            self.done.add(step)
            if not trainer.is_world_process_zero():
                return
            model = trainer.accelerator.unwrap_model(trainer.model)
            results = evaluate_weights(model, trainer.processing_class, settings, step, run_name, trainer.args.seed)
            scores = flat_scores(results)
            self.curve.append({"step": step, "results": str(step_folder(settings.output_dir, step)), **scores})
            curve_file = settings.output_dir / EVAL_FOLDER / CURVE_FILE
            curve_file.write_text(json.dumps(self.curve, indent=2) + "\n", encoding="utf-8")
            trainer.log(scores)

        def on_train_begin(self, args, state, control, **kwargs):
            self.evaluate(state.global_step)

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step % settings.steps == 0 or state.global_step >= state.max_steps:
                self.evaluate(state.global_step)

    return EvaluationCallback()


def attach_evaluation(trainer: Any, recipe: EvalRecipe, where: str, run_name: str) -> Any:
    """Add the evaluation callback to ``trainer`` when the recipe asks for one; returns it (or None)."""
    settings = eval_settings(recipe, where)
    if settings is None:
        return None
    callback = make_callback(trainer, settings, run_name)
    trainer.add_callback(callback)
    return callback


def read_curve(output_dir: Path) -> list[dict[str, Any]]:
    """The evaluations of a finished training run, in step order."""
    path = Path(output_dir) / EVAL_FOLDER / CURVE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FinebenchError(f"{path}: no evaluation curve ({exc})") from exc


def curve_series(curve: Sequence[dict[str, Any]], key: str) -> list[tuple[int, float]]:
    return [(int(point["step"]), float(point[key])) for point in curve if key in point]
