"""Bounded thumbnails of the items' images, never the originals.

A samples row's ``image_path`` is untrusted: it is resolved under the data root and refused when it
would leave it (``..``, absolute paths, symlinks out). Images are decoded with PIL's pixel limit
on (a decompression bomb fails that one thumbnail) and written as small JPEGs whose names are
hashes of the resolved file (path, size, modification time), so no name from a results file ever
becomes a file name, and a changed image gets a new thumbnail.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

THUMB_SIDE = 160
"""Longest side of a thumbnail in pixels."""
THUMB_QUALITY = 80
MAX_SOURCE_BYTES = 64 << 20
"""Image files larger than this are not opened at all."""


@dataclass
class ThumbReport:
    made: int = 0
    reused: int = 0
    missing: list[str] = field(default_factory=list)
    """Image paths not found under the data root, outside it, or not decodable."""


def thumb_name(source: Path) -> str:
    """A name that changes when the image file does (path, size, modification time)."""
    stat = source.stat()
    key = f"{source}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:20] + ".jpg"


def inside(root: Path, relative: str) -> Path | None:
    """``root / relative`` if it stays under ``root`` once resolved (symlinks included), else None."""
    if not relative or "\0" in relative:
        return None
    base = root.resolve()
    path = (base / relative).resolve()
    return path if path.is_relative_to(base) and path != base else None


def make_thumbnail(source: Path, target: Path) -> None:
    from PIL import Image

    if source.stat().st_size > MAX_SOURCE_BYTES:
        raise ValueError("image file too large")
    with Image.open(source) as image:
        image.draft("RGB", (THUMB_SIDE, THUMB_SIDE))  # JPEG: decode at reduced scale, much faster
        image = image.convert("RGB")
        image.thumbnail((THUMB_SIDE, THUMB_SIDE))
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        image.save(tmp, "JPEG", quality=THUMB_QUALITY, optimize=True)
    os.replace(tmp, target)


def make_thumbnails(image_paths: set[str], data_root: Path | None, out: Path, workers: int = 4) -> tuple[dict[str, str], ThumbReport]:
    """Thumbnails in ``out`` for every image found; returns image path -> thumbnail file name.
    Thumbnails already in ``out`` are reused (a rebuilt explorer does not redo them)."""
    out.mkdir(parents=True, exist_ok=True)
    report = ThumbReport()
    names: dict[str, str] = {}

    def one(image_path: str) -> tuple[str, str | None, bool]:
        source = inside(data_root, image_path) if data_root is not None else None
        if source is None or not source.is_file():
            return image_path, None, False
        name = thumb_name(source)
        target = out / name
        if target.is_file():
            return image_path, name, True
        try:
            make_thumbnail(source, target)
        except Exception:  # PIL raises many kinds (UnidentifiedImageError, DecompressionBombError, OSError...)
            return image_path, None, False
        return image_path, name, False

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for image_path, name, reused in pool.map(one, sorted(image_paths)):
            if name is None:
                report.missing.append(image_path)
                continue
            names[image_path] = name
            report.reused += reused
            report.made += not reused
    return names, report
