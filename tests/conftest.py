"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from finebench.models.tiny import resolve_builtin


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in tiny random Qwen2.5-VL, built once per session (a few seconds).

    It lives where ``resolve_builtin`` puts it, ``<cache root>/models/tiny-qwen2.5-vl``, so a test
    can point the default cache root at ``tiny_model_dir.parents[1]`` and reuse it by name.
    """
    return resolve_builtin("tiny-qwen2.5-vl", cache_root=tmp_path_factory.mktemp("finebench-cache"))
