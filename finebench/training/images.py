"""How a training image becomes the PIL image the processor sees, shared by SFT and TAPO.

Two modes (the recipes' ``image_resize`` key):

- ``processor``: finebench's choice. The file is converted to RGB first; SFT then scales it into
  the recipe's pixel bounds with sides rounded so that the area lands inside them
  (``fit_inside``), TAPO leaves the bounds to the processor. The processor's own resize
  (Qwen-VL's ``smart_resize``) does the rest, and fails loudly on extreme aspect ratios.
- ``release``: what the authors' released code did, edge cases included, so that the token grid
  of every image is the release's:

  * SFT (LLaMA-Factory, ``src/llamafactory/data/mm_plugin.py``): ``BasePlugin._preprocess_image``
    (L229-246) scales into [image_min_pixels, image_max_pixels] with one PIL resize per bound to
    sides TRUNCATED to integers (so an upscaled image can land under the minimum), converts to RGB
    only after resizing, then ``Qwen2VLPlugin._preprocess_image`` (L1424-1438) stretches any side
    under 28 px to 28 and squeezes an aspect ratio above 200 to 180 instead of failing;
  * TAPO (``TAPO/verl/utils/dataset.py`` ``process_image``, L57-81): the same two truncating
    resizes and the late RGB conversion, but no 28-px or aspect rules; the positive
    (``image_noisy``) and negative (``image_aug``) images go through it twice, once when the
    dataset reads them (L357, L362) and again before the rollout/log-prob processor
    (``vllm_rollout_spmd.py`` L59, ``fsdp_workers_new.py`` L464/L503), the anchor once.

Resizing before converting matters for palette (P) images, which PIL resizes with nearest
neighbour, and for CMYK, resized in CMYK; an RGBA image's alpha is dropped after resizing.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from finebench.util.imaging import load_rgb

if TYPE_CHECKING:  # PIL is imported where an image is opened, so reading a recipe stays light
    from PIL import Image

IMAGE_MODES = ("processor", "release")

QWEN_MIN_SIDE = 28
"""LLaMA-Factory's Qwen2-VL plugin: shorter sides are stretched to this (one patch pair)."""
QWEN_MAX_ASPECT = 200
"""Above this aspect ratio the Qwen2-VL processor refuses an image; LLaMA-Factory squeezes it..."""
QWEN_SQUEEZED_ASPECT = 180
"""...to this aspect ratio instead."""

RELEASE_RL_PASSES = {"anchor": 1, "positive": 2, "negative": 2}
"""How many times the released TAPO code resizes each image of a triplet (see the module doc)."""


def open_image(path: str | Path) -> Image.Image:
    """The decoded image in its own mode (P, CMYK, L, RGBA...), the file closed at once."""
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        return image.copy()


def to_rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")


def scale_into_bounds(image: Image.Image, min_pixels: int | None, max_pixels: int | None) -> Image.Image:
    """The release's resize: shrink to ``max_pixels``, then grow to ``min_pixels``, each by one PIL
    resize (PIL's default resampling for the mode) to sides truncated to integers."""
    if max_pixels is not None and image.width * image.height > max_pixels:
        factor = math.sqrt(max_pixels / (image.width * image.height))
        image = image.resize((int(image.width * factor), int(image.height * factor)))
    if min_pixels is not None and image.width * image.height < min_pixels:
        factor = math.sqrt(min_pixels / (image.width * image.height))
        image = image.resize((int(image.width * factor), int(image.height * factor)))
    return image


def release_rl_image(image: Image.Image, min_pixels: int | None, max_pixels: int | None) -> Image.Image:
    """The released TAPO's ``process_image``: scale into the bounds, then convert to RGB."""
    return to_rgb(scale_into_bounds(image, min_pixels, max_pixels))


def release_sft_image(image: Image.Image, min_pixels: int, max_pixels: int) -> Image.Image:
    """LLaMA-Factory's Qwen2-VL image rules: scale into the bounds, convert to RGB, stretch sides
    under 28 px to 28, squeeze aspect ratios above 200 to 180 (heights/widths as integers)."""
    image = to_rgb(scale_into_bounds(image, min_pixels, max_pixels))
    if min(image.width, image.height) < QWEN_MIN_SIDE:
        image = image.resize((max(image.width, QWEN_MIN_SIDE), max(image.height, QWEN_MIN_SIDE)))
    if image.width / image.height > QWEN_MAX_ASPECT:
        image = image.resize((image.height * QWEN_SQUEEZED_ASPECT, image.height))
    if image.height / image.width > QWEN_MAX_ASPECT:
        image = image.resize((image.width, image.width * QWEN_SQUEEZED_ASPECT))
    return image


def fit_inside(image: Image.Image, min_pixels: int, max_pixels: int) -> Image.Image:
    """finebench's scaling (``processor`` mode of SFT): aspect kept, sides rounded towards the
    bounds (down when shrinking, up when growing) so the area lands inside them, bicubic."""
    from PIL import Image

    area = image.width * image.height
    if min_pixels <= area <= max_pixels:
        return image
    growing = area < min_pixels
    scale = math.sqrt((min_pixels if growing else max_pixels) / area)
    rounding = math.ceil if growing else math.floor
    size = (max(1, rounding(image.width * scale)), max(1, rounding(image.height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC)


def check_mode(mode: str) -> None:
    if mode not in IMAGE_MODES:
        raise ValueError(f"image mode must be one of {', '.join(IMAGE_MODES)}, got {mode!r}")


def sft_image(path: str | Path, mode: str, min_pixels: int, max_pixels: int) -> Image.Image:
    """One SFT image as the processor receives it."""
    check_mode(mode)
    if mode == "release":
        return release_sft_image(open_image(path), min_pixels, max_pixels)
    return fit_inside(load_rgb(path), min_pixels, max_pixels)


def rl_image(path: str | Path, mode: str, role: str, min_pixels: int | None, max_pixels: int | None) -> Image.Image:
    """One TAPO image (``role``: anchor, positive or negative) as the processor receives it; in
    ``processor`` mode the pixel bounds are the processor's (set on it by the trainer)."""
    check_mode(mode)
    if role not in RELEASE_RL_PASSES:
        raise ValueError(f"role must be one of {', '.join(RELEASE_RL_PASSES)}, got {role!r}")
    if mode == "processor":
        return load_rgb(path)
    image = open_image(path)
    for _ in range(RELEASE_RL_PASSES[role]):
        image = release_rl_image(image, min_pixels, max_pixels)
    return image
