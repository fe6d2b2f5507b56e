"""Stage-2 data for TAPO: triplet samples as a TRL prompt dataset, the prompt messages, the images
(the release's pixel resize as an option) and the processor."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from datasets import Dataset
from PIL import Image
from transformers import AutoProcessor, ProcessorMixin

from finebench.adapters.hf import apply_pixel_bounds
from finebench.data.formats import IMAGE_MARKER, Stage2Sample
from finebench.training.tapo.config import TapoConfig


# ---- Stage-2 data -------------------------------------------------------------------------------
def release_pixel_resize(image: Image.Image, min_pixels: int | None, max_pixels: int | None) -> Image.Image:
    """The released TAPO's ``process_image``: shrink into ``max_pixels``, then grow to
    ``min_pixels``, each by one PIL resize (default resampling, bicubic) to sides truncated to
    integers, so an image can land a little under ``min_pixels``; the processor then applies its
    own bounds on top. ``image_resize: pil`` uses it, because the token grid depends on it."""
    for bound, too_far in ((max_pixels, lambda area, b: area > b), (min_pixels, lambda area, b: area < b)):
        if bound is not None and too_far(image.width * image.height, bound):
            factor = math.sqrt(bound / (image.width * image.height))
            image = image.resize((int(image.width * factor), int(image.height * factor)))
    return image


def build_prompt(problem: str, format_prompt: str) -> list[dict[str, Any]]:
    """The user turn: the problem, a blank line, the format instruction (as the released jinja), with
    the image where the problem says ``<image>`` (at the start if it does not say)."""
    if problem.count(IMAGE_MARKER) > 1:
        raise ValueError(f"a TAPO problem takes one image, found {problem.count(IMAGE_MARKER)} {IMAGE_MARKER}")
    text = f"{problem.strip()}\n\n{format_prompt.strip()}" if format_prompt else problem.strip()
    before, _, after = text.rpartition(IMAGE_MARKER) if IMAGE_MARKER in text else ("", "", text)
    content = [{"type": "text", "text": before}] if before.strip() else []
    content += [{"type": "image"}, {"type": "text", "text": after}]
    return [{"role": "user", "content": content}]


def stage2_dataset(samples: Sequence[Stage2Sample], format_prompt: str) -> Dataset:
    """The columns TapoTrainer reads, one row per triplet; images stay paths until a batch needs them."""
    return Dataset.from_list([
        {
            "prompt": build_prompt(s.problem, format_prompt),
            "answer": s.answer,
            "image": s.image,
            "image_positive": s.image_positive,
            "image_negative": s.image_negative,
        }
        for s in samples
    ])


def load_processor(config: TapoConfig) -> ProcessorMixin:
    """The checkpoint's processor, left-padding (generation needs it) and with the recipe's pixel bounds."""
    processor = AutoProcessor.from_pretrained(config.model, padding_side="left", truncation_side="left")
    apply_pixel_bounds(processor, config.min_pixels, config.max_pixels, where=f"TAPO recipe (model {config.model})")
    return processor
