"""Create the adapter a model card asks for, importing its module only then.

The table maps adapter names to ``module:Class`` strings rather than classes so that importing it
costs nothing; there is no registry filled by import side effects.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, fields, replace
from typing import TypeVar

from finebench.adapters.base import Adapter
from finebench.models.cards import ModelCard
from finebench.util.errors import ConfigError, FinebenchError
from finebench.util.suggest import unknown_name_error

ADAPTERS: dict[str, str] = {
    "hf": "finebench.adapters.hf:HFAdapter",
    "vllm": "finebench.adapters.vllm:VLLMAdapter",
    "openai": "finebench.adapters.openai:OpenAIAdapter",
    "clip": "finebench.adapters.clip:ClipAdapter",
    "lmms": "finebench.adapters.lmms:LmmsAdapter",
}

T = TypeVar("T")

CHECKPOINT_BACKENDS = ("hf", "vllm")
"""Backends that run a transformers checkpoint directly; a card naming either runs on both."""
BACKENDS = ("auto", *CHECKPOINT_BACKENDS)


@dataclass(frozen=True)
class RuntimeOptions:
    """Settings of one run that adapters may need but that are not part of the model card."""

    batch_size: int = 8
    device: str = "auto"
    seed: int = 0
    max_images: int = 1
    """Most images one request carries (1 + demonstrations under in-context learning)."""


def options_from_card(card: ModelCard, options_type: type[T]) -> T:
    """The card's ``adapter_options`` as the adapter's options dataclass; an unknown key is an
    error naming the card file and the keys the adapter knows, not a silently ignored setting."""
    known = {f.name for f in fields(options_type)}
    unknown = sorted(set(card.adapter_options) - known)
    if unknown:
        raise ConfigError(
            f"{card.source_file or card.name}: unknown adapter_options {', '.join(unknown)} for the {card.adapter} "
            f"adapter; known: {', '.join(sorted(known))}"
        )
    return options_type(**card.adapter_options)


def vllm_usable() -> bool:
    """vLLM installed and a CUDA GPU visible: the conditions for ``auto`` to pick it."""
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def resolve_backend(card: ModelCard, backend: str) -> ModelCard:
    """The card with the backend the run uses. Checkpoint cards (``hf``/``vllm``) run on vLLM when
    it is usable and on transformers otherwise (``auto``), or on the backend asked for; other
    adapters (clip, openai, lmms) are not interchangeable and only accept ``auto``."""
    if backend not in BACKENDS:
        raise unknown_name_error("backend", backend, BACKENDS)
    if card.adapter not in CHECKPOINT_BACKENDS:
        if backend != "auto":
            raise FinebenchError(f"model {card.name!r} uses the {card.adapter} adapter; --backend {backend} applies to hf/vllm checkpoints only")
        return card
    chosen = ("vllm" if vllm_usable() else "hf") if backend == "auto" else backend
    return card if chosen == card.adapter else replace(card, adapter=chosen)


def adapter_class(card: ModelCard) -> type[Adapter]:
    """The card's adapter class (its module imported, nothing loaded): enough to check what the
    adapter supports before any weights are read."""
    if card.adapter not in ADAPTERS:
        raise unknown_name_error("adapter", card.adapter, ADAPTERS, hint=f"in model card {card.source_file or card.name}")
    module_name, class_name = ADAPTERS[card.adapter].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_adapter(card: ModelCard, runtime: RuntimeOptions) -> Adapter:
    return adapter_class(card).from_card(card, runtime)
