"""Model cards: one YAML file per model in ``baselines/`` saying how to load and run it.

A card is data, not code: the adapter named in it is imported only when the card is used. A name
of the form ``hf:PATH_OR_ID`` needs no card; it is how trained checkpoints plug back in.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from finebench.models.values import check_card_values
from finebench.util.errors import ConfigError
from finebench.util.jsonfile import read_text_file
from finebench.util.resources import resource_dir
from finebench.util.suggest import unknown_name_error

ADHOC_PREFIX = "hf:"
FAMILIES = ("clip", "general-mllm", "reasoning-mllm", "trained", "test")
DTYPES = ("auto", "float32", "bfloat16", "float16")
"""``auto``: bfloat16 (the authors' dtype) where the device computes it natively, else float32."""


@dataclass(frozen=True)
class ModelCard:
    name: str
    adapter: str
    """Backend module: ``hf`` (transformers), ``vllm``, ``openai``, ``clip``, ``lmms``."""
    model: str
    """Hub id, local directory, or ``builtin:NAME`` for a model finebench builds offline."""
    family: str = "general-mllm"
    """Leaderboard grouping: clip, general-mllm, reasoning-mllm, trained, test."""
    display_name: str = ""
    dtype: str = "auto"
    """One of ``DTYPES``."""
    min_pixels: int | None = None
    max_pixels: int | None = None
    trust_remote_code: bool = False
    generation: dict[str, Any] = field(default_factory=dict)
    """Overrides of the task's generation kwargs (e.g. a smaller max_new_tokens)."""
    adapter_options: dict[str, Any] = field(default_factory=dict)
    reported: dict[str, Any] = field(default_factory=dict)
    """Paper-reported numbers, ``{table: {task: value}}``; shown as reference rows, never measured."""
    lmms: dict[str, Any] = field(default_factory=dict)
    """The lmms-eval model (``{model: ID, model_args: {...}}``) for general-capability runs; see
    ``finebench.interop.general`` for the default."""
    source_file: str = ""


def card_from_mapping(data: Any, source: str) -> ModelCard:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a model card must be a YAML mapping")
    known = {f.name for f in fields(ModelCard)} - {"source_file"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
    for key in ("name", "adapter", "model"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ConfigError(f"{source}: key {key!r} is required and must be a string")
    if data.get("family", "general-mllm") not in FAMILIES:
        raise ConfigError(f"{source}: key 'family' must be one of {', '.join(FAMILIES)}")
    for key in ("generation", "adapter_options", "reported", "lmms"):
        if not isinstance(data.get(key, {}), dict):
            raise ConfigError(f"{source}: key {key!r} must be a mapping")
    check_card_values(data, source)
    return ModelCard(**data, source_file=source)


def load_card_file(path: Path) -> ModelCard:
    try:
        data = yaml.safe_load(read_text_file(path, "model card", ConfigError))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({exc})") from exc
    return card_from_mapping(data, str(path))


def card_files(directory: Path | None = None) -> dict[str, Path]:
    """Card name -> file; the file stem is the card name (checked when the card is loaded)."""
    directory = directory or resource_dir("baselines")
    return {p.stem: p for p in sorted(directory.glob("*.yaml")) if not p.name.startswith("_")}


def resolve_model(name: str, directory: Path | None = None) -> ModelCard:
    if name.startswith(ADHOC_PREFIX):
        target = name[len(ADHOC_PREFIX) :]
        if not target:
            raise ConfigError("model 'hf:' needs a path or hub id after the colon")
        return ModelCard(name=name, adapter="hf", model=target, family="trained")
    files = card_files(directory)
    if name not in files:
        raise unknown_name_error("model", name, files, hint="or use hf:PATH_OR_HUB_ID for an uncarded checkpoint")
    card = load_card_file(files[name])
    if card.name != name:
        raise ConfigError(f"{files[name]}: key 'name' is {card.name!r} but the file is named {name!r}.yaml")
    return card


def all_cards(directory: Path | None = None) -> list[ModelCard]:
    return [load_card_file(p) for p in card_files(directory).values()]
