"""Image embeddings for mining hard negatives, from any CLIP-like model, cached on disk.

Triplet mining needs one embedding per training image, and a mining run is repeated whenever a
seed, a shot count or a dataset changes; embedding thousands of images each time would dominate
it. So embeddings are kept in SQLite, keyed by the embedder's model id and the image file's
resolved path, mtime and size: a replaced image is embedded again, an unchanged one never.

Two implementations of the ImageEmbedder protocol: any transformers model with
``get_image_features`` (CLIP, SigLIP, ...) and open_clip (an optional extra). Both are imported
lazily, so the module costs nothing until an embedder is built.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from finebench.embeddings.text import l2_normalise
from finebench.util.errors import FinebenchError
from finebench.util.imaging import load_rgb

if TYPE_CHECKING:
    from PIL.Image import Image

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL,
    path TEXT NOT NULL,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model, path, mtime_ns, size)
)
"""

FileKey = tuple[str, int, int]
"""(resolved path, mtime in ns, size in bytes): changes whenever the file does."""


class ImageEmbedder(Protocol):
    model_id: str
    """Names the weights and preprocessing; part of the cache key."""

    def embed(self, images: Sequence[Image]) -> np.ndarray:
        """One L2-normalised float32 row per image."""


class HFImageEmbedder:
    """A transformers model with ``get_image_features`` (CLIPModel, SiglipModel, ...) and its
    image processor, from a local folder or a hub id already in the cache."""

    def __init__(self, model: str, device: str = "cpu") -> None:
        from finebench.util.hub import locate

        located = locate(model, "image embedder (--encoder)")  # a missing folder or an unreachable Hub: one line
        try:
            import torch  # noqa: F401  (fail early, with the message below, if torch is broken)
            from transformers import AutoImageProcessor, AutoModel

            self._processor = AutoImageProcessor.from_pretrained(located.source, local_files_only=located.local_files_only)
            self._model = AutoModel.from_pretrained(located.source, local_files_only=located.local_files_only).to(device).eval()
        except Exception as exc:  # OSError, ValueError... for a bad or missing checkpoint
            raise FinebenchError(f"cannot load image embedder {model!r}: {type(exc).__name__}: {exc}") from exc
        if not hasattr(self._model, "get_image_features"):
            kind = type(self._model).__name__
            raise FinebenchError(f"{model!r} ({kind}) has no get_image_features; use a CLIP-like model")
        self._device = device
        self.model_id = f"hf:{model}"

    def embed(self, images: Sequence[Image]) -> np.ndarray:
        import torch

        inputs = self._processor(images=[im.convert("RGB") for im in images], return_tensors="pt").to(self._device)
        with torch.inference_mode():
            output: Any = self._model.get_image_features(pixel_values=inputs["pixel_values"])
        features = output if isinstance(output, torch.Tensor) else output.pooler_output
        return l2_normalise(features.float().cpu().numpy())


class OpenClipEmbedder:
    """An open_clip model, e.g. ``OpenClipEmbedder("ViT-B-32", "laion2b_s34b_b79k")``."""

    def __init__(self, model_name: str, pretrained: str, device: str = "cpu") -> None:
        try:
            import open_clip
        except ImportError:
            raise FinebenchError(
                "open_clip is not installed: pip install 'finebench[clip]', or use a transformers CLIP "
                "model (HFImageEmbedder)"
            ) from None
        self._model, _, self._preprocess = open_clip.create_model_and_transforms(model_name, pretrained=pretrained)
        self._model = self._model.to(device).eval()
        self._device = device
        self.model_id = f"open_clip:{model_name}:{pretrained}"

    def embed(self, images: Sequence[Image]) -> np.ndarray:
        import torch

        batch = torch.stack([self._preprocess(im.convert("RGB")) for im in images]).to(self._device)
        with torch.inference_mode():
            features = self._model.encode_image(batch)
        return l2_normalise(features.float().cpu().numpy())


class EmbeddingCache:
    """SQLite store of embeddings by (model id, FileKey)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute(_SCHEMA)

    def get(self, model: str, key: FileKey) -> np.ndarray | None:
        row = self._db.execute(
            "SELECT vector FROM embeddings WHERE model=? AND path=? AND mtime_ns=? AND size=?", (model, *key)
        ).fetchone()
        return None if row is None else np.frombuffer(row[0], dtype=np.float32).copy()

    def put_many(self, model: str, items: Sequence[tuple[FileKey, np.ndarray]]) -> None:
        rows = [(model, *key, np.asarray(vector, dtype=np.float32).tobytes()) for key, vector in items]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?,?,?,?,?)", rows)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def file_key(path: Path) -> FileKey:
    """Raises FileNotFoundError for a missing image."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    return str(resolved), stat.st_mtime_ns, stat.st_size


def embed_files(
    embedder: ImageEmbedder, paths: Sequence[Path], cache: EmbeddingCache | None = None, batch_size: int = 32
) -> np.ndarray:
    """One embedding row per path, from the cache where possible; misses are embedded in batches
    and stored. A missing or undecodable image raises (callers check images beforehand)."""
    keys = [file_key(p) for p in paths]
    rows: dict[int, np.ndarray] = {}
    if cache is not None:
        for i, key in enumerate(keys):
            cached = cache.get(embedder.model_id, key)
            if cached is not None:
                rows[i] = cached
    missing = [i for i in range(len(paths)) if i not in rows]
    for start in range(0, len(missing), batch_size):
        chunk = missing[start : start + batch_size]
        vectors = embedder.embed([load_rgb(Path(paths[i])) for i in chunk])
        rows.update(zip(chunk, vectors, strict=True))
        if cache is not None:
            cache.put_many(embedder.model_id, [(keys[i], rows[i]) for i in chunk])
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([rows[i] for i in range(len(paths))]).astype(np.float32)
