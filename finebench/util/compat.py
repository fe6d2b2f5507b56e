"""API differences between the library versions finebench supports, each bridged here and only here.

finebench runs on transformers 5.20 (the newest release that vLLM 0.33 allows) through 5.24 (the
default environment). One API changed in that range: the ``TrainingArguments`` field that turns
activation checkpointing on was ``gradient_checkpointing`` and is now ``activation_checkpointing``
(the old name is kept as a deprecated alias, to be removed in transformers 6). The shim reads the
installed class's fields rather than its version number, so it needs no version table.
"""

from __future__ import annotations

import dataclasses
from typing import Any

CHECKPOINTING_FIELDS = ("activation_checkpointing", "gradient_checkpointing")
"""The field's names, newest first: the first one the installed ``TrainingArguments`` has is used."""


def checkpointing_field() -> str:
    """The installed ``TrainingArguments``' name for activation checkpointing (the current name when
    both exist, so no deprecation warning is triggered)."""
    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    for name in CHECKPOINTING_FIELDS:
        if name in names:
            return name
    raise RuntimeError(f"transformers.TrainingArguments has none of the fields {', '.join(CHECKPOINTING_FIELDS)}")


def checkpointing_kwargs(enabled: bool) -> dict[str, bool]:
    """Keyword arguments for ``TrainingArguments`` (and TRL's ``SFTConfig``/``GRPOConfig``, its
    subclasses) that switch activation checkpointing on or off."""
    return {checkpointing_field(): enabled}


def checkpointing_enabled(args: Any) -> bool:
    """Whether training arguments built by this transformers have activation checkpointing on."""
    return bool(getattr(args, checkpointing_field()))
