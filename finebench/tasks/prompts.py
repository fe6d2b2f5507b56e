"""Turning an item into what the model is shown: option order and prompt text."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

from finebench.tasks.items import Item


def option_seed(run_seed: int, trial: int, doc_id: int) -> int:
    """A per-item shuffle seed that does not depend on which other items are in the run, so a
    ``--limit`` subset or a resumed run shows every item exactly the same options."""
    digest = hashlib.sha256(f"{run_seed}:{trial}:{doc_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def shown_options(
    item: Item, option_order: str, *, seed: int, trial: int, label_set: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """The options in the order the model sees them.

    ``release``: as in the item file (the ground truth is first in every released item);
    ``shuffled``: a seeded permutation per item; ``circular``: rotated so that the ground truth
    sits at position ``trial`` (CircularEval: one trial per position, other options in cyclic order);
    ``label-set``: every class of the task (``task_label_set``), i.e. zero-shot classification
    over the whole label set instead of four candidates.
    """
    if option_order == "label-set":
        if item.ground_truth not in label_set:
            raise ValueError(f"item {item.doc_id}: ground truth {item.ground_truth!r} is not in the label set")
        return label_set
    if option_order == "release":
        return item.options
    if option_order == "circular":
        n = len(item.options)
        shift = (trial - item.options.index(item.ground_truth)) % n
        return tuple(item.options[(i - shift) % n] for i in range(n))
    options = list(item.options)
    random.Random(seed).shuffle(options)
    return tuple(options)


def trial_options(
    item: Item, option_order: str, *, run_seed: int, trial: int, label_set: tuple[str, ...] = ()
) -> tuple[tuple[str, ...], int | None]:
    """The options of one (item, trial) and the shuffle seed behind them (None unless shuffled):
    the one place ``finebench run`` and exported tasks decide what an item shows."""
    shuffle_seed = option_seed(run_seed, trial, item.doc_id) if option_order == "shuffled" else None
    return shown_options(item, option_order, seed=shuffle_seed or 0, trial=trial, label_set=label_set), shuffle_seed


def task_label_set(items: Sequence[Item]) -> tuple[str, ...]:
    """Every class a task's items name (ground truths and options), sorted: the candidates of the
    ``label-set`` option order. Built from all items of the file, so ``--limit`` does not shrink it."""
    return tuple(sorted({name for item in items for name in (item.ground_truth, *item.options)}))


def render_prompt(template: str, item: Item, options: tuple[str, ...]) -> str:
    # The paper's script interpolated the Python list repr of the options; keep it byte-identical.
    return template.format(question=item.question, options=str(list(options)))


ZERO_SHOT_COT_SUFFIX = "Let's think step by step."
STRATEGIES = ("direct", "zero-shot-cot", "icl", "prompt-ensemble")
"""Inference strategies (paper §5.3): ``direct`` is the task's own prompt; ``zero-shot-cot``
appends "Let's think step by step." to closed-world prompts; ``icl`` shows one labelled training
image per seen-class candidate before the query (closed world); ``prompt-ensemble`` (contrastive
models only) embeds each class with the 80 ImageNet templates instead of one. Open-world tasks
have no options to reason over or demonstrate, so they always run ``direct``."""


def applied_strategy(strategy: str, world: str) -> str:
    return strategy if world == "closed" else "direct"


def apply_strategy(prompt: str, strategy: str) -> str:
    return f"{prompt} {ZERO_SHOT_COT_SUFFIX}" if strategy == "zero-shot-cot" else prompt


def prompt_hash(
    prompt: str, image_path: str, demonstrations: tuple[tuple[str, str], ...] = (), strategy: str = "direct"
) -> str:
    """Identity of what the model sees: the prompt text and every image path with its label, plus
    the strategy where it acts outside the prompt (prompt ensembling leaves the prompt unchanged)."""
    shown = "\0".join(f"{path}\1{label}" for path, label in demonstrations)
    extra = f"\0strategy={strategy}" if strategy == "prompt-ensemble" else ""
    return hashlib.sha256(f"{image_path}\0{prompt}\0{shown}{extra}".encode()).hexdigest()[:16]
