"""The transformers compatibility shim, on whichever transformers this environment has (5.24 in the
default CI lane, 5.20 in the vllm lane): the keyword it picks is accepted, takes effect, and is the
current name rather than a deprecated alias."""

from __future__ import annotations

import dataclasses
import warnings

import pytest

from finebench.util.compat import CHECKPOINTING_FIELDS, checkpointing_enabled, checkpointing_field, checkpointing_kwargs


def _fields() -> set[str]:
    from transformers import TrainingArguments

    return {f.name for f in dataclasses.fields(TrainingArguments)}


def test_the_field_is_the_newest_name_this_transformers_has():
    present = [name for name in CHECKPOINTING_FIELDS if name in _fields()]
    assert present, "TrainingArguments lost activation checkpointing under both names"
    assert checkpointing_field() == present[0]


@pytest.mark.parametrize("enabled", [True, False])
def test_training_arguments_accept_the_keyword_without_deprecation_warnings(tmp_path, enabled):
    from transformers import TrainingArguments

    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        args = TrainingArguments(output_dir=str(tmp_path), report_to=[], **checkpointing_kwargs(enabled))
    assert checkpointing_enabled(args) is enabled


@pytest.mark.parametrize("config_class", ["SFTConfig", "GRPOConfig"])
def test_trl_configs_take_the_keyword(tmp_path, config_class):
    trl = pytest.importorskip("trl")
    args = getattr(trl, config_class)(output_dir=str(tmp_path), report_to=[], bf16=False, **checkpointing_kwargs(True))
    assert checkpointing_enabled(args) is True
