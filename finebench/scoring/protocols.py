"""The two protocols' per-sample rules. Each returns the answer, the text scored, the 0/1 string
metrics and the (prediction, ground truth, super word) triple that SS_relative will embed.

``fine-r1`` reproduces the paper's eval/evaluation.py including its quirks (see shared/README.md):
substring matching, the whole output scored when an open-world answer is missing, car names cut by
the image path, and a super-category word guessed from the image path. ``finebench`` fixes them.
"""

from __future__ import annotations

from typing import NamedTuple

from finebench.scoring.extract import EXTRACTORS
from finebench.scoring.normalize import contains_phrase, normalize_label
from finebench.scoring.types import ScoringContext, ScoringInput

DEFAULT_EXTRACTION = {"fine-r1": "greedy", "finebench": "last"}


class Judgement(NamedTuple):
    """One judged response (a NamedTuple: cheap to build, once per sample)."""

    answer: str | None
    scored_text: str
    no_answer: bool
    correct: bool
    """Closed world: the answer picks the ground truth; open world: the text includes it."""
    similarity_triple: tuple[str, str, str] | None
    """(prediction, ground truth, super word) for SS_relative; None scores 0 without embedding."""


def paper_super_category(image_path: str) -> str:
    """The paper's super-category word, guessed from the path (so "bird_200/..." gives "object")."""
    for needle, word in (("aircraft", "aircraft"), ("birds", "bird"), ("cars", "car"), ("flower", "flower")):
        if needle in image_path:
            return word
    return "object"


def judge_fine_r1(ctx: ScoringContext, sample: ScoringInput, response: str) -> Judgement:
    answer = EXTRACTORS[ctx.answer_extraction or "greedy"](response)
    no_answer = not answer
    gt = str(sample.ground_truth).lower().replace("_", " ")
    if ctx.world == "closed":
        correct = bool(answer) and gt in answer.lower().replace("_", " ")
        return Judgement(answer, answer or "", no_answer, correct, None)
    text = answer if answer else response
    if "cars" in sample.image_path:
        target = " ".join(sample.ground_truth.lower().split()[:-2])
    else:
        target = gt
    correct = target in text.lower()
    return Judgement(answer, text, no_answer, correct, (text, sample.ground_truth, paper_super_category(sample.image_path)))


def judge_finebench(ctx: ScoringContext, sample: ScoringInput, response: str) -> Judgement:
    answer = EXTRACTORS[ctx.answer_extraction or "last"](response)
    if not answer:
        return Judgement(answer, "", True, False, None)
    text = normalize_label(answer)
    if ctx.world == "closed":
        return Judgement(answer, answer, False, picks_only(text, sample.ground_truth, sample.options), None)
    target = sample.ground_truth
    if ctx.open_target == "make_model" and len(target.split()) > 2:
        target = " ".join(target.split()[:-2])
    correct = contains_phrase(text, normalize_label(target))
    return Judgement(answer, answer, False, correct, (answer, sample.ground_truth, ctx.super_category))


def picks_only(answer_norm: str, ground_truth: str, options: tuple[str, ...]) -> bool:
    """Whether a normalised answer names the ground truth and no other option. An option that is
    part of a longer mentioned option ("Ferrari 458 Italia" inside "...Italia Coupe 2012") does not
    count as a second mention; "A or B" names two options and gets no credit."""
    mentioned = {n for n in map(normalize_label, options) if contains_phrase(answer_norm, n)}
    maximal = {n for n in mentioned if not any(m != n and contains_phrase(m, n) for m in mentioned)}
    return maximal == {normalize_label(ground_truth)}


JUDGES = {"fine-r1": judge_fine_r1, "finebench": judge_finebench}
