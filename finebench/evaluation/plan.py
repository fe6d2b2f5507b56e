"""Planning a task's requests: which items (seeded --limit), which options each trial shows, the prompt,
demonstrations and the cache key of every (item, trial) pair, and the order they are batched in.

Pure planning: nothing here loads a model; the evaluator executes the plan."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finebench.adapters.base import Adapter
from finebench.evaluation.cache import response_key
from finebench.models.cards import ModelCard
from finebench.tasks.config import TaskConfig
from finebench.tasks.items import Item, load_items
from finebench.tasks.prompts import (
    apply_strategy,
    prompt_hash,
    render_prompt,
    trial_options,
)
from finebench.util.errors import FinebenchError
from finebench.util.imaging import load_rgb


@dataclass(frozen=True, slots=True)
class PlannedSample:
    """One (item, trial) pair: what will be asked and under which cache key."""

    item: Item
    trial: int
    options: tuple[str, ...]
    option_seed: int | None
    prompt: str
    prompt_hash: str
    gen_kwargs: dict[str, Any]
    key: str
    demonstrations: tuple[tuple[str, str], ...] = ()
    """(image path, class name) examples shown before the query, for in-context learning."""


def load_image(path: Path):
    """Decode an image fully (so corrupt files fail here, per sample, not inside the model)."""
    return load_rgb(path)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def select_items(items: list[Item], limit: int | None, seed: int) -> list[Item]:
    """All items, or a seeded random sample of ``limit`` of them in doc order."""
    if limit is None or limit >= len(items):
        return items
    if limit < 1:
        raise FinebenchError("--limit must be a positive number of items")
    chosen = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in chosen]


def item_file(task: TaskConfig, data_root: Path) -> Path:
    """The task's item file under the data root; its absence names the command that fixes it."""
    path = Path(data_root) / task.source
    if not path.is_file():
        raise FinebenchError(f"task {task.name}: item file {path} not found; {missing_items_hint(task, data_root)}")
    return path


def missing_items_hint(task: TaskConfig, data_root: Path) -> str:
    """The command that writes a task's item file: the synthetic benchmark is generated, the
    paper's items are fetched (or imported from a copy), anything else is a `data build` variant."""
    if task.dataset == "synth":
        return f"write the synthetic benchmark with `finebench data synth --data-root {data_root}`"
    if task.source.startswith("fine-r1/"):
        return (f"fetch the paper's items with `finebench data fetch fine-r1 --data-root {data_root}` "
                f"(or copy a release's eval/ folder with `finebench data import-fine-r1 SRC --data-root {data_root}`)")
    return f"build it with `finebench data build ... --out {Path(data_root) / Path(task.source).parent}`"


def metrics_left_out(tasks: Sequence[TaskConfig], requested: Sequence[str] | None) -> dict[str, list[str]]:
    """Metric -> tasks that report it but will not, because ``--metrics`` does not name it (e.g.
    ``accuracy,ss_relative`` silently dropping open-world inclusion): said, not silently done."""
    left: dict[str, list[str]] = {}
    if requested is not None:
        for task in tasks:
            for metric in task.metrics:
                if metric not in requested:
                    left.setdefault(metric, []).append(task.name)
    return left


class ItemFiles:
    """Item files read, validated and hashed once per run or re-scoring, however many tasks share
    one (every ``*_closed_*`` task reads the same file as its ``*_open_*`` twin)."""

    def __init__(self, data_root: Path) -> None:
        self.data_root = Path(data_root)
        self._read: dict[str, tuple[list[Item], str]] = {}

    def get(self, task: TaskConfig) -> tuple[list[Item], str]:
        """The task's items and the sha256 of their file; an empty file is an error (it would score
        0.00 with n=0 and exit 0)."""
        if task.source not in self._read:
            path = item_file(task, self.data_root)
            items = load_items(path)
            if not items:
                raise FinebenchError(f"task {task.name}: item file {path} has no items; re-import or rebuild it")
            self._read[task.source] = (items, file_sha256(path))
        return self._read[task.source]


def effective_metrics(task: TaskConfig, requested: Sequence[str] | None) -> tuple[str, ...]:
    if requested is None:
        return task.metrics
    return tuple(m for m in task.metrics if m in requested)


def plan_task(
    task: TaskConfig,
    items: Sequence[Item],
    *,
    protocol: str,
    seed: int,
    trials: int,
    model_fingerprint: str,
    task_hash: str,
    gen_overrides: dict[str, Any],
    option_order: str | None = None,
    strategy: str = "direct",
    demo_pool: Mapping[str, Sequence[str]] | None = None,
    label_set: tuple[str, ...] = (),
) -> list[PlannedSample]:
    """Every (item, trial) request of a task, in (doc_id, trial) order.

    Trial ``t`` uses seed ``seed + t``. Greedy decoding of an identical prompt cannot differ between
    trials, so such trials share one cache key (one generation); sampled trials never do.
    """
    order = option_order or task.protocols[protocol].option_order
    template = apply_strategy(task.prompt, strategy)
    base_kwargs = {**task.generation, **gen_overrides}
    sampling = bool(base_kwargs.get("do_sample", False))
    planned = []
    for item in items:
        for trial in range(trials):
            trial_seed = seed + trial
            options, shuffle_seed = trial_options(item, order, run_seed=seed, trial=trial, label_set=label_set)
            prompt = render_prompt(template, item, options)
            demos = _demonstrations(options, demo_pool, seed, item) if strategy == "icl" else ()
            p_hash = prompt_hash(prompt, item.image_path, demos, strategy)
            gen_kwargs = {**base_kwargs, "seed": trial_seed} if sampling else dict(base_kwargs)
            key = response_key(model_fingerprint, task_hash, item.doc_id, trial if sampling else None, gen_kwargs, p_hash)
            planned.append(PlannedSample(item, trial, options, shuffle_seed, prompt, p_hash, gen_kwargs, key, demos))
    return planned


def _demonstrations(
    options: tuple[str, ...], pool: Mapping[str, Sequence[str]] | None, seed: int, item: Item
) -> tuple[tuple[str, str], ...]:
    from finebench.tasks.icl import select_demonstrations

    if pool is None:
        raise FinebenchError("the icl strategy needs --icl-pool (a JSONL of seen-class training images)")
    chosen = select_demonstrations(options, set(pool), pool, seed, item.doc_id, exclude=item.image_path)
    return tuple((path, label) for path, label in chosen)


def check_adapter_supports(adapter: type[Adapter], card: ModelCard, tasks: Sequence[TaskConfig], strategy: str) -> None:
    """Refuse a strategy or open-world tasks the adapter cannot carry out (a class check, so a
    session can run it before loading any weights)."""
    if strategy not in adapter.strategies:
        raise FinebenchError(
            f"model {card.name!r} ({card.adapter}) cannot run strategy {strategy!r}; it runs {', '.join(adapter.strategies)}"
        )
    if adapter.supports_open_world:
        return
    open_tasks = [t.name for t in tasks if t.world == "open"]
    if open_tasks:
        raise FinebenchError(
            f"model {card.name!r} ({card.adapter}) scores fixed options and cannot answer "
            f"open-world tasks: {', '.join(open_tasks)}; use --tasks fgvr_closed"
        )


def order_pending(pending: list[PlannedSample], order: str, seed: int) -> list[PlannedSample]:
    if order == "length":
        return sorted(pending, key=lambda s: (-len(s.prompt), s.item.doc_id, s.trial))
    if order == "doc":
        return sorted(pending, key=lambda s: (s.item.doc_id, s.trial))
    shuffled = list(pending)
    random.Random(seed).shuffle(shuffled)
    return shuffled
