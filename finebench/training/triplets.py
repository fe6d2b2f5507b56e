"""Stage-2 (TAPO) triplets: each training image as an anchor, with a positive and a hard negative.

The positive is another training image of the anchor's class (intra-class augmentation); the
negative is a training image of the most similar OTHER seen class (inter-class augmentation), so
the policy learns to answer differently for look-alikes rather than for unrelated classes.
Similarity is the cosine between class-mean image embeddings of a CLIP-like model; without one
(e.g. offline, with no CLIP weights at hand) it falls back to text embeddings of the class names.
Both come only from the TrainingSet, so no unseen class and no test image can enter.

The released TAPO code runs the anchor, positive and negative through one image processor call
and requires them to have the same size, so the positive and negative are written as resized
copies (named by source path and size, so reruns reuse them) beside the output file.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from finebench.data.formats import (
    IMAGE_MARKER,
    SampleProblem,
    Stage2Sample,
    enforce_policy,
    write_stage2,
)
from finebench.data.manifest import ManifestRecord
from finebench.embeddings.classes import class_vectors_from_images, class_vectors_from_names, most_similar_other
from finebench.embeddings.images import EmbeddingCache, ImageEmbedder
from finebench.embeddings.text import TextEncoder
from finebench.training.fewshot import TrainingSet
from finebench.util.errors import FinebenchError
from finebench.util.fsutil import atomic_write_json
from finebench.util.imaging import load_rgb

STAGE2_FILE = "stage2.json"
REPORT_FILE = "triplets_report.json"
IMAGES_DIR = "triplet_images"


@dataclass
class TripletReport:
    similarity: str
    """``image:<model id>`` or ``text`` (the class-name fallback)."""
    negative_class: dict[str, str]
    """Each seen class -> the most similar other seen class, its negatives' source."""
    n_anchors: int
    n_written: int
    problems: list[SampleProblem] = field(default_factory=list)
    """Indices refer to ``TrainingSet.records``."""


def resized_copy(source: Path, size: tuple[int, int], out_dir: Path) -> Path:
    """``source`` resized to ``size`` (width, height) as a JPEG in ``out_dir``; reused if present."""
    from PIL import Image

    name = hashlib.sha256(f"{source.resolve()}:{size[0]}x{size[1]}".encode()).hexdigest()[:24]
    target = out_dir / f"{name}.jpg"
    if not target.is_file():
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = out_dir / f".{name}.tmp.jpg"
        load_rgb(source).resize(size, Image.Resampling.BICUBIC).save(staging, quality=95)
        staging.replace(target)
    return target


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        return image.size


def find_problems(training_set: TrainingSet, data_root: Path) -> list[SampleProblem]:
    """Anchors that cannot form a triplet: a missing image, or no other image of the class."""
    records = training_set.records
    present = {i for i, r in enumerate(records) if (data_root / r.image_path).is_file()}
    per_class: dict[str, int] = {}
    for i in present:
        per_class[records[i].class_name] = per_class.get(records[i].class_name, 0) + 1
    problems = []
    for i, record in enumerate(records):
        if i not in present:
            problems.append(SampleProblem(i, f"image not found: {data_root / record.image_path}"))
        elif per_class[record.class_name] < 2:
            problems.append(SampleProblem(i, f"no other image of class {record.class_name!r} to be its positive"))
    return problems


def build_triplets(
    training_set: TrainingSet,
    data_root: Path,
    out_dir: Path,
    *,
    questions: Sequence[str],
    image_embedder: ImageEmbedder | None = None,
    text_encoder: TextEncoder | None = None,
    cache_path: Path | None = None,
    seed: int = 0,
    on_bad_sample: str = "error",
) -> tuple[list[Stage2Sample], TripletReport]:
    """Write ``out_dir/stage2.json`` (release format) and ``out_dir/triplets_report.json``.

    Similarity from ``image_embedder`` (embeddings cached in ``cache_path``, default
    ``out_dir/embeddings.sqlite``) or, failing that, ``text_encoder`` on the class names.
    ``questions`` are the finished question strings, drawn per anchor. Anchors with a problem are
    refused or skipped per ``on_bad_sample``. Draws are seeded per anchor path, so adding a class
    does not change the other triplets.
    """
    if not questions:
        raise FinebenchError("triplets need at least one question")
    data_root, out_dir = Path(data_root), Path(out_dir)
    problems = find_problems(training_set, data_root)
    anchors: list[ManifestRecord] = enforce_policy(
        training_set.records, problems, on_bad_sample, f"{training_set.dataset} triplets"
    )
    grouped: dict[str, list[Path]] = {}
    for record in anchors:
        grouped.setdefault(record.class_name, []).append(data_root / record.image_path)
    classes = list(grouped)
    if image_embedder is not None:
        with EmbeddingCache(cache_path or out_dir / "embeddings.sqlite") as cache:
            vectors = class_vectors_from_images(grouped, image_embedder, cache)
        similarity = f"image:{image_embedder.model_id}"
    elif text_encoder is not None:
        vectors, similarity = class_vectors_from_names(classes, text_encoder), "text"
    else:
        raise FinebenchError("hard negatives need an image embedder or, as a fallback, a text encoder")
    negative_class = most_similar_other(classes, vectors)

    samples = []
    for record in anchors:
        anchor = data_root / record.image_path
        rng = random.Random(f"{seed}:{record.image_path}")
        positive = rng.choice([p for p in grouped[record.class_name] if p != anchor])
        negative = rng.choice(grouped[negative_class[record.class_name]])
        size = _image_size(anchor)
        samples.append(
            Stage2Sample(
                problem=IMAGE_MARKER + rng.choice(list(questions)),
                answer=record.class_name,
                image=str(anchor.resolve()),
                image_positive=str(resized_copy(positive, size, out_dir / IMAGES_DIR).resolve()),
                image_negative=str(resized_copy(negative, size, out_dir / IMAGES_DIR).resolve()),
            )
        )
    write_stage2(out_dir / STAGE2_FILE, samples)
    report = TripletReport(similarity, negative_class, len(training_set.records), len(samples), problems)
    atomic_write_json(
        out_dir / REPORT_FILE,
        {
            "dataset": training_set.dataset,
            "similarity": report.similarity,
            "n_anchors": report.n_anchors,
            "n_written": report.n_written,
            "negative_class": report.negative_class,
            "problems": [{"index": p.index, "reason": p.reason} for p in problems],
        },
    )
    return samples, report
