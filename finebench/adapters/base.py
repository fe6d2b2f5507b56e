"""The adapter interface: the only thing a new model backend has to implement.

Two kinds exist. A *generative* adapter (``output = "text"``) turns requests into response texts
which the task's protocol then parses and scores. A *contrastive* adapter (``output =
"option_scores"``, e.g. CLIP) returns one score per option in ``Request.options``; the harness
takes the arg-max as the answer. Adapters never see ground truths and never score.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Literal

from finebench.adapters.instance import Request
from finebench.util.errors import FinebenchError

DEFAULT_MAX_NEW_TOKENS = 2048
"""Used when a task sets no ``max_new_tokens``; the paper's setting, and unlike transformers' own
default (a total length of 20 tokens) it does not silently truncate answers."""

GEN_KWARGS = frozenset(
    {"do_sample", "max_new_tokens", "min_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "seed"}
)
"""Generation settings the local generative backends understand; anything else is an error.
``min_new_tokens`` equal to ``max_new_tokens`` forces every response to that length (end-of-text is
suppressed until then), which is how a throughput benchmark makes hf and vllm do equal work."""


def check_gen_kwargs(gen_kwargs: dict) -> None:
    """Refuse settings a backend would silently ignore."""
    unknown = sorted(set(gen_kwargs) - GEN_KWARGS)
    if unknown:
        raise FinebenchError(f"unsupported generation setting(s) {', '.join(unknown)}; known: {', '.join(sorted(GEN_KWARGS))}")


class Adapter(ABC):
    output: ClassVar[Literal["text", "option_scores"]] = "text"
    supports_open_world: ClassVar[bool] = True
    strategies: ClassVar[tuple[str, ...]] = ("direct", "zero-shot-cot", "icl")
    """Inference strategies (``finebench.tasks.prompts.STRATEGIES``) the adapter can carry out."""
    batch_size_hint: int | None = None
    """Requests per call the adapter wants instead of the run's ``--batch-size`` (vLLM schedules
    large chunks itself); None: the run's batch size."""

    @abstractmethod
    def fingerprint(self) -> str:
        """A stable id of the weights and settings that change outputs; keys the response cache."""

    def generate(self, requests: Sequence[Request]) -> list[str]:
        """One response text per request, in order. Raise for a whole-batch failure only."""
        raise NotImplementedError(f"{type(self).__name__} does not generate text")

    def score_options(self, requests: Sequence[Request]) -> list[list[float]]:
        """One score per option of each request (higher = more likely), in order."""
        raise NotImplementedError(f"{type(self).__name__} does not score options")

    def close(self) -> None:
        """Release GPU memory, worker pools or connections."""
