"""The data that flows into and out of the scorers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class ScoringInput(NamedTuple):
    """One response to score (immutable; a NamedTuple because it is built once per sample, and a
    frozen dataclass costs four times as much to build: a fifth of re-scoring 71k responses)."""

    doc_id: int
    response: str | None
    """The raw model output; None when the generation failed (every metric scores 0)."""
    ground_truth: str
    options: tuple[str, ...]
    """Options as shown to the model (the corrected closed-world matcher needs them)."""
    image_path: str
    """Release-relative path: the paper's scorer derives two of its quirks from it."""


@dataclass(frozen=True, slots=True)
class ScoringContext:
    protocol: str
    """``fine-r1`` (the paper's scorer) or ``finebench`` (corrected)."""
    world: str
    """``closed`` or ``open``."""
    super_category: str
    """The dataset's super-category word (used by the finebench protocol's SS_relative)."""
    open_target: str = "full"
    """``full`` or ``make_model`` (drop the last two words); finebench protocol only, the paper's
    scorer decides car truncation by the image path."""
    answer_extraction: str | None = None
    """``greedy`` or ``last``; None means the protocol's own (greedy for fine-r1, last for finebench)."""


@dataclass(slots=True)
class SampleScore:
    answer: str | None
    """The extracted answer; None when there is no complete answer tag."""
    scored_text: str
    """The text the metrics compared with the ground truth ("" when none)."""
    no_answer: bool
    scores: dict[str, float] = field(default_factory=dict)
    """Metric -> per-sample value in [0, 1]."""
