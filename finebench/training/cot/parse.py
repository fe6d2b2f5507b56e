"""Reading a teacher's chain-of-thought: concept extraction from captions, the four-section structured
CoT, the language and correctness judgements, and the conversion to a Stage-1 sample. Pure text
functions, no model."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from finebench.data.formats import (
    IMAGE_MARKER,
    STAGE1_SYSTEM_PROMPT,
    Stage1Sample,
)

SECTIONS = ("analysis", "options", "comparison", "prediction")


# Why a try was rejected; the report counts them.
MIXED_LANGUAGE = "mixed_language"


MALFORMED = "malformed"


WRONG_PREDICTION = "wrong_prediction"


NOT_AMONG_OPTIONS = "prediction_not_among_options"


_BULLET = re.compile(r"^\s*(?:(?:[-*•]|\d+[.)])\s*)+")


@dataclass(frozen=True)
class StructuredCot:
    analysis: str
    options: tuple[str, ...]
    comparison: str
    prediction: str


def normalise_label(text: str) -> str:
    """Case, underscores, runs of whitespace and a final full stop do not distinguish labels."""
    return " ".join(text.replace("_", " ").split()).casefold().rstrip(".").strip()


def split_concepts(caption: str) -> list[str]:
    """Attribute phrases of one caption: split on commas, semicolons, lines and sentence ends,
    bullets and numbering removed, lower-cased."""
    phrases = []
    for part in re.split(r"[,;\n]|\.(?:\s|$)", caption):
        phrase = " ".join(_BULLET.sub("", part).strip(" .:*\"'").split()).lower()
        if len(phrase) > 1:
            phrases.append(phrase)
    return phrases


def aggregate_concepts(captions: Sequence[str], min_support: int, max_concepts: int) -> list[str]:
    """Phrases named by at least ``min_support`` captions, most supported first (ties: first
    mention). When the captions agree on nothing, the most mentioned phrases are the best there is."""
    support: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    for caption in captions:
        for phrase in dict.fromkeys(split_concepts(caption)):
            support[phrase] += 1
            first_seen.setdefault(phrase, len(first_seen))
    ranked = sorted(support, key=lambda p: (-support[p], first_seen[p]))
    agreed = [p for p in ranked if support[p] >= min_support]
    return (agreed or ranked)[:max_concepts]


def is_mixed_language(text: str) -> bool:
    """True if any letter is outside the Latin script (the prompts and labels are English)."""
    return any(ch.isalpha() and not unicodedata.name(ch, "").startswith("LATIN") for ch in text)


def parse_structured_cot(text: str) -> StructuredCot:
    """The four tagged sections; ValueError names the first missing or empty one."""
    parts = {}
    for tag in SECTIONS:
        match = re.search(rf"<{tag}>(.*?)</{tag}>", text, re.DOTALL)
        if match is None or not match.group(1).strip():
            raise ValueError(f"missing or empty <{tag}>")
        parts[tag] = match.group(1).strip()
    # One per line or comma-separated on one line (Table 5 asks for neither); no class name of
    # the six datasets contains a comma or a semicolon.
    pieces = [_BULLET.sub("", piece).strip() for piece in re.split(r"[\n,;]", parts["options"])]
    options = tuple(piece for piece in pieces if piece)
    return StructuredCot(parts["analysis"], options, parts["comparison"], parts["prediction"])


def judge_try(text: str, label: str) -> tuple[StructuredCot | None, str | None]:
    """(the parsed CoT, None) if the try is kept, else (None, the rejection reason)."""
    if is_mixed_language(text):
        return None, MIXED_LANGUAGE
    try:
        cot = parse_structured_cot(text)
    except ValueError:
        return None, MALFORMED
    target = normalise_label(label)
    if normalise_label(cot.prediction) != target:
        return None, WRONG_PREDICTION
    if target not in {normalise_label(o) for o in cot.options}:
        return None, NOT_AMONG_OPTIONS
    return cot, None


def to_stage1(cot: StructuredCot, label: str, question: str, image_path: str) -> Stage1Sample:
    """The release's SFT layout: sections as plain-text headings inside ``<think>``."""
    candidates = "\n".join(f"- {option}" for option in cot.options)
    think = (
        f"Analysis of Visual Features:\n{cot.analysis}\n\n"
        f"Candidate Subcategories:\n{candidates}\n\n"
        f"Comparison Process:\n{cot.comparison}\n\n"
        f"The prediction is: {cot.prediction}"
    )
    return Stage1Sample(
        prompt=IMAGE_MARKER + question,
        response=f"<think>\n{think}\n</think>\n\n<answer>{label}</answer>",
        images=(image_path,),
        system=STAGE1_SYSTEM_PROMPT,
    )
