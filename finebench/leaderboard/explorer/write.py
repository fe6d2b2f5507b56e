"""Lay out the explorer folder: the page, an index of every item, per-run data chunks and thumbnails.

    OUT/index.html, explorer.js, explorer.css    the page (copied from assets/)
    OUT/data/index.js                            FB.index({...}): one column per field, every item
    OUT/data/r<RUN>_<CHUNK>.js                   FB.chunk(run, chunk, [...]): trials of CHUNK_SIZE items
    OUT/thumbs/<sha256 prefix>.jpg               bounded thumbnails

Data travels as JavaScript files because a page opened from file:// may load scripts but not fetch
JSON. The index holds what filtering needs (task, class, score, prediction, flags), a few bytes
an item, so 35k items filter instantly; the texts (question, options, responses) sit in chunks that
the page loads only for the items it shows. The JSON inside them is escaped for a script context
(``<``, ``>``, ``&``, U+2028/2029 as \\u escapes), and the page inserts every value with textContent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from finebench.leaderboard.explorer.collect import Run, load_run, questions
from finebench.leaderboard.explorer.thumbs import ThumbReport, make_thumbnails
from finebench.util.errors import FinebenchError
from finebench.util.fsutil import atomic_write_text

CHUNK_SIZE = 64
ASSETS = ("index.html", "explorer.js", "explorer.css")
NO_ANSWER, ERROR = 1, 2


@dataclass
class ExplorerReport:
    out: Path
    n_items: int
    n_runs: int
    n_chunks: int
    thumbs: ThumbReport


def script_json(value: Any) -> str:
    """JSON that is also a safe JavaScript literal inside a script file or element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


class Strings:
    """Interned strings (class names and predictions recur thousands of times)."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._ids: dict[str, int] = {}

    def index_of(self, value: str | None) -> int:
        if value is None:
            return -1
        if value not in self._ids:
            self._ids[value] = len(self.values)
            self.values.append(value)
        return self._ids[value]


def item_keys(runs: list[Run]) -> list[tuple[str, int]]:
    """Every (task, doc_id) of any run, tasks in first-seen order, doc ids ascending."""
    task_order: dict[str, int] = {}
    for run in runs:
        for task in run.tasks:
            task_order.setdefault(task, len(task_order))
    keys = {key for run in runs for key in run.items}
    return sorted(keys, key=lambda k: (task_order[k[0]], k[1]))


def build_index(runs: list[Run], keys: list[tuple[str, int]], thumbs: dict[str, str], title: str) -> dict[str, Any]:
    strings = Strings()
    tasks: dict[str, dict[str, Any]] = {}
    for run in runs:
        for name, info in run.tasks.items():
            tasks.setdefault(name, {"name": name, "world": info["world"], "metric": info["metric"]})
    task_ids = {name: i for i, name in enumerate(tasks)}
    target = [next((r.targets[k] for r in runs if k in r.targets), "") for k in keys]
    image = [next((r.image_paths[k] for r in runs if k in r.image_paths), None) for k in keys]
    columns: dict[str, Any] = {
        "task": [task_ids[k[0]] for k in keys],
        "doc": [k[1] for k in keys],
        "cls": [strings.index_of(t) for t in target],
        "thumb": [thumbs.get(p, "") if p else "" for p in image],
    }
    per_run = []
    for run in runs:
        present, score, pred, flags = [], [], [], []
        for key in keys:
            item = run.items.get(key)
            present.append(int(item is not None))
            score.append(round(item.score * 100) if item else 0)
            pred.append(strings.index_of(item.prediction) if item else -1)
            flags.append((NO_ANSWER * item.no_answer) | (ERROR * item.error) if item else 0)
        per_run.append({"present": present, "score": score, "pred": pred, "flags": flags})
    return {
        "version": 1,
        "title": title,
        "chunk_size": CHUNK_SIZE,
        "runs": [{"label": r.label, "model": r.model, "path": str(r.path)} for r in runs],
        "tasks": list(tasks.values()),
        "strings": strings.values,
        "items": columns,
        "run_items": per_run,
    }


def chunk_rows(run: Run, keys: list[tuple[str, int]], texts: dict[tuple[str, int], str]) -> list[Any]:
    rows = []
    for key in keys:
        item = run.items.get(key)
        if item is None:
            rows.append(None)
            continue
        rows.append({
            "q": texts.get(key, ""),
            "trials": [{"k": t.trial, "o": t.options, "no": t.n_options, "r": t.response, "a": t.answer, "n": t.no_answer,
                        "s": t.scores, "e": t.error} for t in item.trials],
        })
    return rows


def copy_assets(out: Path) -> None:
    folder = resources.files("finebench.leaderboard.explorer") / "assets"
    for name in ASSETS:
        atomic_write_text(out / name, (folder / name).read_text(encoding="utf-8"))


def write_explorer(paths: list[Path], out: Path, *, labels: list[str] | None = None, data_root: Path | None = None,
                   tasks: list[str] | None = None, thumbnails: bool = True, title: str = "finebench explorer") -> ExplorerReport:
    """Build the explorer of the runs at ``paths`` (results directories) into ``out``."""
    out = Path(out)
    data = out / "data"
    if out.is_dir() and any(out.iterdir()) and not (data / "index.js").is_file():
        raise FinebenchError(f"{out} exists and is not an explorer folder; give --out a new or an explorer folder")
    runs = [load_run(p, (labels or [None] * len(paths))[i], tasks) for i, p in enumerate(paths)]
    _disambiguate(runs)
    keys = item_keys(runs)
    image_paths = {p for run in runs for p in run.image_paths.values()}
    thumbs, thumb_report = ({}, ThumbReport())
    if thumbnails:
        thumbs, thumb_report = make_thumbnails(image_paths, data_root or runs[0].data_root, out / "thumbs")
    texts: dict[tuple[str, int], str] = {}
    for run in runs:
        for task in run.tasks:
            for doc_id, question in questions(run, task, data_root).items():
                texts.setdefault((task, doc_id), question)
    for old in data.glob("r*_*.js"):  # chunks of an earlier build must not linger under new numbers
        old.unlink()
    data.mkdir(parents=True, exist_ok=True)
    copy_assets(out)
    index = build_index(runs, keys, thumbs, title)
    n_chunks = (len(keys) + CHUNK_SIZE - 1) // CHUNK_SIZE
    for r, run in enumerate(runs):
        for c in range(n_chunks):
            rows = chunk_rows(run, keys[c * CHUNK_SIZE:(c + 1) * CHUNK_SIZE], texts)
            (data / f"r{r}_{c:05d}.js").write_text(f"FB.chunk({r},{c},{script_json(rows)});\n", encoding="utf-8")
    atomic_write_text(data / "index.js", f"FB.index({script_json(index)});\n")
    return ExplorerReport(out, len(keys), len(runs), n_chunks, thumb_report)


def _disambiguate(runs: list[Run]) -> None:
    """Two runs of one model get their folder names as labels, so the page can tell them apart."""
    seen: dict[str, int] = {}
    for run in runs:
        seen[run.label] = seen.get(run.label, 0) + 1
    for run in runs:
        if seen[run.label] > 1:
            run.label = f"{run.label} ({run.path.name})"
