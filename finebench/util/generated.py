"""Item files finebench generated itself (the offline demo, the synthetic benchmark) say so.

A run on them measures the harness, not a model's fine-grained recognition: the leaderboard keeps
such runs out of the paper's tables unless asked (``--include-demo``). The writer leaves a marker
next to the item files naming their kind and sha256; a run looks the marker up for the item file it
read, so a real release later copied over the same folder (other bytes) is never mistaken for
generated data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from finebench.util.fsutil import atomic_write_json

MARKER = ".finebench-generated.json"
KINDS = ("demo", "synthetic")


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def mark_generated(kind: str, files: Iterable[Path], tasks: str | None = None) -> None:
    """Record ``files`` (item or training files, in one folder or several) as generated data of
    ``kind``; ``tasks``: the task group they belong to (what a checkpoint trained on them is
    evaluated on)."""
    if kind not in KINDS:
        raise ValueError(f"unknown generated-data kind {kind!r}; one of {', '.join(KINDS)}")
    by_folder: dict[Path, dict[str, str]] = {}
    for file in files:
        by_folder.setdefault(Path(file).parent, {})[Path(file).name] = _sha256(file)
    for folder, hashes in by_folder.items():
        marker = folder / MARKER
        previous = _read_marker(marker)
        kept = previous.get("files", {}) if previous.get("kind") == kind else {}
        atomic_write_json(marker, {"kind": kind, "tasks": tasks, "files": {**kept, **hashes}})


def generated_kind(item_file: Path, sha256: str | None = None) -> str | None:
    """``demo`` or ``synthetic`` when ``item_file`` is (byte for byte) a file finebench generated,
    else None. ``sha256``: the file's hash when the caller has it already."""
    marker = _matching_marker(Path(item_file), sha256)
    return marker["kind"] if marker else None


def generated_tasks(path: Path) -> str | None:
    """The task group a generated file belongs to (``synth`` for the synthetic benchmark's
    training files), else None."""
    marker = _matching_marker(Path(path), None)
    tasks = marker.get("tasks") if marker else None
    return tasks if isinstance(tasks, str) else None


def _matching_marker(path: Path, sha256: str | None) -> dict | None:
    marker = _read_marker(path.parent / MARKER)
    files = marker.get("files")
    recorded = files.get(path.name) if isinstance(files, dict) else None
    if marker.get("kind") not in KINDS or recorded is None or not path.is_file():
        return None
    return marker if recorded == (sha256 or _sha256(path)) else None


def _read_marker(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
