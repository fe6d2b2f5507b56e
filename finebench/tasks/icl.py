"""In-context learning demonstrations: one labelled training image per seen-class candidate.

As in the paper, a candidate option from an unseen class gets no demonstration (there are no
training images of unseen classes). Choices are seeded per (seed, doc_id), so a ``--limit`` subset
or a resumed run shows every item the same demonstrations.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from pathlib import Path

from finebench.util.errors import FinebenchError
from finebench.util.jsonl import iter_jsonl


def load_demo_pool(path: Path) -> dict[str, list[str]]:
    """Class name -> training image paths, from a JSONL of ``{"image_path", "class_name"}`` rows
    (the ``*_fewshot_train.jsonl`` that ``finebench data build`` writes)."""
    pool: dict[str, list[str]] = {}
    for where, row in iter_jsonl(path, what="the ICL pool"):
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str) and row[k] for k in ("image_path", "class_name")):
            raise FinebenchError(f"{where}: a pool row needs string keys 'image_path' and 'class_name'")
        pool.setdefault(row["class_name"], []).append(row["image_path"])
    if not pool:
        raise FinebenchError(f"{path}: the ICL pool is empty")
    return pool


def select_demonstrations(
    options: Sequence[str],
    seen_classes: set[str],
    pool: Mapping[str, Sequence[str]],
    seed: int,
    doc_id: int,
    *,
    exclude: str,
) -> list[tuple[str, str]]:
    """(image path, class name) per option that is a seen class with pool images, in option order;
    never the query image itself."""
    digest = hashlib.sha256(f"icl:{seed}:{doc_id}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    chosen = []
    for option in options:
        candidates = sorted(p for p in pool.get(option, ()) if p != exclude) if option in seen_classes else []
        if candidates:
            chosen.append((rng.choice(candidates), option))
    return chosen
