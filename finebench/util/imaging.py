"""Decoding images, and how a decoded image becomes the picture a Qwen-VL-style model is shown.

``load_rgb`` is the decoder (a file to RGB pixels); ``load_keeping_alpha`` keeps RGBA for ``prepare_image``.

The Fine-R1 authors' evaluation (and training) builds its messages with ``qwen_vl_utils``: every
image is decoded, flattened onto white if it has an alpha channel, and resized with PIL's bicubic
filter to the nearest size whose sides are multiples of 28 (14-pixel patches merged 2x2) and whose
area lies within ``[4, 16384]`` such tiles. Only then does the model's processor see it, and for
any image inside the processor's own pixel bounds the processor keeps that size, so the picture the
model sees was resampled by PIL, not by the processor's torchvision resize. ``prepare_image`` is that
rule (identical pixels to ``qwen_vl_utils.fetch_image`` 0.0.10-0.0.14, tested against a
transcription of it and, when installed, the package itself); ``smart_resize`` is its size rule,
also used by the training image rules. Nothing here imports torch.
"""

from __future__ import annotations

import io
import math
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

IMAGE_FACTOR = 28
"""Side multiple of Qwen2/2.5-VL images: 14-pixel patches, merged 2x2 into one token."""
MIN_PIXELS = 4 * IMAGE_FACTOR * IMAGE_FACTOR
"""qwen_vl_utils' default lower bound on an image's area (4 tokens)."""
MAX_PIXELS = 16384 * IMAGE_FACTOR * IMAGE_FACTOR
"""qwen_vl_utils' default upper bound on an image's area (16384 tokens); far above what the
checkpoints' processors allow, so in practice it only rounds sides to multiples of 28."""
MAX_ASPECT_RATIO = 200

QWEN_VL_RULE = "qwen-vl-utils"
"""Name of the preparation rule below, as recorded in results.json and in cache keys."""


def smart_resize(
    height: int, width: int, factor: int = IMAGE_FACTOR, min_pixels: int = MIN_PIXELS, max_pixels: int = MAX_PIXELS
) -> tuple[int, int]:
    """``(height, width)`` after the Qwen-VL size rule: both sides multiples of ``factor``, the area
    within ``[min_pixels, max_pixels]``, the aspect ratio kept as closely as that allows.

    Sides are first rounded to the nearest multiple (Python's ``round``: halves go to the even
    multiple, as in qwen_vl_utils); if the area is then too large (small), both sides are scaled
    by the same factor and floored (ceiled) to multiples. A side is never below ``factor``.
    Raises ValueError for an aspect ratio above 200, as the reference does.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(f"aspect ratio {max(height, width) / min(height, width):.1f} is above {MAX_ASPECT_RATIO}")
    new_height = max(factor, round(height / factor) * factor)
    new_width = max(factor, round(width / factor) * factor)
    if new_height * new_width > max_pixels:
        shrink = math.sqrt(height * width / max_pixels)
        new_height = math.floor(height / shrink / factor) * factor
        new_width = math.floor(width / shrink / factor) * factor
    elif new_height * new_width < min_pixels:
        grow = math.sqrt(min_pixels / (height * width))
        new_height = math.ceil(height * grow / factor) * factor
        new_width = math.ceil(width * grow / factor) * factor
    return new_height, new_width


def flatten_to_rgb(image: Image) -> Image:
    """RGB pixels as qwen_vl_utils takes them: an RGBA image is composited onto white (its alpha
    as the mask), any other mode is converted directly (so a palette's transparency is dropped)."""
    from PIL import Image as PILImage

    if image.mode == "RGBA":
        flat = PILImage.new("RGB", image.size, (255, 255, 255))
        flat.paste(image, mask=image.getchannel("A"))
        return flat
    return image.convert("RGB")


def prepare_image(
    image: Image, *, factor: int = IMAGE_FACTOR, min_pixels: int = MIN_PIXELS, max_pixels: int = MAX_PIXELS
) -> Image:
    """The picture ``qwen_vl_utils.fetch_image`` returns for ``image``: flattened to RGB, then
    resized with PIL's bicubic filter (its default for RGB) to ``smart_resize`` of its size."""
    from PIL import Image as PILImage

    rgb = flatten_to_rgb(image)
    width, height = rgb.size
    new_height, new_width = smart_resize(height, width, factor, min_pixels, max_pixels)
    return rgb.resize((new_width, new_height), PILImage.Resampling.BICUBIC)


MAX_IMAGE_BYTES = 256 << 20
"""A larger "image" is refused rather than read into memory."""


class NotAnImageFile(ValueError):
    """The path names a folder, FIFO, socket or device, or a file too large to be an image."""


def read_regular_file(path: str | Path, limit: int = MAX_IMAGE_BYTES) -> bytes:
    """The bytes of ``path`` if it is a regular file: checked on the opened descriptor, which is
    opened non-blocking, so a FIFO named by an item file cannot hang a run."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise NotAnImageFile(f"{path} is not a regular file (a folder, FIFO, socket or device)")
    with os.fdopen(fd, "rb") as handle:
        if info.st_size > limit:
            raise NotAnImageFile(f"{path} is {info.st_size} bytes, more than the {limit} an image may have")
        return handle.read(limit + 1)


def load_rgb(path: str | Path) -> Image:
    """Decode an image fully, as RGB (what processors expect), from a regular file only, closing it
    at once. Every stage that feeds a model or an embedder decodes through here, so a corrupt file
    fails at the same point with the same message whichever stage (evaluation, embeddings, SFT,
    TAPO) reads it."""
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(read_regular_file(path))) as image:
        return image.convert("RGB")


def load_keeping_alpha(path: str | Path) -> Image:
    """Decode an image fully as RGB, or as RGBA when it has that mode: ``prepare_image`` flattens
    RGBA onto white (as qwen_vl_utils does), where ``load_rgb``'s plain conversion drops alpha.
    Regular files only, as ``load_rgb``."""
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(read_regular_file(path))) as image:
        return image.copy() if image.mode == "RGBA" else image.convert("RGB")
