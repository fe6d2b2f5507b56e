"""Rollout groups for TAPO: intra-class pooling, group-normalised advantages, dynamic sampling.

Intra-class augmentation (Eq. 1) samples n1 rollouts on the anchor image and n2 on a positive image
of the same sub-category and normalises their rewards as ONE group: rollouts on either view are
judged against one baseline, which favours reasoning that holds for the class rather than for one
image. Groups are laid out as consecutive rows: n1 anchor rollouts, then n2 positive ones.

Dynamic sampling (DAPO) drops groups whose rollouts all scored the same (their advantages are all
zero, so they only dilute the token mean) and samples more prompts to refill the batch. Random tiny
models and easy prompts can produce such groups indefinitely, so refilling is bounded and the batch
is topped up with dropped groups (zero advantage, counted in ``short``) when the rounds run out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

ANCHOR = "anchor"
POSITIVE = "positive"


def conditioning_sources(n_anchor: int, n_positive: int) -> tuple[str, ...]:
    """Which image each rollout of one group is sampled on, in row order."""
    if n_anchor < 1 or n_positive < 0:
        raise ValueError(f"need n_anchor >= 1 and n_positive >= 0, got {n_anchor} and {n_positive}")
    return (ANCHOR,) * n_anchor + (POSITIVE,) * n_positive


def identical_run_length(n_anchor: int, n_positive: int) -> int:
    """The longest run length r such that every block of r consecutive rows of a group shares one
    (prompt, image) pair. Generation back-ends that deduplicate repeated prompts (TRL's vLLM server
    mode samples ``n`` completions per distinct prompt) must deduplicate in blocks of r, not of the
    group size, or the positive rollouts would silently be sampled on the anchor image."""
    return math.gcd(n_anchor, n_positive) if n_positive else n_anchor


def group_advantages(rewards: torch.Tensor, group_size: int, eps: float = 1e-6) -> torch.Tensor:
    """(r - mean) / (std + eps) within consecutive groups; unbiased std, as the released DAPO code.

    A group whose rewards are all equal gets zero advantages (not NaN)."""
    grouped = rewards.view(-1, group_size)
    mean = grouped.mean(dim=1, keepdim=True)
    std = grouped.std(dim=1, keepdim=True) if group_size > 1 else torch.zeros_like(mean)
    return ((grouped - mean) / (std + eps)).view(-1)


def informative_groups(values: torch.Tensor, group_size: int, tol: float = 1e-6) -> torch.Tensor:
    """One bool per group: True unless all its values are equal (within ``tol``)."""
    grouped = values.view(-1, group_size)
    return (grouped.max(dim=1).values - grouped.min(dim=1).values) > tol


@dataclass(frozen=True)
class GroupSelection:
    picks: tuple[tuple[int, int], ...]
    """(round, group index within the round) of each selected group, in generation order."""
    kept: int
    """Informative groups in the batch."""
    short: int
    """Uninformative groups used as filler because the refill rounds ran out."""


def refill_keep(informative: Sequence[bool], still_needed: int) -> list[int]:
    """Groups of a refill round worth keeping: its first ``still_needed`` informative ones."""
    return [g for g, flag in enumerate(informative) if flag][: max(still_needed, 0)]


def select_groups(rounds: Sequence[Sequence[bool]], target: int) -> GroupSelection:
    """Pick ``target`` groups: informative ones first, in generation order, then (only if there are
    too few) uninformative ones as filler, so the batch always has its nominal size."""
    informative = [(r, g) for r, flags in enumerate(rounds) for g, flag in enumerate(flags) if flag]
    uninformative = [(r, g) for r, flags in enumerate(rounds) for g, flag in enumerate(flags) if not flag]
    if len(informative) + len(uninformative) < target:
        raise ValueError(f"need {target} groups but only {len(informative) + len(uninformative)} were generated")
    chosen = informative[:target]
    filler = uninformative[: target - len(chosen)]
    return GroupSelection(picks=tuple(sorted(chosen + filler)), kept=len(chosen), short=len(filler))
