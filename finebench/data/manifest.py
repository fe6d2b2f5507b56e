"""A dataset as (image, class, official split) records, and the recipe that turns it into a
seen/unseen benchmark in the Fine-R1 release format.

The six official layouts differ in every detail (id-keyed text tables, MATLAB structs, numeric
labels), but a benchmark needs only the image path, the class name and the official split. The
readers in ``finebench.data.official`` reduce each layout to a Manifest; everything here is pure
and dataset-agnostic, so the class split, few-shot sampling and item building are tested once.

Release conventions reproduced here (measured on the released eval files):
- items are the official TEST images of a class (e.g. 5,794 CUB items = the CUB test split);
- ``options[0]`` is the ground truth, followed by 3 distinct distractors;
- distractors come from ALL classes of the dataset, not only the item's own seen/unseen side
  (about 40% of bird_seen distractors are unseen classes, the unseen share of the classes);
- 10 question paraphrases per dataset, drawn at random per item (RELEASE_QUESTION_TEMPLATES);
- items are grouped by class, in image-list order within a class;
- ``seen = floor(n * 0.6)`` classes: aircraft 60/40, bird 120/80, car 117/79, dog 72/48,
  flower 61/41, pet 22/15.
The release picked its distractors as look-alikes (Black Footed Albatross -> Sooty Albatross,
Laysan Albatross, Heermann Gull); ``build_benchmark`` mines them the same way by default
(``finebench.data.distractors``: the most similar other classes by CLIP image embeddings, names
as the fallback) and draws them uniformly, seeded, with ``distractors="random"``.
"""

from __future__ import annotations

import math
import random
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from finebench.tasks.items import RELEASE_OPTION_COUNT, Item

SPLITS = ("train", "test")

RELEASE_QUESTION_TEMPLATES = (
    "Can you help me recognize the {noun} in this photo?",
    "Can you identify the {noun} in this image?",
    "Could you tell me the {attribute} of this {noun}?",
    "Do you know what {noun} this is?",
    "What is the name of the {noun} in the photo?",
    "What is the {noun} featured in this picture?",
    "What is the {noun} shown in the photo?",
    "What kind of {noun} is this?",
    "What {attribute} is the {noun} in this picture?",
    "What type of {noun} is shown in the image?",
)
# Man-made objects have models, living things species (the release's only wording difference).
_MODEL_NOUNS = frozenset({"aircraft", "car"})


@dataclass(frozen=True, slots=True)
class ManifestRecord:
    image_path: str  # relative to the finebench data root, release convention (bird_200/images/...)
    class_name: str  # spelled like the release options
    split: str  # official split: "train" | "test"


@dataclass(frozen=True)
class Manifest:
    dataset: str  # cub | cars | dogs | flowers | pets | aircraft
    records: tuple[ManifestRecord, ...]
    classes: tuple[str, ...]  # official class order

    def __post_init__(self) -> None:
        """Catch reader bugs here, once, instead of as odd items three steps later."""
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"{self.dataset}: duplicate class names in the manifest")
        known = set(self.classes)
        for record in self.records:
            if record.class_name not in known:
                raise ValueError(f"{self.dataset}: {record.image_path} has unknown class {record.class_name!r}")
            if record.split not in SPLITS:
                raise ValueError(f"{self.dataset}: {record.image_path} has split {record.split!r}, not train/test")


class FewShotShortfallWarning(UserWarning):
    """Some classes have fewer train images than the requested number of shots."""


def release_questions(noun: str) -> list[str]:
    """The release's 10 question paraphrases for one dataset noun (bird, car, ...)."""
    attribute = "model" if noun in _MODEL_NOUNS else "species"
    return [t.format(noun=noun, attribute=attribute) for t in RELEASE_QUESTION_TEMPLATES]


def _seen_count(n_classes: int, seen_fraction: float) -> int:
    # floor, as in the release (196 car classes -> 117 seen); the epsilon keeps 0.29 * 100 at 29.
    return min(max(math.floor(n_classes * seen_fraction + 1e-9), 1), n_classes - 1)


def split_classes(
    classes: Sequence[str], seen_fraction: float = 0.6, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Seeded seen/unseen class split; both sides keep the official class order.

    Both sides are non-empty (a benchmark needs both), so 2 classes always split 1/1.
    """
    if isinstance(seen_fraction, bool) or not isinstance(seen_fraction, (int, float)):
        raise ValueError(f"seen_fraction must be a number in (0, 1), got {seen_fraction!r}")
    if not 0 < seen_fraction < 1:  # also rejects NaN
        raise ValueError(f"seen_fraction must be in (0, 1), got {seen_fraction}")
    classes = list(classes)
    if len(set(classes)) != len(classes):
        raise ValueError("classes contain duplicates")
    if len(classes) < 2:
        raise ValueError(f"need at least 2 classes to split into seen and unseen, got {len(classes)}")
    order = list(range(len(classes)))
    random.Random(seed).shuffle(order)
    seen_idx = set(order[: _seen_count(len(classes), seen_fraction)])
    seen = [c for i, c in enumerate(classes) if i in seen_idx]
    unseen = [c for i, c in enumerate(classes) if i not in seen_idx]
    return seen, unseen


def _records_by_class(manifest: Manifest, split: str, classes: Sequence[str]) -> dict[str, list[ManifestRecord]]:
    known = set(manifest.classes)
    unknown = [c for c in classes if c not in known]
    if unknown:
        raise ValueError(f"{manifest.dataset}: unknown class(es) {', '.join(map(repr, unknown))}")
    grouped: dict[str, list[ManifestRecord]] = {c: [] for c in classes}
    for record in manifest.records:
        if record.split == split and record.class_name in grouped:
            grouped[record.class_name].append(record)
    return grouped


def _shortfall(grouped: dict[str, list[ManifestRecord]], k: int) -> dict[str, int]:
    return {c: len(rs) for c, rs in grouped.items() if len(rs) < k}


def few_shot_shortfall(manifest: Manifest, classes: Sequence[str], k: int) -> dict[str, int]:
    """Classes with fewer than ``k`` train images, mapped to how many they have."""
    return _shortfall(_records_by_class(manifest, "train", classes), k)


def sample_few_shot(manifest: Manifest, classes: Sequence[str], k: int = 4, seed: int = 0) -> list[ManifestRecord]:
    """``k`` official-TRAIN images per class, so no benchmark (test) image can leak into training.

    Each class draws from its own generator (seeded by seed and class name), so a class's shots
    do not change when the class split around it does. A class with fewer than ``k`` train images
    contributes all it has and is named, with its count, in one FewShotShortfallWarning.
    Output: classes in the given order, images in manifest order within a class.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k must be a non-negative integer, got {k!r}")
    grouped = _records_by_class(manifest, "train", classes)
    short = _shortfall(grouped, k)
    if short:
        listed = ", ".join(f"{c!r} ({n})" for c, n in short.items())
        warnings.warn(
            f"{manifest.dataset}: {len(short)} class(es) have fewer than {k} train images; "
            f"all of theirs are used: {listed}",
            FewShotShortfallWarning,
            stacklevel=2,
        )
    shots: list[ManifestRecord] = []
    for cls, pool in grouped.items():
        if len(pool) <= k:
            shots.extend(pool)
            continue
        picked = set(random.Random(f"{seed}:{cls}").sample(range(len(pool)), k))
        shots.extend(r for i, r in enumerate(pool) if i in picked)
    return shots


def build_items(
    manifest: Manifest,
    classes: Sequence[str],
    question_templates: Sequence[str],
    n_options: int = RELEASE_OPTION_COUNT,
    seed: int = 0,
    distractor_pool: Sequence[str] | None = None,
    neighbours: Mapping[str, Sequence[str]] | None = None,
) -> list[Item]:
    """One item per official TEST image of ``classes``: ground truth first, then distractors.

    ``distractor_pool`` defaults to all classes of the dataset (the release convention, see the
    module docstring). ``neighbours`` (image path -> other classes, most similar first) makes the
    distractors the first ``n_options - 1`` of them in the pool (hard distractors); without it they
    are drawn uniformly. ``question_templates`` are the finished question strings to draw from.
    Each item draws from its own generator (seeded by seed and image path), so an item does not
    change when other classes are added or removed.
    """
    if isinstance(n_options, bool) or not isinstance(n_options, int) or n_options < 2:
        raise ValueError(f"n_options must be an integer >= 2, got {n_options!r}")
    questions = list(question_templates)
    if not questions or not all(isinstance(q, str) and q.strip() for q in questions):
        raise ValueError("question_templates must be a non-empty list of non-empty strings")
    pool = list(manifest.classes if distractor_pool is None else distractor_pool)
    if len(set(pool)) != len(pool):
        raise ValueError("distractor_pool contains duplicates")
    items: list[Item] = []
    for cls, records in _records_by_class(manifest, "test", classes).items():
        candidates = [c for c in pool if c != cls]
        if len(candidates) < n_options - 1:
            raise ValueError(
                f"{manifest.dataset}: {n_options - 1} distractors needed for {cls!r}, "
                f"the pool has only {len(candidates)} other class(es)"
            )
        for record in records:
            rng = random.Random(f"{seed}:{record.image_path}")
            if neighbours is None:
                distractors = rng.sample(candidates, n_options - 1)
            else:
                distractors = _nearest(neighbours, record.image_path, set(candidates), n_options - 1)
            options = (cls, *distractors)
            items.append(Item(len(items), record.image_path, rng.choice(questions), options, cls))
    return items


def _nearest(neighbours: Mapping[str, Sequence[str]], image_path: str, pool: set[str], k: int) -> list[str]:
    if image_path not in neighbours:
        raise ValueError(f"no ranked neighbours for {image_path}")
    nearest = [c for c in neighbours[image_path] if c in pool][:k]
    if len(nearest) < k:
        raise ValueError(f"{image_path}: {k} distractors needed, its ranked neighbours give {len(nearest)} in the pool")
    return nearest
