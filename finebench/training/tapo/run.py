"""Running TAPO from a recipe: preflight, the model, processor and Stage-2 data, the trainer, training and
the report written next to the checkpoint."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from trl import GRPOConfig

from finebench.data.formats import check_stage2_images, load_stage2
from finebench.training import preflight, runs
from finebench.training.evaluation_callback import attach_evaluation, eval_settings
from finebench.training.tapo.config import TapoConfig, grpo_args
from finebench.training.tapo.data import load_processor, stage2_dataset
from finebench.training.tapo.trainer import TapoTrainer
from finebench.util.fsutil import atomic_write_text

REPORT_FILE = "finebench_tapo.json"
"""Written next to the checkpoint: the recipe, the log history and the dynamic-sampling counts."""


def build_trainer(config: TapoConfig) -> TapoTrainer:
    """A ready TapoTrainer for the recipe: data loaded and checked, processor bounded, TRL configured."""
    image_root = Path(config.image_root) if config.image_root else None
    samples = load_stage2(Path(config.train_data), image_root=image_root)
    check_stage2_images(samples, Path(config.train_data))
    return TapoTrainer(
        runs.model_source(config.model),
        tapo=config,
        args=GRPOConfig(**grpo_args(config), use_cpu=preflight.no_accelerator()),
        train_dataset=stage2_dataset(samples, config.format_prompt),
        processing_class=load_processor(config),
    )


def train_tapo(config: TapoConfig, where: str = "TAPO recipe") -> Path:
    """Run TAPO as the recipe says and save the final checkpoint (model + processor) and
    ``finebench_tapo.json`` (the recipe and every logged step: rewards, kept groups, loss terms)
    to ``output_dir``; ``where`` (the recipe file) is named by configuration errors."""
    preflight.check_recipe(config, where)
    eval_settings(config, where)  # a bad evaluation setting fails before the model loads
    checkpoint = runs.prepare_output_dir(config.output_dir, asdict(config), REPORT_FILE, resume=config.resume,
                                         overwrite=config.overwrite, where=where, state=preflight.launch_state())
    trainer = build_trainer(config)
    attach_evaluation(trainer, config, where, config.run_name or Path(config.output_dir).name)
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    trainer.save_model(config.output_dir)
    if trainer.is_world_process_zero():
        report = {"recipe": asdict(config), "global_step": trainer.state.global_step,
                  "log_history": trainer.state.log_history}
        atomic_write_text(Path(config.output_dir) / REPORT_FILE, json.dumps(report, indent=2, default=str) + "\n")
    return Path(config.output_dir)
