"""``finebench score``: score saved responses against a task without any model."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from finebench.embeddings.text import CachedEncoder, load_text_encoder
from finebench.evaluation.plan import effective_metrics, file_sha256, item_file
from finebench.evaluation.results import SCHEMA_VERSION, environment, now_iso, summarise_trials
from finebench.scoring import ScoringContext, ScoringInput, aggregate, score_samples
from finebench.tasks.config import PROTOCOLS
from finebench.tasks.index import TaskIndex
from finebench.tasks.items import Item, load_items
from finebench.util.errors import FinebenchError
from finebench.util.fsutil import atomic_write_json
from finebench.util.jsonl import iter_jsonl


def read_predictions(path: Path, items: list[Item], task_name: str = "the task") -> dict[int, list[tuple[int, str | None, tuple[str, ...]]]]:
    """trial -> [(doc_id, response, options shown)]; every bad row is named by file and line.

    Rows need ``doc_id`` (0-based index in the task's item order) and ``response`` (a string, or
    null for a failed generation); ``trial`` and ``options`` are used when present (samples files).
    """
    by_trial: dict[int, list[tuple[int, str | None, tuple[str, ...]]]] = defaultdict(list)
    seen: set[tuple[int, int]] = set()
    for where, row in iter_jsonl(path, what="predictions"):
        if not isinstance(row, dict) or "doc_id" not in row or "response" not in row:
            raise FinebenchError(f"{where}: a prediction needs the keys 'doc_id' and 'response'")
        doc_id, response, trial = row["doc_id"], row["response"], row.get("trial", 0)
        if not isinstance(doc_id, int) or isinstance(doc_id, bool) or not 0 <= doc_id < len(items):
            raise FinebenchError(f"{where}: doc_id {doc_id!r} is not an index of the task's {len(items)} items")
        if response is not None and not isinstance(response, str):
            raise FinebenchError(f"{where}: 'response' must be a string or null")
        if not isinstance(trial, int) or trial < 0:
            raise FinebenchError(f"{where}: 'trial' must be a non-negative integer")
        if (trial, doc_id) in seen:
            raise FinebenchError(f"{where}: duplicate prediction for doc_id {doc_id} (trial {trial})")
        seen.add((trial, doc_id))
        options = tuple(row["options"]) if isinstance(row.get("options"), list) else items[doc_id].options
        if sorted(options) != sorted(items[doc_id].options):
            raise FinebenchError(
                f"{where}: its 'options' are not those of item {doc_id} of {task_name}: are these predictions "
                f"for another task? (`run` writes each task's samples to samples_<task>.jsonl; pass that task to --task)")
        by_trial[trial].append((doc_id, response, options))
    if not by_trial:
        raise FinebenchError(f"{path}: no predictions")
    return dict(sorted(by_trial.items()))


def rescore_file(
    predictions: Path,
    *,
    task: str,
    data_root: Path,
    output_path: Path,
    protocol: str | None = None,
    metrics: list[str] | None = None,
    ss_encoder: str = "google/siglip-base-patch16-256",
    encoder_loader=load_text_encoder,
) -> dict[str, Any]:
    config = TaskIndex().load(task)
    protocol = protocol or config.protocol
    if protocol not in PROTOCOLS:
        raise FinebenchError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    items_path = item_file(config, Path(data_root))
    items = load_items(items_path)
    by_trial = read_predictions(predictions, items, f"task {task}")
    chosen = effective_metrics(config, metrics)
    encoder = CachedEncoder(encoder_loader(ss_encoder)) if "ss_relative" in chosen else None
    context = ScoringContext(
        protocol, config.world, config.super_category, config.open_target, config.protocols[protocol].answer_extraction
    )
    per_trial = []
    for rows in by_trial.values():
        inputs = [
            ScoringInput(doc_id, response, items[doc_id].ground_truth, options, items[doc_id].image_path)
            for doc_id, response, options in sorted(rows, key=lambda r: r[0])
        ]
        per_trial.append(aggregate(score_samples(context, inputs, chosen, encoder), chosen))
    summary = summarise_trials(per_trial, chosen)
    counts = {len(rows) for rows in by_trial.values()}
    summary.update(n=max(counts), n_samples=sum(len(r) for r in by_trial.values()),
                   n_errors=sum(1 for rows in by_trial.values() for _, resp, _ in rows if resp is None))
    results = {
        "schema_version": SCHEMA_VERSION,
        "created": now_iso(),
        "model": {"name": str(predictions), "adapter": "predictions", "model": str(predictions), "family": "trained",
                  "fingerprint": file_sha256(Path(predictions))},
        "config": {"tasks": [task], "protocol": protocol, "metrics": list(chosen), "data_root": str(data_root),
                   "ss_encoder": ss_encoder if encoder is not None else None},
        "results": {task: summary},
        "groups": {},
        "tasks": {task: {"config_hash": config.config_hash(), "items_sha256": file_sha256(items_path),
                         "version": config.version, "dataset": config.dataset, "world": config.world,
                         "split": config.split, "protocol": protocol, "metrics": list(chosen),
                         "n_items_total": len(items), "source": config.source}},
        "environment": environment(),
    }
    atomic_write_json(Path(output_path) / "results.json", results)
    return results
