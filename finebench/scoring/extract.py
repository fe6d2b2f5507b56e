"""Pulling the answer out of ``<think>…</think><answer>…</answer>`` responses."""

from __future__ import annotations

import re

_GREEDY = re.compile(r"<answer>(.*)</answer>", re.DOTALL)
# A complete block whose body holds no further opening tag, so "<answer>a <answer>b</answer>"
# yields "b"; tags may carry whitespace and any case ("< Answer >", "</ answer>").
_BLOCK = re.compile(r"<\s*answer\s*>((?:(?!<\s*answer\s*>).)*?)<\s*/\s*answer\s*>", re.DOTALL | re.IGNORECASE)


def extract_greedy(response: str) -> str | None:
    """The paper's extraction: first ``<answer>`` to LAST ``</answer>``, stripped (exact tags only)."""
    match = _GREEDY.search(response)
    return match.group(1).strip() if match else None


def extract_last(response: str) -> str | None:
    """The last complete answer block, stripped; None when there is none."""
    blocks = _BLOCK.findall(response)
    return blocks[-1].strip() if blocks else None


EXTRACTORS = {"greedy": extract_greedy, "last": extract_last}
