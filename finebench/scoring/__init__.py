"""Scoring: pure functions from responses to per-sample scores and percentages.

Nothing here imports torch; only loading an SS_relative encoder does.

May import: finebench.util, finebench.embeddings.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from finebench.embeddings.text import TextEncoder
from finebench.scoring.metrics import ss_relative
from finebench.scoring.protocols import JUDGES
from finebench.scoring.types import SampleScore, ScoringContext, ScoringInput

__all__ = ["METRICS_BY_WORLD", "PROTOCOLS", "SampleScore", "ScoringContext", "ScoringInput", "aggregate",
           "parse_metrics", "score_samples"]

PROTOCOLS = ("fine-r1", "finebench")
METRICS_BY_WORLD = {"closed": ("accuracy",), "open": ("inclusion", "ss_relative")}
ALL_METRICS = ("accuracy", "inclusion", "ss_relative")


def parse_metrics(spec: str) -> list[str]:
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise ValueError("no metric named; choose from " + ", ".join(ALL_METRICS))
    for name in names:
        if name not in ALL_METRICS:
            close = difflib.get_close_matches(name, ALL_METRICS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; choose from {', '.join(ALL_METRICS)}"
            raise ValueError(f"unknown metric {name!r}{hint}")
    return names


def _validate(ctx: ScoringContext, metrics: Sequence[str], encoder: TextEncoder | None) -> None:
    if ctx.protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {ctx.protocol!r}; choose from {', '.join(PROTOCOLS)}")
    if ctx.world not in METRICS_BY_WORLD:
        raise ValueError(f"unknown world {ctx.world!r}; choose from closed, open")
    for metric in metrics:
        if metric not in METRICS_BY_WORLD[ctx.world]:
            raise ValueError(f"metric {metric!r} does not apply to {ctx.world}-world tasks "
                             f"({', '.join(METRICS_BY_WORLD[ctx.world])})")
    if "ss_relative" in metrics and encoder is None:
        raise ValueError("metric 'ss_relative' needs a text encoder")


def score_samples(
    ctx: ScoringContext, inputs: Sequence[ScoringInput], metrics: Sequence[str], encoder: TextEncoder | None = None
) -> list[SampleScore]:
    """Per-sample scores in input order. Every distinct string SS_relative needs is embedded in
    one encoder call."""
    _validate(ctx, metrics, encoder)
    judge = JUDGES[ctx.protocol]
    string_metric = "accuracy" if ctx.world == "closed" else "inclusion"
    wants_string = string_metric in metrics
    scores: list[SampleScore] = []
    triples: list[tuple[str, str, str] | None] = []
    for sample in inputs:
        response = sample.response
        if response is None:  # failed generation: wrong on every metric, not a "no answer"
            scores.append(SampleScore(None, "", False, {m: 0.0 for m in metrics}))
            triples.append(None)
            continue
        answer, scored_text, no_answer, correct, triple = judge(ctx, sample, response)
        scores.append(SampleScore(answer, scored_text, no_answer, {string_metric: float(correct)} if wants_string else {}))
        triples.append(triple)
    if "ss_relative" in metrics:
        for score, value in zip(scores, _ss_relative_values(triples, encoder), strict=True):
            score.scores["ss_relative"] = value
    return scores


def _ss_relative_values(triples: list[tuple[str, str, str] | None], encoder: TextEncoder) -> list[float]:
    import numpy as np  # here, not at the top: re-scoring string metrics needs no numpy

    texts = list(dict.fromkeys(t for triple in triples if triple is not None for t in triple))
    if not texts:
        return [0.0] * len(triples)
    vectors = dict(zip(texts, encoder.encode(texts), strict=True))
    values = []
    for triple in triples:
        if triple is None:
            values.append(0.0)
            continue
        pred, gt, super_word = (vectors[t] for t in triple)
        values.append(ss_relative(float(np.dot(pred, gt)), float(np.dot(super_word, gt))))
    return values


def aggregate(scores: Sequence[SampleScore], metrics: Sequence[str]) -> dict[str, float]:
    """Percentages: each metric's mean x 100, and ``no_answer`` = % of samples without an answer.
    An empty list gives 0.0 everywhere (a task with no samples scored nothing)."""
    n = len(scores)
    out = {m: 100.0 * sum(s.scores[m] for s in scores) / n if n else 0.0 for m in metrics}
    out["no_answer"] = 100.0 * sum(s.no_answer for s in scores) / n if n else 0.0
    return out
