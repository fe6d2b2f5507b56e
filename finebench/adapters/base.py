"""The adapter interface: the only thing a new model backend has to implement.

Two kinds exist. A *generative* adapter (``output = "text"``) turns requests into response texts
which the task's protocol then parses and scores. A *contrastive* adapter (``output =
"option_scores"``, e.g. CLIP) returns one score per option in ``Request.options``; the harness
takes the arg-max as the answer. Adapters never see ground truths and never score.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

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


GEN_KWARG_TYPES: dict[str, type] = {
    "do_sample": bool, "max_new_tokens": int, "min_new_tokens": int, "temperature": float, "top_p": float,
    "top_k": int, "repetition_penalty": float, "seed": int,
}

_KIND_NAMES = {bool: "a boolean (true/false)", int: "an integer", float: "a number"}


def check_gen_kwargs(gen_kwargs: dict) -> None:
    """Refuse settings a backend would silently ignore."""
    unknown = sorted(set(gen_kwargs) - GEN_KWARGS)
    if unknown:
        raise FinebenchError(f"unsupported generation setting(s) {', '.join(unknown)}; known: {', '.join(sorted(GEN_KWARGS))}")


def normalize_gen_kwargs(gen_kwargs: dict[str, Any], flag: str = "--gen-kwargs") -> dict[str, Any]:
    """``--gen-kwargs`` checked (known keys, types, ranges) and completed as lm-eval users expect:
    a ``temperature`` above 0 without ``do_sample`` turns sampling on, ``temperature=0`` means
    greedy. Raises FinebenchError naming ``flag``."""
    unknown = sorted(set(gen_kwargs) - GEN_KWARGS)
    if unknown:
        raise FinebenchError(f"{flag}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(GEN_KWARGS))}")
    out: dict[str, Any] = {}
    for key, value in gen_kwargs.items():
        kind = GEN_KWARG_TYPES[key]
        ok = isinstance(value, bool) if kind is bool else (
            not isinstance(value, bool) and isinstance(value, (int, float) if kind is float else int))
        if not ok:
            raise FinebenchError(f"{flag}: {key} must be {_KIND_NAMES[kind]}, not {value!r}")
        out[key] = float(value) if kind is float else value
    for key, low in (("max_new_tokens", 1), ("min_new_tokens", 0), ("top_k", 0), ("temperature", 0.0)):
        if key in out and out[key] < low:
            raise FinebenchError(f"{flag}: {key} must be >= {low}, not {out[key]!r}")
    if "top_p" in out and not 0 < out["top_p"] <= 1:
        raise FinebenchError(f"{flag}: top_p must be in (0, 1], not {out['top_p']!r}")
    if "repetition_penalty" in out and out["repetition_penalty"] <= 0:
        raise FinebenchError(f"{flag}: repetition_penalty must be > 0")
    if "min_new_tokens" in out and "max_new_tokens" in out and out["min_new_tokens"] > out["max_new_tokens"]:
        raise FinebenchError(f"{flag}: min_new_tokens {out['min_new_tokens']} is above max_new_tokens {out['max_new_tokens']}")
    if "temperature" in out and "do_sample" not in out:
        out["do_sample"] = out["temperature"] > 0
    return out
class PartialBatchError(FinebenchError):
    """Some requests of a batch failed after the adapter's own retries: ``outputs[i]`` is the
    response or None, ``errors[i]`` the failure or None. The runner keeps the successes and records
    the failures per sample, without asking again (the adapter has already retried)."""

    def __init__(self, outputs: Sequence[str | None], errors: Sequence[str | None]) -> None:
        failed = [e for e in errors if e is not None]
        super().__init__(f"{len(failed)} of {len(errors)} requests failed" + (f": {failed[0]}" if failed else ""))
        self.outputs = list(outputs)
        self.errors = list(errors)


class Adapter(ABC):
    output: ClassVar[Literal["text", "option_scores"]] = "text"
    supports_open_world: ClassVar[bool] = True
    strategies: ClassVar[tuple[str, ...]] = ("direct", "zero-shot-cot", "icl")
    """Inference strategies (``finebench.tasks.prompts.STRATEGIES``) the adapter can carry out."""
    options_type: ClassVar[type | None] = None
    """The dataclass of the ``adapter_options`` a card (or ``--model-args``) may set; None: none."""
    prepares_own_images: ClassVar[bool] = False
    """True when the backend resizes images by its own rules (CLIP preprocessing, lmms-eval's model
    wrappers): the harness then hands it decoded images and applies no protocol image rule
    (``finebench.evaluation.images``); hf, vllm and openai get the protocol's prepared images."""
    batch_size_hint: int | None = None
    """Requests per call the adapter wants instead of the run's ``--batch-size`` (vLLM schedules
    large chunks itself); None: the run's batch size."""

    @abstractmethod
    def fingerprint(self) -> str:
        """A stable id of the weights and settings that change outputs; keys the response cache."""

    def settings(self) -> dict[str, Any]:
        """Resolved load settings that change outputs (dtype, pixel bounds...), for results.json."""
        return {}

    def generate(self, requests: Sequence[Request]) -> list[str]:
        """One response text per request, in order. Raise for a whole-batch failure only."""
        raise NotImplementedError(f"{type(self).__name__} does not generate text")

    def score_options(self, requests: Sequence[Request]) -> list[list[float]]:
        """One score per option of each request (higher = more likely), in order."""
        raise NotImplementedError(f"{type(self).__name__} does not score options")

    def close(self) -> None:
        """Release GPU memory, worker pools or connections."""
