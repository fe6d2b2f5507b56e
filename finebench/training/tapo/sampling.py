"""Rollout groups for TAPO: intra-class pooling, group-normalised advantages, dynamic sampling.

Intra-class augmentation (Eq. 1) samples n1 rollouts on the anchor image and n2 on a positive image
of the same sub-category and normalises their rewards as ONE group: rollouts on either view are
judged against one baseline, which favours reasoning that holds for the class rather than for one
image. Groups are laid out as consecutive rows: n1 anchor rollouts, then n2 positive ones.

Dynamic sampling (DAPO) drops groups whose rollouts all scored the same (their advantages are
zero up to rounding, so they only dilute the token mean) and samples more prompts to refill the
batch. Random tiny models and easy prompts can produce such groups indefinitely, so refilling is
bounded by default and the batch is topped up with dropped groups (counted in ``short``) when the
rounds run out. The release's variant (``within_bounds``, ``kept_groups``) keeps a group iff its
mean accuracy lies strictly between two thresholds, keeps a whole block of prompts when the block
keeps none, and refills without limit.
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

    A group whose rewards are all equal gets advantages near zero, never NaN; in float32 not
    exactly zero when the mean is rounded (ten rollouts all at 0.1: -0.0074 each, as in the
    release, whose arithmetic this is)."""
    grouped = rewards.view(-1, group_size)
    mean = grouped.mean(dim=1, keepdim=True)
    std = grouped.std(dim=1, keepdim=True) if group_size > 1 else torch.zeros_like(mean)
    return ((grouped - mean) / (std + eps)).view(-1)


def informative_groups(values: torch.Tensor, group_size: int, tol: float = 1e-6) -> torch.Tensor:
    """One bool per group: True unless all its values are equal (within ``tol``)."""
    grouped = values.view(-1, group_size)
    return (grouped.max(dim=1).values - grouped.min(dim=1).values) > tol


def within_bounds(values: torch.Tensor, group_size: int, low: float, high: float) -> torch.Tensor:
    """One bool per group: low < mean < high (the release's ``filter_low``/``filter_high`` rule,
    ray_trainer.py L646-651), the mean taken in float64 like numpy's."""
    means = values.view(-1, group_size).double().mean(dim=1)
    return (means > low) & (means < high)


def kept_groups(flags_per_device: Sequence[Sequence[bool]], block: int | None, keep_all: bool) -> list[list[int]]:
    """Per device, the groups of one generation round that dynamic sampling keeps.

    Groups are ordered globally device by device. With ``keep_all``, every group of a block of
    ``block`` consecutive groups (the whole round when None) in which the filter keeps none is
    kept (the release keeps all groups of a dataloader batch that keeps none, L653-654)."""
    per_device = len(flags_per_device[0])
    keep = [bool(flag) for flags in flags_per_device for flag in flags]
    if keep_all:
        size = block or len(keep)
        for start in range(0, len(keep), size):
            if not any(keep[start : start + size]):
                keep[start : start + size] = [True] * len(keep[start : start + size])
    return [[g for g in range(per_device) if keep[d * per_device + g]] for d in range(len(flags_per_device))]


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


class PromptStream:
    """Dataset indices in batches exactly as the release's training dataloader hands them out:
    torch's ``RandomSampler`` on a generator seeded with ``seed`` and ``drop_last`` batches (a
    batch never straddles two passes; the rest of a pass is skipped). A refill round takes the
    next batch of this one stream, each device its own slice."""

    def __init__(self, size: int, seed: int) -> None:
        from torch.utils.data import RandomSampler

        if size < 1:
            raise ValueError("PromptStream needs a non-empty dataset")
        self.size = size
        self.sampler = RandomSampler(range(size), generator=torch.Generator().manual_seed(seed))
        self.indices = iter(self.sampler)

    def take(self, count: int) -> list[int]:
        if count > self.size:
            raise ValueError(f"a refill round of {count} prompts needs at least as many training samples ({self.size})")
        taken = [index for _, index in zip(range(count), self.indices)]
        if len(taken) < count:  # the pass ran out: drop the partial batch, start the next pass
            self.indices = iter(self.sampler)
            taken = [index for _, index in zip(range(count), self.indices)]
        return taken
