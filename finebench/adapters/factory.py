"""Create the adapter a model card asks for, importing its module only then.

The table maps adapter names to ``module:Class`` strings rather than classes so that importing it
costs nothing; there is no registry filled by import side effects.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

from finebench.adapters.base import Adapter
from finebench.models.cards import DTYPES, ModelCard
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


CARD_MODEL_ARGS: dict[str, type] = {"dtype": str, "min_pixels": int, "max_pixels": int, "trust_remote_code": bool}
"""``--model-args`` keys that override the card's own fields; any other key must be an
``adapter_options`` field of the card's adapter (e.g. ``attn_implementation`` for hf)."""


def apply_model_args(card: ModelCard, model_args: dict[str, Any]) -> ModelCard:
    """The card with ``--model-args`` applied, checked against the adapter's options before any
    weights load: an unknown key or a badly typed value is a one-line error naming the flag."""
    if not model_args:
        return card
    options_type = adapter_class(card).options_type
    option_names = {f.name for f in fields(options_type)} if options_type is not None else set()
    unknown = sorted(set(model_args) - set(CARD_MODEL_ARGS) - option_names)
    if unknown:
        known = ", ".join(sorted({*CARD_MODEL_ARGS, *option_names}))
        raise ConfigError(f"--model-args: unknown key(s) {', '.join(unknown)} for the {card.adapter} adapter; known: {known}")
    card_args = {k: v for k, v in model_args.items() if k in CARD_MODEL_ARGS}
    for key, value in card_args.items():
        kind = CARD_MODEL_ARGS[key]
        if not isinstance(value, kind) or (kind is int and (isinstance(value, bool) or value < 1)):
            wanted = "a positive integer" if kind is int else f"a {kind.__name__}"
            raise ConfigError(f"--model-args: {key} must be {wanted}, not {value!r}")
    low, high = card_args.get("min_pixels", card.min_pixels), card_args.get("max_pixels", card.max_pixels)
    if low is not None and high is not None and low > high:
        raise ConfigError(f"--model-args: min_pixels {low} is above max_pixels {high}")
    if "dtype" in card_args and card_args["dtype"] not in DTYPES:
        raise ConfigError(f"--model-args: dtype {card_args['dtype']!r} is not one of {', '.join(DTYPES)}")
    options = {**card.adapter_options, **{k: v for k, v in model_args.items() if k in option_names}}
    updated = replace(card, adapter_options=options, **card_args)
    if options_type is not None:
        try:
            options_type(**options)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"--model-args: {exc}") from exc
    return updated
