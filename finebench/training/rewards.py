"""The TAPO training reward: answer accuracy plus a small bonus for the think/answer format.

This is the released reward (``examples/reward_function/cls_thinking.py``) spelled out, because a
reward that differs in one regex trains a different model: whitespace around ``<``, ``>`` and ``/``
is removed first (so ``< /think >`` from larger Qwen models still counts), the format must match the
whole response, and accuracy is a case-insensitive substring test of the ground truth in the first
(non-greedy) ``<answer>`` span. Note that the evaluation scorer extracts the answer greedily and
normalises underscores; the training reward does neither, on purpose, to match the release.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_ACCURACY_WEIGHT = 0.9
DEFAULT_FORMAT_WEIGHT = 0.1

_TAG_SPACE = re.compile(r"\s*(<|>|/)\s*")
_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


@dataclass(frozen=True)
class RewardScore:
    reward: float
    accuracy: float
    format: float


def normalise_tags(response: str) -> str:
    """Drop whitespace around ``<``, ``>`` and ``/`` (also inside answers, as the release does)."""
    return _TAG_SPACE.sub(r"\1", response)


def format_score(response: str) -> float:
    """1.0 iff the normalised response is exactly ``<think>...</think><answer>...</answer>``."""
    return 1.0 if _FORMAT.fullmatch(normalise_tags(response)) else 0.0


def accuracy_score(response: str, ground_truth: str) -> float:
    """1.0 iff the lower-cased ground truth occurs in the first ``<answer>`` span, lower-cased."""
    match = _ANSWER.search(normalise_tags(response))
    if match is None:
        return 0.0
    return 1.0 if ground_truth.lower() in match.group(1).strip().lower() else 0.0


def score_response(
    response: str,
    ground_truth: str,
    accuracy_weight: float = DEFAULT_ACCURACY_WEIGHT,
    format_weight: float = DEFAULT_FORMAT_WEIGHT,
) -> RewardScore:
    accuracy = accuracy_score(response, ground_truth)
    fmt = format_score(response)
    return RewardScore(accuracy_weight * accuracy + format_weight * fmt, accuracy, fmt)


def completion_text(completion: str | list[dict[str, Any]]) -> str:
    """The text of a TRL completion: a plain string, or a conversational ``[{"role", "content"}]``."""
    if isinstance(completion, str):
        return completion
    parts = []
    for message in completion:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(block.get("text", "") for block in content if block.get("type") == "text")
    return "".join(parts)


def accuracy_reward(completions: Sequence[Any], answer: Sequence[str], **_: Any) -> list[float]:
    """TRL reward function, logged as ``rewards/accuracy_reward/mean``; ``answer`` is the dataset column."""
    return [accuracy_score(completion_text(c), gt) for c, gt in zip(completions, answer, strict=True)]


def format_reward(completions: Sequence[Any], **_: Any) -> list[float]:
    """TRL reward function, logged as ``rewards/format_reward/mean`` (the format rate)."""
    return [format_score(completion_text(c)) for c in completions]
