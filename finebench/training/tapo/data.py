"""Stage-2 data for TAPO: triplet samples as a TRL prompt dataset, the prompt messages and the
processor (images: ``finebench.training.images``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datasets import Dataset
from transformers import AutoProcessor, ProcessorMixin

from finebench.adapters.hf import apply_pixel_bounds
from finebench.data.formats import IMAGE_MARKER, Stage2Sample
from finebench.training import runs
from finebench.training.tapo.config import TapoConfig


# ---- Stage-2 data -------------------------------------------------------------------------------
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
    """The checkpoint's processor, left-padding (generation needs it), with the recipe's pixel
    bounds in ``processor`` image mode (the release's processor kept the checkpoint's)."""
    processor = AutoProcessor.from_pretrained(runs.model_source(config.model), padding_side="left",
                                              truncation_side="left")
    if config.image_resize == "processor":  # release: PIL applies the bounds, the processor keeps its own
        apply_pixel_bounds(processor, config.min_pixels, config.max_pixels, where=f"TAPO recipe (model {config.model})")
    return processor
