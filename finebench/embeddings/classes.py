"""Class embedding vectors and class similarity: one vector per class (the mean of its images'
embeddings, or its name's text embedding) and each class's most similar other class. Shared by
distractor mining (data) and hard-negative mining (training)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from finebench.embeddings.images import EmbeddingCache, ImageEmbedder, embed_files
from finebench.embeddings.text import TextEncoder, l2_normalise
from finebench.util.errors import FinebenchError


def class_vectors_from_images(
    grouped: dict[str, list[Path]], embedder: ImageEmbedder, cache: EmbeddingCache | None
) -> np.ndarray:
    """One L2-normalised mean image embedding per class, in ``grouped`` order."""
    paths = [p for ps in grouped.values() for p in ps]
    rows = embed_files(embedder, paths, cache)
    means, start = [], 0
    for ps in grouped.values():
        means.append(rows[start : start + len(ps)].mean(axis=0))
        start += len(ps)
    return l2_normalise(np.stack(means))


def class_vectors_from_names(classes: Sequence[str], encoder: TextEncoder) -> np.ndarray:
    return l2_normalise(np.asarray(encoder.encode(list(classes))))


def most_similar_other(classes: Sequence[str], vectors: np.ndarray) -> dict[str, str]:
    """Each class -> the other class with the highest cosine similarity (ties: class order)."""
    if len(classes) < 2:
        raise FinebenchError(f"hard negatives need at least 2 classes with images, got {len(classes)}")
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    return {c: classes[int(np.argmax(similarity[i]))] for i, c in enumerate(classes)}
