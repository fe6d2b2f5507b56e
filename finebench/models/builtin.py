"""The models finebench builds offline, addressed as ``builtin:NAME`` in model cards and recipes: each
is built once into the cache (atomically, with a marker naming builder, version and seed) and
reused after."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from finebench.models import tiny, tiny_clip
from finebench.util.resources import default_data_root
from finebench.util.suggest import unknown_name_error

BUILDER_VERSION = 1
"""Bump whenever the output of the builder changes, so cached builds are rebuilt."""


BUILD_MARKER = "finebench_build.json"
"""Written last into a build; its presence (with matching version and seed) means complete."""


def _is_complete(directory: Path, builder: str, seed: int) -> bool:
    try:
        marker = json.loads((directory / BUILD_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return marker.get("builder") == builder and marker.get("builder_version") == BUILDER_VERSION and marker.get("seed") == seed


def build_atomically(dest: Path, seed: int, builder: str, build_into: Callable[[Path, int], None]) -> Path:
    """Build (or reuse) a model in ``dest`` with ``build_into``; returns ``dest``.

    Builds into a temporary sibling and renames it into place, so concurrent builders and
    interrupted builds never leave a half-written model behind; an outdated build is replaced.
    """
    dest = Path(dest)
    if _is_complete(dest, builder, seed):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.build-"))
    try:
        build_into(staging, seed)
        marker = {"builder": builder, "builder_version": BUILDER_VERSION, "seed": seed}
        (staging / BUILD_MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        if dest.exists():
            if _is_complete(dest, builder, seed):  # another process finished first
                return dest
            stale = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.stale-"))
            os.replace(dest, stale / dest.name)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(staging, dest)
        except OSError:
            if not _is_complete(dest, builder, seed):  # lost a race against a different build: report it
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def build_tiny_qwen25vl(dest: Path, seed: int = 0) -> Path:
    """Build (or reuse) the tiny random Qwen2.5-VL in ``dest``; returns ``dest``."""
    return build_atomically(dest, seed, "tiny-qwen2.5-vl", tiny.build_into)


def build_tiny_clip(dest: Path, seed: int = 0) -> Path:
    """Build (or reuse) the tiny random CLIP in ``dest`` (see ``finebench.models.tiny_clip``)."""
    return build_atomically(dest, seed, "tiny-clip", tiny_clip.build_into)


BUILTIN_MODELS: dict[str, Callable[[Path], Path]] = {"tiny-qwen2.5-vl": build_tiny_qwen25vl, "tiny-clip": build_tiny_clip}
"""Models finebench can build offline, addressed in model cards as ``builtin:NAME``."""


def resolve_builtin(name: str, cache_root: Path | None = None) -> Path:
    """The folder of built-in model ``name`` under ``cache_root/models``, built on first use."""
    if name not in BUILTIN_MODELS:
        raise unknown_name_error("built-in model", name, BUILTIN_MODELS, hint="used as builtin:NAME in a model card")
    root = Path(cache_root) if cache_root is not None else default_data_root()
    return BUILTIN_MODELS[name](root / "models" / name)
