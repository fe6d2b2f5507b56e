"""Runs as the explorer shows them: one record per (task, doc_id) item, with every trial of every run.

An item's *score* in a run is its primary metric (the task's first: accuracy closed-world,
inclusion open-world) averaged over trials; the item is *right* when that mean is above one half
(the majority of trials; with one trial, that trial). Its *prediction* is the most frequent
extracted answer over trials (ties: the earliest trial's), which is what a confusion pair
(true -> predicted) counts. Everything here comes from results and samples files, which are
untrusted: values are type-checked and coerced to plain strings and numbers, never interpreted.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finebench.leaderboard.samples import read_samples, samples_path
from finebench.tasks.items import iter_items
from finebench.util.errors import FinebenchError

PRIMARY_METRICS = ("accuracy", "inclusion", "ss_relative")
MAX_OPTIONS = 20
"""More options than this (``--option-order label-set`` shows every class) are cut to the true and
the chosen one; the card says how many there were."""
MAX_TEXT = 20_000
"""Characters kept of any one response or question: a runaway generation must not bloat the page."""


@dataclass
class Trial:
    trial: int
    options: list[str]
    n_options: int
    """How many options were shown (``options`` keeps all of them up to MAX_OPTIONS)."""
    response: str
    answer: str | None
    no_answer: bool
    scores: dict[str, float]
    error: str | None


@dataclass
class RunItem:
    """One item of one run: its trials and their summary."""

    trials: list[Trial]
    score: float
    """Primary metric, mean over trials, 0..1."""
    prediction: str | None
    no_answer: bool
    """No trial produced a complete answer."""
    error: bool
    """Some trial's generation failed."""


@dataclass
class Run:
    label: str
    path: Path
    model: str
    data_root: Path | None
    tasks: dict[str, dict[str, Any]]
    """Task name -> {"world", "metric", "source"} for the tasks with a samples file."""
    items: dict[tuple[str, int], RunItem] = field(default_factory=dict)
    image_paths: dict[tuple[str, int], str] = field(default_factory=dict)
    targets: dict[tuple[str, int], str] = field(default_factory=dict)


def _text(value: Any, limit: int = MAX_TEXT) -> str:
    text = value if isinstance(value, str) else "" if value is None else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more characters]"


def results_file(path: Path) -> Path:
    path = Path(path)
    return path / "results.json" if path.is_dir() else path


def has_samples(path: Path) -> bool:
    """Whether a results directory (or results.json) has any samples file to show."""
    return any(results_file(path).parent.glob("samples_*.jsonl"))


def primary_metric(meta: dict[str, Any], summary: dict[str, Any]) -> str:
    declared = [m for m in meta.get("metrics") or () if isinstance(m, str)]
    for metric in declared + list(PRIMARY_METRICS):
        if metric in summary or metric in declared:
            return metric
    raise FinebenchError(f"no known metric among {sorted(summary)}")


def majority(answers: list[str | None]) -> str | None:
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    best = max(counts.values())
    return next(a for a in answers if a is not None and counts[a] == best)


def run_item(rows: list[dict[str, Any]], metric: str) -> RunItem:
    trials = []
    for row in sorted(rows, key=lambda r: r.get("trial") if isinstance(r.get("trial"), int) else 0):
        scores = {str(k): float(v) for k, v in (row.get("scores") or {}).items() if isinstance(v, (int, float))}
        options = row.get("options") if isinstance(row.get("options"), list) else []
        answer = row.get("answer")
        shown = options if len(options) <= MAX_OPTIONS else [o for o in options if o in (row.get("target"), answer)]
        trials.append(Trial(
            trial=row.get("trial") if isinstance(row.get("trial"), int) else 0,
            options=[_text(o, 500) for o in shown],
            n_options=len(options),
            response=_text(row.get("response")),
            answer=_text(answer, 500) if answer is not None else None,
            no_answer=bool(row.get("no_answer")),
            scores=scores,
            error=_text(row.get("error"), 2000) if row.get("error") else None,
        ))
    per_trial = [t.scores.get(metric, 0.0) for t in trials]
    return RunItem(
        trials=trials,
        score=sum(per_trial) / len(per_trial),
        prediction=majority([t.answer for t in trials]),
        no_answer=all(t.no_answer for t in trials),
        error=any(t.error for t in trials),
    )


def load_run(path: Path, label: str | None = None, tasks: list[str] | None = None) -> Run:
    """A results directory (or results.json) with its samples files; tasks without one are left out."""
    file = results_file(path)
    try:
        results = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FinebenchError(f"{file}: cannot read results ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise FinebenchError(f"{file}: invalid JSON ({exc.msg})") from exc
    if not isinstance(results, dict) or not isinstance(results.get("results"), dict):
        raise FinebenchError(f"{file}: not a finebench results file (no 'results' mapping)")
    model = results.get("model") if isinstance(results.get("model"), dict) else {}
    config = results.get("config") if isinstance(results.get("config"), dict) else {}
    metas = results.get("tasks") if isinstance(results.get("tasks"), dict) else {}
    data_root = Path(config["data_root"]) if isinstance(config.get("data_root"), str) else None
    name = _text(model.get("name") or file.parent.name, 200)
    run = Run(label=label or name, path=file.parent, model=name, data_root=data_root, tasks={})
    for task, summary in results["results"].items():
        if tasks is not None and task not in tasks:
            continue
        samples = samples_path(file, task)
        if not isinstance(summary, dict) or not samples.is_file():
            continue
        meta = metas.get(task) if isinstance(metas.get(task), dict) else {}
        metric = primary_metric(meta, summary)
        source = meta.get("source") if isinstance(meta.get("source"), str) else None
        run.tasks[task] = {"world": _text(meta.get("world") or "", 20), "metric": metric, "source": source}
        by_doc: dict[int, list[dict[str, Any]]] = {}
        for row in read_samples(samples):
            by_doc.setdefault(row["doc_id"], []).append(row)
        for doc_id, rows in by_doc.items():
            run.items[(task, doc_id)] = run_item(rows, metric)
            first = rows[0]
            if isinstance(first.get("image_path"), str):
                run.image_paths[(task, doc_id)] = first["image_path"]
            run.targets[(task, doc_id)] = _text(first.get("target"), 500)
    if not run.tasks:
        raise FinebenchError(f"{file}: no task with a samples file (samples_<task>.jsonl) to show")
    return run


def questions(run: Run, task: str, data_root: Path | None) -> dict[int, str]:
    """The items' question texts from the task's item file, when it can be found (else empty):
    samples rows carry the options and the target but not the question."""
    source = run.tasks[task].get("source")
    root = data_root or run.data_root
    if not source or root is None:
        return {}
    path = (Path(root) / source).resolve()
    if not path.is_relative_to(Path(root).resolve()) or not path.is_file():
        return {}
    try:
        return {item.doc_id: _text(item.question, 2000) for item in iter_items(path, n_options=None)}
    except FinebenchError:
        return {}
