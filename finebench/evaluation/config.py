"""What a run is asked to do: the tasks, data, output folder and the evaluation choices (protocol, trials,
metrics, ordering, strategy) that every later step reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REQUEST_ORDERS = ("length", "doc", "shuffled")


DEFAULT_SS_ENCODER = "google/siglip-base-patch16-256"


@dataclass(frozen=True)
class RunConfig:
    tasks: tuple[str, ...]
    data_root: Path
    output_path: Path
    protocol: str | None = None
    """None: each task's own default protocol (``fine-r1`` for the shipped tasks)."""
    trials: int | None = None
    seed: int | None = None
    limit: int | None = None
    """Score a seeded random sample of N items per task (the same N items on every run)."""
    batch_size: int = 8
    metrics: tuple[str, ...] | None = None
    ss_encoder: str = DEFAULT_SS_ENCODER
    cache_path: Path | None = None
    """Response cache; default ``OUTPUT_PATH/responses.sqlite`` so re-running a command resumes it."""
    request_order: str = "length"
    """Batching order: ``length`` (longest prompts first, least padding), ``doc`` or ``shuffled``."""
    option_order: str | None = None
    """Override of the protocol's option order; ``circular`` asks each item once per ground-truth
    position (trials = number of options) to measure position bias."""
    strategy: str = "direct"
    """Inference strategy: ``direct``, ``zero-shot-cot`` or ``icl`` (see ``finebench.tasks.prompts``)."""
    allow_outside_data_root: bool = False
    """Read item images named by absolute paths or paths with ``..`` (refused per sample by default)."""
    icl_pool: Path | None = None
    """JSONL of seen-class training images (``image_path``, ``class_name``; paths relative to the
    data root) that ``icl`` draws its demonstrations from, e.g. a ``*_fewshot_train.jsonl``."""
    model_args: Mapping[str, Any] = field(default_factory=dict)
    """``--model-args`` as given (already applied to the model card); recorded in results.json."""
    gen_kwargs: Mapping[str, Any] = field(default_factory=dict)
    """``--gen-kwargs``: over the task's and the card's generation settings (cache keys include them)."""

    def resolved_cache_path(self) -> Path:
        return self.cache_path or self.output_path / "responses.sqlite"
