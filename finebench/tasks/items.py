"""Benchmark items in the Fine-R1 release format, read and validated row by row.

One JSON object per line: ``image_path`` (relative to the data root), ``question``, ``options``
(class names) and ``ground_truth`` (one of the options). ``doc_id`` is the 0-based row index, the
identity used by the response cache, the samples logs and ``finebench score``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from finebench.util.errors import ItemFileError
from finebench.util.jsonl import iter_jsonl

REQUIRED_KEYS = ("image_path", "question", "options", "ground_truth")
RELEASE_OPTION_COUNT = 4


@dataclass(frozen=True, slots=True)
class Item:
    doc_id: int
    image_path: str
    question: str
    options: tuple[str, ...]
    ground_truth: str


def parse_item(row: object, doc_id: int, *, n_options: int | None = RELEASE_OPTION_COUNT) -> Item:
    """Validate one decoded row; raises ValueError with a message that names the bad key."""
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    try:
        image_path, question, options, ground_truth = row["image_path"], row["question"], row["options"], row["ground_truth"]
    except KeyError:
        raise ValueError(f"missing key(s) {', '.join(k for k in REQUIRED_KEYS if k not in row)}") from None
    for key, value in (("image_path", image_path), ("question", question), ("ground_truth", ground_truth)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"key {key!r} must be a non-empty string")
    if not isinstance(options, list):
        raise ValueError("key 'options' must be a list of non-empty strings")
    for option in options:
        if not isinstance(option, str) or not option.strip():
            raise ValueError("key 'options' must be a list of non-empty strings")
    if n_options is not None and len(options) != n_options:
        raise ValueError(f"key 'options' has {len(options)} entries, expected {n_options}")
    if len(set(options)) != len(options):
        raise ValueError("key 'options' has duplicate entries")
    if ground_truth not in options:
        raise ValueError(f"ground_truth {ground_truth!r} is not among the options")
    return Item(doc_id, image_path, question, tuple(options), ground_truth)


def iter_items(path: Path, *, n_options: int | None = RELEASE_OPTION_COUNT) -> Iterator[Item]:
    """Yield validated items; the first bad row raises ItemFileError naming file and line."""
    for doc_id, (where, row) in enumerate(iter_jsonl(path, ItemFileError, "item file")):
        try:
            yield parse_item(row, doc_id, n_options=n_options)
        except ValueError as exc:
            raise ItemFileError(f"{where}: {exc}") from exc


def load_items(path: Path, *, n_options: int | None = RELEASE_OPTION_COUNT) -> list[Item]:
    return list(iter_items(path, n_options=n_options))


def item_to_row(item: Item) -> dict:
    """The release-format row of an item (doc_id is positional, so it is not written)."""
    return {
        "image_path": item.image_path,
        "question": item.question,
        "options": list(item.options),
        "ground_truth": item.ground_truth,
    }
