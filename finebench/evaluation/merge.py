"""One results folder per model, accumulated: a run into a folder that already has results merges
into them instead of replacing them.

Why one merged ``results.json`` and not lm-eval's timestamped files: every consumer (``leaderboard``,
``compare``, ``analyze``, ``score``) takes a folder and reads one file, and ``samples_<task>.jsonl``
sits next to it under a fixed name; the response cache already makes a re-run cheap, so a second
file per run would only make users pick the right one. So: tasks of the earlier runs are kept,
re-run tasks are replaced (their samples file too), groups are recomputed and ``created`` stays
the first run's.

Merging is refused, naming the folder and the difference, when the folder holds another model, or
results scored with another setting that no task entry records (the SS_relative text encoder, the
ICL pool): a results file describes one model, and every number in it must say how it was made. Two
runs writing into one folder at once take turns under an exclusive ``flock`` on
``.results.lock``: each re-reads the file under the lock, so neither drops the other's tasks.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from finebench.util.errors import FinebenchError
from finebench.util.jsonfile import read_json_file

RESULTS_FILE = "results.json"
LOCK_FILE = ".results.lock"
MODEL_KEYS = ("name", "adapter", "model", "fingerprint")
SCORING_KEYS = ("ss_encoder", "icl_pool")
"""Config keys that change what a task's numbers mean and that no task entry records (None: not
used, matches anything). Protocol, option order, strategy, metrics, seeds, trials and the number
of items scored (``--limit``) are recorded per task, so runs that differ in them merge: each task
keeps its own; batch size, request order and data root change nothing (results are batch- and
order-invariant, and each task records its item file's sha256)."""


def check_output_folder(folder: Path) -> None:
    """The output path can hold results: a folder, or nothing yet (never a file)."""
    folder = Path(folder)
    for parent in (folder, *folder.parents):
        if parent.exists():
            if not parent.is_dir():
                raise FinebenchError(f"--output-path {folder}: {parent} is a file, not a folder; choose another path")
            break


@contextmanager
def results_lock(folder: Path) -> Iterator[None]:
    """Exclusive lock of ``folder``'s results for read-merge-write (blocks another run's turn)."""
    folder = Path(folder)
    check_output_folder(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / LOCK_FILE, "a+")
    except OSError as exc:
        raise FinebenchError(f"--output-path {folder}: cannot write there ({exc.strerror})") from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_existing(folder: Path) -> dict[str, Any] | None:
    path = Path(folder) / RESULTS_FILE
    if not path.exists():
        return None
    data = read_json_file(path, "results file")
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict) or \
            not all(isinstance(data.get(k, {}), dict) for k in ("config", "results", "tasks")):
        raise FinebenchError(f"{path}: not a finebench results file; move it away or choose another --output-path")
    for key in ("config", "results", "tasks"):
        data.setdefault(key, {})
    return data


def _differences(old: Mapping[str, Any], new: Mapping[str, Any], keys: tuple[str, ...], *, both_set: bool) -> list[str]:
    diffs = []
    for key in keys:
        a, b = old.get(key), new.get(key)
        if both_set and (a is None or b is None):
            continue
        if a != b:
            diffs.append(f"{key} {a!r} vs {b!r}")
    return diffs


def check_mergeable(existing: Mapping[str, Any], model: Mapping[str, Any], config: Mapping[str, Any], path: Path) -> None:
    """Refuse to merge another model's results, or results scored with another text encoder or ICL
    pool. Model keys are compared where both are known (the fingerprint exists only once the
    adapter is built)."""
    diffs = _differences(existing["model"], model, MODEL_KEYS, both_set=True)
    if diffs:
        raise FinebenchError(
            f"{path} holds results of another model ({'; '.join(diffs)}); use another --output-path "
            "(the default is finebench-out/MODEL) or move the folder away")
    diffs = _differences(existing["config"], config, SCORING_KEYS, both_set=True)
    if diffs:
        raise FinebenchError(
            f"{path} holds results made with another configuration ({'; '.join(diffs)}); use another "
            "--output-path, or the same options as that run")


def merge_results(existing: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """``new`` with ``existing``'s other tasks (and general scores) kept; ``new`` wins per task."""
    if existing is None:
        return dict(new)
    merged = dict(new)
    merged["created"] = existing.get("created", new["created"])
    merged["results"] = {**existing["results"], **new["results"]}
    merged["tasks"] = {**existing["tasks"], **new["tasks"]}
    general = {**(existing.get("general") or {}), **(new.get("general") or {})}
    if general:
        merged["general"] = general
    tasks = [*existing["config"].get("tasks", []), *new["config"].get("tasks", [])]
    merged["config"] = {**existing["config"], **{k: v for k, v in new["config"].items() if v is not None},
                        "tasks": list(dict.fromkeys(tasks))}
    return merged
