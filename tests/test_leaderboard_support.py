"""Builders of small but schema-true results directories (results.json + samples files) for the
leaderboard tests, and a check that they are what ``finebench run`` writes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from finebench.evaluation.results import SCHEMA_VERSION

DATASETS = ("aircraft", "cub", "cars", "dogs", "flowers", "pets")
CLOSED_TASKS = tuple(f"{d}_closed_{s}" for s in ("seen", "unseen") for d in DATASETS)
OPEN_TASKS = tuple(f"{d}_open_{s}" for s in ("seen", "unseen") for d in DATASETS)


def options_for(doc_id: int) -> list[str]:
    """Release layout: ground truth first, four distinct class names."""
    target = f"Class {doc_id % 5}"
    others = [f"Class {(doc_id + k) % 5}" for k in (1, 2, 3)]
    return [target, *others]


def sample_rows(task: str, scores: Mapping[str, Sequence[float]], trials: int = 1) -> list[dict]:
    """One row per (doc, trial); a correct row answers the target, a wrong one the next option."""
    world = task.split("_")[1]
    primary = "accuracy" if world == "closed" else "inclusion"
    n = len(next(iter(scores.values())))
    rows = []
    for doc_id in range(n):
        options = options_for(doc_id)
        right = scores[primary][doc_id] >= 0.5
        answer = options[0] if right else options[1]
        for trial in range(trials):
            rows.append({
                "doc_id": doc_id,
                "trial": trial,
                "prompt_hash": "0" * 16,
                "image_path": f"img/{doc_id}.jpg",
                "options": options if world == "closed" else [],
                "option_seed": None,
                "target": options[0],
                "response": f"<think>looks like it</think> <answer>{answer}</answer>",
                "answer": answer,
                "no_answer": False,
                "scores": {m: float(v[doc_id]) for m, v in scores.items()},
                "error": None,
            })
    return rows


def summary_of(rows: Sequence[Mapping], metrics: Sequence[str], trials: int) -> dict:
    summary: dict = {}
    for metric in (*metrics, "no_answer"):
        per_trial = []
        for trial in range(trials):
            values = [float(r["scores"][metric]) if metric != "no_answer" else float(r["no_answer"])
                      for r in rows if r["trial"] == trial]
            per_trial.append(sum(values) / len(values) * 100)
        summary[metric] = sum(per_trial) / len(per_trial)
        summary[f"{metric}_std"] = 0.0
        summary[f"{metric}_trials"] = per_trial
    n = len({r["doc_id"] for r in rows})
    summary.update(n=n, n_samples=len(rows), n_errors=sum(1 for r in rows if r["error"]))
    return summary


def write_run(
    directory: Path,
    model: str,
    tasks: Mapping[str, Mapping[str, Sequence[float]] | Sequence[dict]],
    *,
    family: str = "general-mllm",
    protocol: str = "fine-r1",
    option_order: str = "release",
    version: int = 1,
    config_hash: str = "cfg0",
    items_sha256: str = "items0",
    n_items_total: int | None = None,
    created: str = "2026-11-20T10:00:00+00:00",
    trials: int = 1,
    samples: bool = True,
    generated: str | None = None,
    display_name: str | None = None,
    ss_encoder: str | None = None,
) -> Path:
    """A results directory. ``tasks``: task -> {metric: per-doc scores} or ready-made sample rows."""
    directory.mkdir(parents=True, exist_ok=True)
    results, metas = {}, {}
    for task, spec in tasks.items():
        dataset, world, split = task.split("_")
        rows = list(spec) if isinstance(spec, list) else sample_rows(task, spec, trials)
        metrics = sorted(rows[0]["scores"])
        n_trials = max(r["trial"] for r in rows) + 1
        results[task] = summary_of(rows, metrics, n_trials)
        metas[task] = {
            "task_hash": "h" * 16, "config_hash": config_hash, "items_sha256": items_sha256, "version": version,
            "dataset": dataset, "world": world, "split": split, "protocol": protocol, "option_order": option_order,
            "metrics": metrics, "n_items_total": n_items_total or results[task]["n"],
            "seeds": list(range(n_trials)), "source": f"fine-r1/eval/{dataset}_{split}.jsonl",
            "generated": generated,
        }
        if samples:
            (directory / f"samples_{task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = {
        "schema_version": SCHEMA_VERSION,
        "created": created,
        "model": {"name": model, "display_name": display_name, "adapter": "hf", "model": f"org/{model}", "family": family,
                  "fingerprint": "f" * 16},
        "config": {"tasks": list(tasks), "protocol": None, "seed": None, "trials": None, "limit": None, "batch_size": 8,
                   "metrics": None, "data_root": "/data", "ss_encoder": ss_encoder, "request_order": "length",
                   "option_order": None},
        "results": results,
        "groups": {},
        "tasks": metas,
        "environment": {"finebench": "0.1.0", "python": "3.11", "platform": "linux", "git_hash": None, "packages": {}},
    }
    (directory / "results.json").write_text(json.dumps(data, indent=2))
    return directory


def constant(n: int, accuracy: float) -> list[float]:
    """n 0/1 scores, the first round(n * accuracy) correct."""
    k = round(n * accuracy)
    return [1.0] * k + [0.0] * (n - k)


def full_run(directory: Path, model: str, level: float, n: int = 40, **kwargs) -> Path:
    """All 24 tasks, every task at accuracy ``level`` (+1% per dataset index, so cells differ)."""
    tasks: dict[str, dict[str, list[float]]] = {}
    for i, task in enumerate(CLOSED_TASKS):
        tasks[task] = {"accuracy": constant(n, min(1.0, level + 0.025 * (i % 6)))}
    for i, task in enumerate(OPEN_TASKS):
        scores = constant(n, min(1.0, level - 0.1 + 0.025 * (i % 6)))
        tasks[task] = {"inclusion": scores, "ss_relative": [0.5 + s / 4 for s in scores]}
    return write_run(directory, model, tasks, **kwargs)


def test_builder_writes_what_the_runner_schema_documents(tmp_path):
    from finebench.leaderboard.collect import load_run

    run = load_run(full_run(tmp_path / "m", "m", 0.5, n=8))
    assert len(run.tasks) == 24
    cub = run.tasks["cub_closed_seen"]
    assert (cub.dataset, cub.world, cub.split, cub.setting.protocol) == ("cub", "closed", "seen", "fine-r1")
    assert cub.metrics["accuracy"] == 50.0 and "no_answer" in cub.metrics and not cub.partial
