"""The few-shot training set: k official-train images per seen class, guarded against leaks.

Fine-R1 trains on 4 shots per *seen* class and reports, on the benchmark, how well it recognises
seen and *unseen* classes. Both numbers are meaningless if a benchmark image or an unseen class
reaches training, and such a leak is invisible in the training logs. So a TrainingSet checks its
own records when it is built: every record is an official-train image of a seen class, no image
is a test image of the manifest or an item of the benchmark, and seen and unseen are disjoint.
Every builder downstream (triplets, CoT data) takes a TrainingSet, so none can bypass the check.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from finebench.data.manifest import Manifest, ManifestRecord, sample_few_shot
from finebench.tasks.items import load_items
from finebench.util.errors import FinebenchError


class LeakError(FinebenchError):
    """A training set would contain a test/benchmark image or an unseen class."""


@dataclass(frozen=True)
class TrainingSet:
    dataset: str
    seen: tuple[str, ...]
    unseen: tuple[str, ...]
    records: tuple[ManifestRecord, ...]
    k: int
    seed: int
    forbidden_images: frozenset[str] = field(default=frozenset(), repr=False)
    """Image paths that must never be trained on: the manifest's test split and benchmark items."""

    def __post_init__(self) -> None:
        check_no_leak(self.records, self.seen, self.unseen, self.forbidden_images)

    def by_class(self) -> dict[str, list[ManifestRecord]]:
        """Records grouped by seen class, in class order then record order."""
        grouped: dict[str, list[ManifestRecord]] = {c: [] for c in self.seen}
        for record in self.records:
            grouped[record.class_name].append(record)
        return grouped


def check_no_leak(
    records: Iterable[ManifestRecord], seen: Sequence[str], unseen: Sequence[str], forbidden_images: Iterable[str]
) -> None:
    """Raise LeakError naming every record that is not an official-train image of a seen class,
    or that is a forbidden (test or benchmark) image."""
    seen_set, unseen_set, forbidden = set(seen), set(unseen), set(forbidden_images)
    overlap = sorted(seen_set & unseen_set)
    if overlap:
        raise LeakError(f"class(es) both seen and unseen: {', '.join(map(repr, overlap))}")
    bad = []
    for record in records:
        if record.class_name in unseen_set:
            bad.append(f"{record.image_path}: unseen class {record.class_name!r}")
        elif record.class_name not in seen_set:
            bad.append(f"{record.image_path}: class {record.class_name!r} is not a seen class")
        if record.split != "train":
            bad.append(f"{record.image_path}: official {record.split!r} image, not train")
        if record.image_path in forbidden:
            bad.append(f"{record.image_path}: a test/benchmark image")
    if bad:
        raise LeakError(f"{len(bad)} training record(s) would leak evaluation data:\n  " + "\n  ".join(bad))


def benchmark_images(item_files: Iterable[Path]) -> set[str]:
    """Image paths of the items in release-format benchmark files (``{prefix}_{seen,unseen}.jsonl``)."""
    return {item.image_path for path in item_files for item in load_items(Path(path))}


def split_from_items(seen_file: Path, unseen_file: Path) -> tuple[list[str], list[str]]:
    """The seen/unseen class split of a release-format benchmark, which exists only in its item
    files: the ground truths of each file, in order of first appearance."""
    def classes(path: Path) -> list[str]:
        return list(dict.fromkeys(item.ground_truth for item in load_items(Path(path))))

    return classes(seen_file), classes(unseen_file)


def build_training_set(
    manifest: Manifest,
    seen: Sequence[str],
    unseen: Sequence[str],
    *,
    k: int = 4,
    seed: int = 0,
    benchmark_image_paths: Iterable[str] = (),
) -> TrainingSet:
    """``k`` official-train images per seen class (``sample_few_shot``), checked against leaks.

    The manifest's test images and ``benchmark_image_paths`` are forbidden; pass the items' image
    paths (``benchmark_images``) when the benchmark does not come from the same manifest.
    """
    forbidden = frozenset({r.image_path for r in manifest.records if r.split == "test"} | set(benchmark_image_paths))
    records = sample_few_shot(manifest, seen, k=k, seed=seed)
    return TrainingSet(manifest.dataset, tuple(seen), tuple(unseen), tuple(records), k, seed, forbidden)
