"""The documented ``results.json`` schema (cf. lm-eval's ``result_schema.py``) and its pure helpers.

``results.json`` (schema_version 1)::

    {
      "schema_version": 1,
      "created": "2026-11-24T20:00:00+00:00",         # UTC, ISO 8601
      "model": {"name", "display_name", "adapter", "model", "family", "fingerprint",  # display_name: --name or the card's
                "settings": {"dtype", "pixels", "attn_implementation"...}},  # resolved load settings
      "config": {"protocol", "seed", "trials", "limit", "batch_size", "metrics", "data_root", "ss_encoder",
                 "model_args": {...}, "gen_kwargs": {...}},                 # --model-args, --gen-kwargs
      "results": {                                   # one entry per finished task
        TASK: {
          METRIC: float,                             # mean over trials, in percent
          METRIC + "_std": float,                    # sample std over trials (0 for one trial)
          METRIC + "_trials": [float, ...],          # per-trial values, trial 0 first
          "no_answer": float,                        # percent of samples without a complete answer tag
          "n": int,                                  # items scored (after --limit)
          "n_samples": int,                          # items x trials
          "n_errors": int                            # samples whose generation failed (scored 0)
        }
      },
      "groups": {GROUP: {METRIC: float, "n_tasks": int, "tasks": [TASK, ...]}},   # macro averages
      "tasks": {TASK: {"task_hash", "config_hash", "items_sha256", "version", "dataset", "world",
                       "split", "protocol", "image_rule", "n_items_total", "seeds": [int, ...], "source",
                       "generated": "demo" | "synthetic" | null}},   # items finebench generated (finebench.util.generated)
      "environment": {"finebench", "python", "platform", "git_hash", "packages": {NAME: VERSION}},
      "general": {BENCHMARK: {"score": float, "unit": "%" | "score", "lmms_task", "metrics": {...},
                              "lmms_results": PATH, "limit"}}   # only after `run --general`
    }

Samples whose generation failed count as wrong (score 0) so that missing images can never raise a
score; their number is reported as ``n_errors``.
"""

from __future__ import annotations

import functools
import platform
import statistics
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import finebench

SCHEMA_VERSION = 1
REPORTED_PACKAGES = ("torch", "transformers", "vllm", "open_clip_torch", "trl", "numpy", "pillow", "accelerate")


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def git_hash() -> str | None:
    """The commit of the finebench checkout, when running from one (None for a wheel)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(finebench.__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment() -> dict[str, Any]:
    """Versions and the checkout's commit: computed once per process (a git call and eight
    package look-ups), a fresh copy per caller."""
    facts = _environment()
    return {**facts, "packages": dict(facts["packages"])}


@functools.cache
def _environment() -> dict[str, Any]:
    packages = {}
    for name in REPORTED_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "finebench": finebench.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_hash": git_hash(),
        "packages": packages,
    }


def summarise_trials(per_trial: Sequence[Mapping[str, float]], metrics: Sequence[str]) -> dict[str, Any]:
    """Mean, sample std and the per-trial list of each metric (and of ``no_answer``)."""
    summary: dict[str, Any] = {}
    for metric in (*metrics, "no_answer"):
        values = [float(trial[metric]) for trial in per_trial]
        summary[metric] = statistics.fmean(values)
        summary[f"{metric}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        summary[f"{metric}_trials"] = values
    return summary


def group_results(
    task_results: Mapping[str, Mapping[str, Any]], groups: Mapping[str, Sequence[str]]
) -> dict[str, dict[str, Any]]:
    """Macro average of every metric over a group's tasks that report it (as the paper averages
    datasets). A group is reported only when all its tasks finished."""
    out: dict[str, dict[str, Any]] = {}
    for group, members in groups.items():
        if not members or any(m not in task_results for m in members):
            continue
        entry: dict[str, Any] = {"n_tasks": len(members), "tasks": list(members)}
        metric_names = {k for m in members for k in task_results[m] if _is_metric_key(k)}
        for metric in sorted(metric_names):
            values = [task_results[m][metric] for m in members if metric in task_results[m]]
            entry[metric] = statistics.fmean(values)
        out[group] = entry
    return out


_NON_METRIC_KEYS = {"n", "n_samples", "n_errors"}


def _is_metric_key(key: str) -> bool:
    return key not in _NON_METRIC_KEYS and not key.endswith(("_std", "_trials"))
