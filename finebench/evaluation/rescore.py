"""``finebench score``: score saved responses against one or several tasks without any model.

Near the floor of the authors' bare scoring loop: the task index is built once, every item file is
read (and hashed) once however many tasks use it, and environment facts come from a per-process
cache; what remains is reading and validating the rows, and scoring them.
"""

from __future__ import annotations

import gc
import hashlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from operator import attrgetter
from pathlib import Path
from typing import Any

from finebench.embeddings.text import CachedEncoder, load_text_encoder
from finebench.evaluation.merge import RESULTS_FILE, check_mergeable, merge_results, read_existing, results_lock
from finebench.evaluation.plan import ItemFiles, effective_metrics, file_sha256
from finebench.evaluation.results import SCHEMA_VERSION, environment, group_results, now_iso, summarise_trials
from finebench.scoring import ScoringContext, ScoringInput, aggregate, score_samples
from finebench.tasks.config import PROTOCOLS, TaskConfig
from finebench.tasks.index import TaskIndex
from finebench.tasks.items import Item
from finebench.util.errors import FinebenchError
from finebench.util.fsutil import atomic_write_json
from finebench.util.jsonl import iter_jsonl


def read_predictions(path: Path, items: list[Item], task_name: str = "the task") -> dict[int, list[ScoringInput]]:
    """trial -> scoring inputs in doc order; every bad row is named by file and line.

    Rows need ``doc_id`` (0-based index in the task's item order) and ``response`` (a string, or
    null for a failed generation); ``trial`` and ``options`` are used when present (samples files).
    """
    by_trial: dict[int, list[ScoringInput]] = defaultdict(list)
    seen: dict[int, bytearray] = {}  # trial -> a flag per doc_id
    n_items = len(items)
    for where, row in iter_jsonl(path, what="predictions"):
        if not isinstance(row, dict) or "doc_id" not in row or "response" not in row:
            raise FinebenchError(f"{where}: a prediction needs the keys 'doc_id' and 'response'")
        doc_id, response, trial = row["doc_id"], row["response"], row.get("trial", 0)
        if type(doc_id) is not int or not 0 <= doc_id < n_items:
            raise FinebenchError(f"{where}: doc_id {doc_id!r} is not an index of the task's {n_items} items")
        if response is not None and not isinstance(response, str):
            raise FinebenchError(f"{where}: 'response' must be a string or null")
        if type(trial) is not int or trial < 0:
            raise FinebenchError(f"{where}: 'trial' must be a non-negative integer")
        flags = seen.get(trial) or seen.setdefault(trial, bytearray(n_items))
        if flags[doc_id]:
            raise FinebenchError(f"{where}: duplicate prediction for doc_id {doc_id} (trial {trial})")
        flags[doc_id] = 1
        item = items[doc_id]
        options = item.options
        shown = row.get("options")
        if isinstance(shown, list) and tuple(shown) != options:  # shown in another order (or not these)
            if sorted(map(str, shown)) != sorted(options):
                raise FinebenchError(
                    f"{where}: its 'options' are not those of item {doc_id} of {task_name}: are these predictions for "
                    f"another task? (`run` writes each task's samples to samples_<task>.jsonl; pass that task to --task)")
            options = tuple(shown)
        by_trial[trial].append(ScoringInput(doc_id, response, item.ground_truth, options, item.image_path))
    if not by_trial:
        raise FinebenchError(f"{path}: no predictions")
    for inputs in by_trial.values():
        inputs.sort(key=_DOC_ID)  # linear when the file is in doc order already
    return dict(sorted(by_trial.items()))


_DOC_ID = attrgetter("doc_id")


def prediction_files(predictions: Path, tasks: Sequence[str]) -> dict[str, Path]:
    """Task -> its predictions: a file answers a single task; a folder holds ``samples_TASK.jsonl``
    (as ``finebench run`` writes them) or ``TASK.jsonl`` for every task. All are found before any
    is scored, so a missing one is reported at once."""
    predictions = Path(predictions)
    if predictions.is_file():
        if len(tasks) != 1:
            raise FinebenchError(f"{predictions} is one file but {len(tasks)} tasks were asked for; "
                                 "give a folder holding samples_TASK.jsonl for each task")
        return {tasks[0]: predictions}
    if not predictions.is_dir():
        raise FinebenchError(f"{predictions}: no such predictions file or folder")
    found, missing = {}, []
    for task in tasks:
        candidates = (predictions / f"samples_{task}.jsonl", predictions / f"{task}.jsonl")
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            missing.append(task)
        else:
            found[task] = path
    if missing:
        raise FinebenchError(f"{predictions}: no samples_TASK.jsonl (or TASK.jsonl) for {', '.join(missing)}")
    return found


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Reading and scoring allocate several objects per row and create no reference cycles, while
    the cyclic collector, left on, re-walks every item and score made so far again and again (a
    sixth of re-scoring's time): it waits until they are made."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def rescore(
    predictions: Path,
    *,
    tasks: Sequence[str],
    data_root: Path,
    output_path: Path,
    protocol: str | None = None,
    metrics: list[str] | None = None,
    ss_encoder: str = "google/siglip-base-patch16-256",
    encoder_loader=load_text_encoder,
    index: TaskIndex | None = None,
    allow_partial: bool = False,
) -> dict[str, Any]:
    """Score the predictions of every task (names and groups, expanded) and merge them into
    ``output_path/results.json`` with the groups they complete; nothing is written unless every task
    scored. A file that does not answer every item of its task is refused (1 of 152 predictions
    right would read as 100.00) unless ``allow_partial``; then ``n`` < ``n_items_total`` marks it."""
    if protocol is not None and protocol not in PROTOCOLS:
        raise FinebenchError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    index = index or TaskIndex()
    names = index.expand(list(tasks))
    configs = [index.load(name) for name in names]
    files = prediction_files(predictions, names)
    item_files = ItemFiles(data_root)
    with _gc_paused():
        for config in configs:  # a missing item file fails before anything is scored
            item_files.get(config)
    chosen = {c.name: effective_metrics(c, metrics) for c in configs}
    needs_encoder = any("ss_relative" in m for m in chosen.values())
    encoder = CachedEncoder(encoder_loader(ss_encoder)) if needs_encoder else None
    summaries, metas, digests = {}, {}, {}
    for config in configs:
        items, items_sha = item_files.get(config)
        task_protocol = protocol or config.protocol
        with _gc_paused():
            summaries[config.name] = _score_task(config, task_protocol, items, files[config.name], chosen[config.name],
                                                 encoder, allow_partial)
        digests[config.name] = file_sha256(files[config.name])
        metas[config.name] = {
            "config_hash": config.config_hash(), "items_sha256": items_sha, "predictions_sha256": digests[config.name],
            "version": config.version, "dataset": config.dataset, "world": config.world, "split": config.split,
            "protocol": task_protocol, "metrics": list(chosen[config.name]), "n_items_total": len(items),
            "source": config.source,
        }
    groups = {g.name: index.expand([g.name]) for g in index.groups_covered_by(names)}
    fingerprint = digests[names[0]] if len(names) == 1 else hashlib.sha256(
        "".join(f"{n}:{d}\n" for n, d in digests.items()).encode()).hexdigest()
    results = {
        "schema_version": SCHEMA_VERSION,
        "created": now_iso(),
        "model": {"name": str(predictions), "adapter": "predictions", "model": str(predictions), "family": "trained",
                  "fingerprint": fingerprint},
        "config": {"tasks": list(tasks), "protocol": protocol, "metrics": list(metrics) if metrics else None,
                   "data_root": str(data_root), "ss_encoder": ss_encoder if encoder is not None else None},
        "results": summaries,
        "groups": group_results(summaries, groups),
        "tasks": metas,
        "environment": environment(),
    }
    out = Path(output_path)
    with results_lock(out):
        existing = read_existing(out)
        if existing is not None:
            check_mergeable(existing, results["model"], results["config"], out / RESULTS_FILE)
        atomic_write_json(out / RESULTS_FILE, merge_results(existing, results))
    return results


def _score_task(config: TaskConfig, protocol: str, items: list[Item], predictions: Path, chosen: Sequence[str],
                encoder: Any, allow_partial: bool = False) -> dict[str, Any]:
    by_trial = read_predictions(predictions, items, f"task {config.name}")
    check_coverage(by_trial, len(items), predictions, config.name, allow_partial)
    context = ScoringContext(
        protocol, config.world, config.super_category, config.open_target, config.protocols[protocol].answer_extraction
    )
    per_trial = [aggregate(score_samples(context, inputs, chosen, encoder), chosen) for inputs in by_trial.values()]
    summary = summarise_trials(per_trial, chosen)
    summary.update(n=max(len(inputs) for inputs in by_trial.values()),
                   n_samples=sum(len(inputs) for inputs in by_trial.values()),
                   n_errors=sum(1 for inputs in by_trial.values() for sample in inputs if sample.response is None))
    return summary


def check_coverage(by_trial: dict[int, list[ScoringInput]], n_items: int, path: Path, task: str,
                   allow_partial: bool) -> None:
    """Every trial answers the same items, and (unless ``allow_partial``) all of the task's."""
    covered = {trial: frozenset(sample.doc_id for sample in inputs) for trial, inputs in by_trial.items()}
    if len(set(covered.values())) > 1:
        sizes = ", ".join(f"trial {t}: {len(d)}" for t, d in covered.items())
        raise FinebenchError(f"{path}: the trials answer different items ({sizes}); give every trial the same items")
    scored = len(next(iter(covered.values())))
    if scored < n_items and not allow_partial:
        raise FinebenchError(
            f"{path}: predictions cover {scored} of the {n_items} items of task {task}; score a complete file, "
            "or pass --allow-partial (the result is then marked partial)")


def rescore_file(predictions: Path, *, task: str, **options: Any) -> dict[str, Any]:
    """``rescore`` of one task's predictions file."""
    return rescore(predictions, tasks=[task], **options)
