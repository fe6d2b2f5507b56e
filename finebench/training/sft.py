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

import difflib
import json
import math
import types
import typing
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from finebench.errors import ConfigError
from finebench.taskconfig import read_yaml_mapping, yaml_float
from finebench.training import preflight
from finebench.training.formats import (
    BAD_SAMPLE_POLICIES,
    SampleProblem,
    Stage1Sample,
    check_stage1,
    enforce_policy,
    load_rgb,
    load_stage1,
    resolve_image,
)

if TYPE_CHECKING:
    from PIL.Image import Image

BUILTIN_PREFIX = "builtin:"
DTYPES = ("float32", "bfloat16", "float16")
SAVE_STRATEGIES = ("no", "steps", "epoch")
REQUIRED = ("model", "data_files", "output_dir")
REPORT_FILE = "finebench_sft.json"


@dataclass(frozen=True)
class SFTRecipe:
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

    deepspeed: str | None = None
    """A DeepSpeed JSON (``training/ds_zero3.json``) when launched with torchrun; leave empty when
    ``accelerate launch --config_file training/accelerate_zero3.yaml`` already names one."""
    logging_steps: int = 1
    save_strategy: str = "no"
    """Intermediate checkpoints (``steps``/``epoch``); the final model is always saved."""
    save_steps: int = 500
    report_to: list[str] = field(default_factory=lambda: ["none"])
    dataloader_num_workers: int = 0


@dataclass
class SFTResult:
    output_dir: Path
    n_samples: int
    skipped: dict[str, list[SampleProblem]]
    """Per data file, the samples left out under ``on_bad_sample=skip``."""
    global_step: int
    train_loss: float


# ---- the recipe ----------------------------------------------------------------------------------


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
    }
    for key, allowed in choices.items():
        if getattr(recipe, key) not in allowed:
            raise fail(key, f"must be one of {', '.join(allowed)}, got {getattr(recipe, key)!r}")
    for key in ("learning_rate", "effective_batch_size", "per_device_train_batch_size", "max_length",
                "image_min_pixels", "logging_steps", "save_steps", "num_train_epochs"):
        if getattr(recipe, key) <= 0:
            raise fail(key, f"must be positive, got {getattr(recipe, key)}")
    for key in ("warmup_steps", "weight_decay", "max_grad_norm", "dataloader_num_workers"):
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


# ---- data ----------------------------------------------------------------------------------------


def fit_pixels(image: Image, min_pixels: int, max_pixels: int) -> Image:
    """Scale ``image`` (aspect kept) into [min_pixels, max_pixels], as the released training did
    before the processor; the processor's own bounds then apply on top."""
    from PIL import Image as PILImage

    area = image.width * image.height
    if min_pixels <= area <= max_pixels:
        return image
    growing = area < min_pixels
    scale = math.sqrt((min_pixels if growing else max_pixels) / area)
    rounding = math.ceil if growing else math.floor  # so the result lands inside the bounds
    size = (max(1, rounding(image.width * scale)), max(1, rounding(image.height * scale)))
    return image.resize(size, PILImage.Resampling.BICUBIC)


@dataclass
class SFTExamples:
    """The training samples as TRL's vision collator takes them; images are decoded lazily, per
    item, so a large set never sits in memory (``as_hf_dataset`` wraps it for the trainer)."""

    samples: list[Stage1Sample]
    image_root: Path | None
    min_pixels: int
    max_pixels: int

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.samples[index]
        images = [
            fit_pixels(load_rgb(resolve_image(p, self.image_root)), self.min_pixels, self.max_pixels)
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
    if source.startswith(BUILTIN_PREFIX):
        from finebench.models.tiny import resolve_builtin

        source = str(resolve_builtin(source[len(BUILTIN_PREFIX) :]))
    kwargs: dict[str, Any] = {"dtype": getattr(torch, recipe.dtype)}
    if recipe.attn_implementation:
        kwargs["attn_implementation"] = recipe.attn_implementation
    try:
        processor = AutoProcessor.from_pretrained(source)
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
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers
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

    from finebench.compat import checkpointing_kwargs

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
    examples = SFTExamples(samples, image_root, recipe.image_min_pixels, recipe.image_max_pixels)
    return SFTTrainer(
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
    samples, skipped = load_training_samples(recipe)
    trainer = build_trainer(recipe, samples)
    output = trainer.train()
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
        (result.output_dir / REPORT_FILE).write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    return result

