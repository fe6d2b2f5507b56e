"""Look-alike distractors for user-built benchmark variants (``finebench data build``).

The release's options are look-alikes (Black Footed Albatross -> Laysan Albatross, Sooty
Albatross, Pomarine Jaeger) and vary from image to image of a class, so uniformly drawn
distractors make a variant far easier than the paper's benchmark. Here each test image is
compared, by cosine, with the class-mean image embedding of every class (official TRAIN images
only, the triplet miner's embedding code and cache), and the most similar other classes are its
distractors: per item, as in the release. Without the images (the annotation-only downloads are
enough for the readers) the class names' text embeddings rank the classes instead, per class.

Manifest paths are ``<dataset folder>/<path inside the official folder>`` for all six readers
(``bird_200/images/...`` is ``CUB_200_2011/images/...``), which is how images are found under
the ``--src`` folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from finebench.data.manifest import Manifest
from finebench.util.errors import FinebenchError

DEFAULT_ENCODER = "openai/clip-vit-base-patch32"
MODES = ("hard", "random")


@dataclass(frozen=True)
class Neighbours:
    """Other classes ranked by similarity (most similar first) for every TEST image path."""

    similarity: str
    """``image:<model id>`` (per item) or ``text:<encoder>`` (class names, per class)."""
    ranked: dict[str, tuple[str, ...]]
    reason: str = ""
    """Why text similarity was used, when it was."""
    unranked: tuple[str, ...] = ()
    """Classes without a train image to embed: never offered as image-mined distractors."""


def source_file(source_dir: Path, image_path: str) -> Path:
    """Where a manifest image lives inside the extracted official folder."""
    _, sep, inside = image_path.partition("/")
    if not sep or not inside:
        raise FinebenchError(f"manifest image path {image_path!r} has no dataset folder prefix")
    return Path(source_dir) / inside


def rank_by_similarity(query: np.ndarray, classes: Sequence[str], vectors: np.ndarray, own: str) -> tuple[str, ...]:
    """``classes`` other than ``own`` by cosine to ``query``, highest first (ties: class order)."""
    scores = vectors @ query
    order = np.argsort(-scores, kind="stable")
    return tuple(classes[i] for i in order if classes[i] != own)


def train_images_by_class(manifest: Manifest, source_dir: Path) -> dict[str, list[Path]]:
    """Classes with at least one official train image, in class order."""
    grouped: dict[str, list[Path]] = {c: [] for c in manifest.classes}
    for record in manifest.records:
        if record.split == "train":
            grouped[record.class_name].append(source_file(source_dir, record.image_path))
    return {c: paths for c, paths in grouped.items() if paths}


def image_neighbours(
    manifest: Manifest, source_dir: Path, embedder, cache
) -> dict[str, tuple[str, ...]]:
    """Per test image: the other classes by cosine to their class-mean train-image embedding
    (classes without a train image are not ranked)."""
    from finebench.embeddings.classes import class_vectors_from_images
    from finebench.embeddings.images import embed_files

    grouped = train_images_by_class(manifest, source_dir)
    if len(grouped) < 2:
        raise FinebenchError(f"{manifest.dataset}: hard distractors need train images of at least 2 classes")
    classes = list(grouped)
    means = class_vectors_from_images(grouped, embedder, cache)
    tests = [r for r in manifest.records if r.split == "test"]
    rows = embed_files(embedder, [source_file(source_dir, r.image_path) for r in tests], cache)
    return {r.image_path: rank_by_similarity(row, classes, means, r.class_name) for r, row in zip(tests, rows, strict=True)}


def name_neighbours(manifest: Manifest, encoder) -> dict[str, tuple[str, ...]]:
    """Per test image: the other classes by cosine of their names' text embeddings to its class's."""
    from finebench.embeddings.classes import class_vectors_from_names

    classes = list(manifest.classes)
    vectors = class_vectors_from_names(classes, encoder)
    by_class = {c: rank_by_similarity(vectors[i], classes, vectors, c) for i, c in enumerate(classes)}
    return {r.image_path: by_class[r.class_name] for r in manifest.records if r.split == "test"}


def missing_images(manifest: Manifest, source_dir: Path) -> list[str]:
    return [r.image_path for r in manifest.records if not source_file(source_dir, r.image_path).is_file()]


def mine_neighbours(
    manifest: Manifest, source_dir: Path, *, cache_path: Path, encoder: str = DEFAULT_ENCODER, device: str = "cpu"
) -> Neighbours:
    """Image similarity when every image of the manifest is under ``source_dir``, else the names'
    text embeddings from the same (CLIP-like) ``encoder``. Embeddings are cached in ``cache_path``."""
    from finebench.embeddings.images import EmbeddingCache, HFImageEmbedder
    from finebench.embeddings.text import load_text_encoder

    missing = missing_images(manifest, source_dir)
    try:
        if not missing:
            embedder = HFImageEmbedder(encoder, device)
            with EmbeddingCache(cache_path) as cache:
                ranked = image_neighbours(manifest, source_dir, embedder, cache)
            ranked_classes = set(train_images_by_class(manifest, source_dir))
            unranked = tuple(c for c in manifest.classes if c not in ranked_classes)
            return Neighbours(f"image:{embedder.model_id}", ranked, unranked=unranked)
        text_encoder = load_text_encoder(encoder, device)
    except FinebenchError as exc:
        raise FinebenchError(
            f"hard distractors need the encoder {encoder!r}: {exc}. Pass --encoder with a local CLIP-like "
            "model (folder or cached hub id), or --distractors random"
        ) from exc
    reason = f"{len(missing)} of {len(manifest.records)} images are not under {source_dir} (e.g. {missing[0]})"
    return Neighbours(f"text:{encoder}", name_neighbours(manifest, text_encoder), reason)
