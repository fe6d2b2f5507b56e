"""Decoding images: one place that opens a file and returns RGB pixels.

Everything that feeds a model or an embedder decodes through here, so a corrupt file fails at the
same point with the same message whichever stage (evaluation, embeddings, SFT, TAPO) reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image


def load_rgb(path: str | Path) -> Image:
    """Decode an image fully, as RGB (what processors expect), closing the file at once."""
    from PIL import Image as PILImage

    with PILImage.open(path) as image:
        return image.convert("RGB")
