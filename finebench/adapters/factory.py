"""Create the adapter a model card asks for, importing its module only then.

The table maps adapter names to ``module:Class`` strings rather than classes so that importing it
costs nothing; there is no registry filled by import side effects.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from finebench.adapters.base import Adapter
from finebench.models.cards import ModelCard
from finebench.suggest import unknown_name_error

ADAPTERS: dict[str, str] = {
    "hf": "finebench.adapters.hf:HFAdapter",
    "openai": "finebench.adapters.openai:OpenAIAdapter",
}


@dataclass(frozen=True)
class RuntimeOptions:
    """Settings of one run that adapters may need but that are not part of the model card."""

    batch_size: int = 8
    device: str = "auto"
    seed: int = 0


def create_adapter(card: ModelCard, runtime: RuntimeOptions) -> Adapter:
    if card.adapter not in ADAPTERS:
        raise unknown_name_error("adapter", card.adapter, ADAPTERS, hint=f"in model card {card.source_file or card.name}")
    module_name, class_name = ADAPTERS[card.adapter].split(":")
    adapter_class = getattr(importlib.import_module(module_name), class_name)
    return adapter_class.from_card(card, runtime)
