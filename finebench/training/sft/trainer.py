"""CoT SFT (Fine-R1 stage 1): TRL's SFTTrainer on Stage-1 data, loss on the assistant turn only.

A recipe is one flat YAML mapping backed by SFTRecipe; every key can be overridden as
``key=value`` on the command line, and an unknown key or a wrong type is an error that names the
file (or the override) and the key, never a silently ignored setting. The defaults are the
released stage-1 script's (lr 5e-6, cosine, 6 warm-up steps, weight decay 0.1, 10 epochs,
effective batch 64, bf16, cut-off 4096 tokens, images at most 768x768 pixels, vision tower
frozen). The effective batch is a recipe value because it is what the paper fixes; gradient
accumulation is derived from it and the number of processes, so the same recipe is right on one
GPU and on eight.

Loss masking: the collator renders each conversation with a chat template that marks the
assistant turn (``{% generation %}``; TRL ships such variants of the known templates, Qwen2.5-VL's
among them) and sets the label of every other token (system, user, image placeholders, padding)
to -100. The output folder is a plain Hugging Face checkpoint (weights, processor, chat template)
that ``finebench run --model hf:DIR`` evaluates.

Relative paths in a recipe are resolved against the working directory, as ``accelerate launch``
users expect. torch, transformers and TRL are imported only inside the functions that train.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from finebench.adapters.checkpoints import BUILTIN_PREFIX
from finebench.data.formats import (
    SampleProblem,
    Stage1Sample,
    check_stage1,
    enforce_policy,
    load_stage1,
    resolve_image,
)
from finebench.training import preflight, runs
from finebench.training.evaluation_callback import attach_evaluation, eval_settings
from finebench.training.images import sft_image
from finebench.training.sft.recipe import SFTRecipe, gradient_accumulation_steps
from finebench.util.errors import ConfigError
from finebench.util.fsutil import atomic_write_text

REPORT_FILE = "finebench_sft.json"


@dataclass
class SFTResult:
    output_dir: Path
    n_samples: int
    skipped: dict[str, list[SampleProblem]]
    """Per data file, the samples left out under ``on_bad_sample=skip``."""
    global_step: int
    train_loss: float


# ---- data ----------------------------------------------------------------------------------------


@dataclass
class SFTExamples:
    """The training samples as TRL's vision collator takes them; images are decoded lazily, per
    item, so a large set never sits in memory (``as_hf_dataset`` wraps it for the trainer)."""

    samples: list[Stage1Sample]
    image_root: Path | None
    min_pixels: int
    max_pixels: int
    image_resize: str = "processor"

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.samples[index]
        images = [
            sft_image(resolve_image(p, self.image_root), self.image_resize, self.min_pixels, self.max_pixels)
            for p in sample.images
        ]
        return {"messages": sample.chat_messages(), "images": images}


def as_hf_dataset(examples: SFTExamples) -> Any:
    """A ``datasets.Dataset`` of row indices whose transform builds the rows, because TRL's
    trainer takes only ``datasets`` objects and Arrow cannot hold PIL images or ragged messages."""
    from datasets import Dataset

    def transform(batch: dict[str, list[int]]) -> dict[str, list[Any]]:
        rows = [examples[i] for i in batch["index"]]
        return {"messages": [r["messages"] for r in rows], "images": [r["images"] for r in rows]}

    return Dataset.from_dict({"index": list(range(len(examples)))}).with_transform(transform)


def read_classes(path: Path) -> list[str]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read class list ({exc.strerror})") from exc
    return [line.strip() for line in lines if line.strip()]


def load_training_samples(recipe: SFTRecipe) -> tuple[list[Stage1Sample], dict[str, list[SampleProblem]]]:
    """All samples of the recipe's files, checked; bad ones refused or skipped per the recipe."""
    image_root = Path(recipe.image_root) if recipe.image_root else None
    classes = read_classes(Path(recipe.classes_file)) if recipe.classes_file else None
    samples, skipped = [], {}
    for file in recipe.data_files:
        loaded = load_stage1(Path(file))
        problems = check_stage1(loaded, image_root, classes)
        samples += enforce_policy(loaded, problems, recipe.on_bad_sample, file)
        if problems:
            skipped[file] = problems
    if not samples:
        raise ConfigError(f"no training samples left in {', '.join(recipe.data_files)}")
    return samples, skipped


# ---- model and trainer ---------------------------------------------------------------------------


def load_model_and_processor(recipe: SFTRecipe) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    source = recipe.model
    local_files_only = False
    if source.startswith(BUILTIN_PREFIX):
        from finebench.models.builtin import resolve_builtin

        source = str(resolve_builtin(source[len(BUILTIN_PREFIX) :]))
    else:  # a cached Hub id with the Hub out of reach is read from the cache, without retries
        from finebench.util.hub import locate

        located = locate(source, f"model {recipe.model!r}")
        source, local_files_only = located.source, located.local_files_only
    kwargs: dict[str, Any] = {"dtype": getattr(torch, recipe.dtype), "local_files_only": local_files_only}
    if recipe.attn_implementation:
        kwargs["attn_implementation"] = recipe.attn_implementation
    try:
        processor = AutoProcessor.from_pretrained(source, local_files_only=local_files_only)
        model = AutoModelForImageTextToText.from_pretrained(source, **kwargs)
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError... for a bad checkpoint
        raise ConfigError(f"model {recipe.model!r}: cannot load ({type(exc).__name__}: {exc})") from exc
    if recipe.freeze_vision_tower:
        freeze_vision_tower(model)
    return model, processor


def freeze_vision_tower(model: Any) -> int:
    """Stop gradients to the image encoder (with its projector, as the released recipe did);
    returns the number of frozen parameters. FGVR needs the language side to *use* visual
    features better, and 4 shots per class are too few to retrain the encoder safely."""
    tower = model.get_encoder(modality="image")
    if tower is model or tower is getattr(model, "base_model", None):
        raise ConfigError(f"freeze_vision_tower: {type(model).__name__} has no recognisable vision tower")
    frozen = 0
    for parameter in tower.parameters():
        parameter.requires_grad_(False)
        frozen += parameter.numel()
    return frozen


def make_collator(processor: Any, max_length: int | None) -> Any:
    """TRL's vision collator with assistant-only labels (see the module docstring)."""
    from trl.chat_template_utils import (
        get_training_chat_template,
        has_generation_markers,
    )
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    template = None
    if not has_generation_markers(processor.chat_template):
        try:
            template = get_training_chat_template(processor)
        except ValueError as exc:
            raise ConfigError(
                "the model's chat template has no {% generation %} markers and TRL knows no training variant of "
                f"it, so the prompt cannot be masked out of the loss: {exc}"
            ) from exc
    return DataCollatorForVisionLanguageModeling(
        processor=processor, max_length=max_length, assistant_only_loss=True, chat_template=template
    )


def sft_config(recipe: SFTRecipe, world_size: int) -> Any:
    """TRL's SFTConfig for the recipe on ``world_size`` processes."""
    from trl import SFTConfig

    from finebench.util.compat import checkpointing_kwargs

    return SFTConfig(
        output_dir=recipe.output_dir,
        learning_rate=recipe.learning_rate,
        lr_scheduler_type=recipe.lr_scheduler_type,
        warmup_steps=recipe.warmup_steps,
        weight_decay=recipe.weight_decay,
        max_grad_norm=recipe.max_grad_norm,
        num_train_epochs=recipe.num_train_epochs,
        max_steps=recipe.max_steps,
        per_device_train_batch_size=recipe.per_device_train_batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps(recipe, world_size),
        seed=recipe.seed,
        bf16=recipe.bf16,
        use_cpu=preflight.no_accelerator(),
        **checkpointing_kwargs(recipe.gradient_checkpointing),
        deepspeed=recipe.deepspeed,
        logging_steps=recipe.logging_steps,
        save_strategy=recipe.save_strategy,
        save_steps=recipe.save_steps,
        report_to=recipe.report_to,
        dataloader_num_workers=recipe.dataloader_num_workers,
        max_length=recipe.max_length,
        assistant_only_loss=True,
        remove_unused_columns=False,
    )


def build_trainer(recipe: SFTRecipe, samples: list[Stage1Sample]) -> Any:
    from transformers.trainer_utils import SchedulerType
    from trl import SFTTrainer

    from finebench.training.optim import optimizer_cls_and_kwargs

    known = [s.value for s in SchedulerType]
    if recipe.lr_scheduler_type not in known:
        choices = ", ".join(known)
        raise ConfigError(f"key 'lr_scheduler_type' must be one of {choices}, got {recipe.lr_scheduler_type!r}")
    # The arguments come first: with a ZeRO-3 config they make from_pretrained load the weights
    # already partitioned across processes instead of whole on each.
    try:
        args = sft_config(recipe, preflight.launch_state().num_processes)
    except ValueError as exc:  # e.g. bf16 on a machine without a GPU
        raise ConfigError(f"the recipe's training arguments are not valid here: {exc}") from exc
    model, processor = load_model_and_processor(recipe)
    image_root = Path(recipe.image_root) if recipe.image_root else None
    examples = SFTExamples(samples, image_root, recipe.image_min_pixels, recipe.image_max_pixels, recipe.image_resize)
    trainer_class = type("SFTTrainer", (runs.CheckpointWeights, SFTTrainer), {})
    return trainer_class(
        model=model,
        args=args,
        train_dataset=as_hf_dataset(examples),
        processing_class=processor,
        data_collator=make_collator(processor, recipe.max_length),
        optimizer_cls_and_kwargs=optimizer_cls_and_kwargs(recipe.optimizer, lr=recipe.learning_rate),
    )


def run_sft(recipe: SFTRecipe, where: str = "SFT recipe") -> SFTResult:
    """Train, then save the final checkpoint and ``finebench_sft.json`` (recipe, data report,
    loss) into ``output_dir``; ``where`` (the recipe file) is named by configuration errors."""
    preflight.check_recipe(recipe, where)
    eval_settings(recipe, where)  # a bad evaluation setting fails before the model loads
    samples, skipped = load_training_samples(recipe)
    checkpoint = runs.prepare_output_dir(recipe.output_dir, asdict(recipe), REPORT_FILE, resume=recipe.resume,
                                         overwrite=recipe.overwrite, where=where, state=preflight.launch_state())
    trainer = build_trainer(recipe, samples)
    attach_evaluation(trainer, recipe, where, Path(recipe.output_dir).name)
    output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    # The trainer switches the KV cache off in the config for training; a checkpoint saved that
    # way would generate without a cache, quadratically slower, wherever it is evaluated.
    trainer.model.config.use_cache = True
    # Likewise the collator's padding and truncation settings stick to a fast tokenizer and would
    # be saved into tokenizer.json, changing how the checkpoint tokenizes at evaluation.
    backend = getattr(trainer.processing_class.tokenizer, "backend_tokenizer", None)
    if backend is not None:
        backend.no_truncation()
        backend.no_padding()
    trainer.save_model(recipe.output_dir)
    result = SFTResult(Path(recipe.output_dir), len(samples), skipped, output.global_step, float(output.training_loss))
    if trainer.is_world_process_zero():
        report = {
            "recipe": asdict(recipe),
            "n_samples": result.n_samples,
            "skipped": {f: [{"index": p.index, "reason": p.reason} for p in ps] for f, ps in skipped.items()},
            "global_step": result.global_step,
            "train_loss": result.train_loss,
            "log_history": trainer.state.log_history,
        }
        atomic_write_text(result.output_dir / REPORT_FILE, json.dumps(report, indent=2, default=str) + "\n")
    return result
