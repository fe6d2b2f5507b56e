"""Intra-class pooled groups, group-normalised advantages and the dynamic-sampling selection."""

from __future__ import annotations

import statistics

import pytest
import torch

from finebench.training.tapo.sampling import (
    ANCHOR,
    POSITIVE,
    conditioning_sources,
    group_advantages,
    identical_run_length,
    informative_groups,
    refill_keep,
    select_groups,
)


def test_a_group_is_n1_anchor_rollouts_then_n2_positive_ones() -> None:
    assert conditioning_sources(5, 5) == (ANCHOR,) * 5 + (POSITIVE,) * 5
    assert conditioning_sources(3, 0) == (ANCHOR,) * 3
    with pytest.raises(ValueError):
        conditioning_sources(0, 4)


@pytest.mark.parametrize(("n1", "n2", "run"), [(5, 5, 5), (4, 2, 2), (3, 2, 1), (4, 0, 4), (2, 6, 2)])
def test_identical_runs_never_span_the_anchor_positive_boundary(n1: int, n2: int, run: int) -> None:
    assert identical_run_length(n1, n2) == run
    sources = conditioning_sources(n1, n2)
    assert all(len(set(sources[i : i + run])) == 1 for i in range(0, n1 + n2, run))


def test_advantages_are_normalised_over_the_pooled_group() -> None:
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.1, 0.1, 0.1, 0.1], dtype=torch.float64)
    advantages = group_advantages(rewards, group_size=4, eps=1e-6)
    first = [1.0, 0.0, 0.0, 1.0]
    mean, std = statistics.mean(first), statistics.stdev(first)  # unbiased, as the release
    assert advantages[:4].tolist() == pytest.approx([(r - mean) / (std + 1e-6) for r in first])
    assert advantages[4:].tolist() == [0.0] * 4  # equal rewards: zero advantage, not NaN


def test_pooling_lets_a_positive_rollout_set_the_anchor_baseline() -> None:
    # n1 = n2 = 2: the anchor rollouts fail, the positive ones succeed; one group, one baseline
    advantages = group_advantages(torch.tensor([0.0, 0.0, 1.0, 1.0]), group_size=4)
    assert (advantages[:2] < 0).all() and (advantages[2:] > 0).all()


def test_groups_with_equal_values_are_uninformative() -> None:
    values = torch.tensor([0.1, 0.1, 0.1, 1.0, 0.1, 0.1, 0.9, 0.9, 0.9])
    assert informative_groups(values, group_size=3).tolist() == [False, True, False]


def test_selection_prefers_informative_groups_in_generation_order() -> None:
    selection = select_groups([[False, True, False], [True, True, False]], target=3)
    assert selection.picks == ((0, 1), (1, 0), (1, 1))
    assert (selection.kept, selection.short) == (3, 0)


def test_selection_tops_up_with_uninformative_groups_when_rounds_run_out() -> None:
    selection = select_groups([[False, True, False], [False, False, False]], target=3)
    assert selection.picks == ((0, 0), (0, 1), (0, 2))
    assert (selection.kept, selection.short) == (1, 2)
    with pytest.raises(ValueError):
        select_groups([[True]], target=2)


def test_a_refill_round_keeps_only_what_is_still_needed() -> None:
    assert refill_keep([False, True, True, True], still_needed=2) == [1, 2]
    assert refill_keep([True, True], still_needed=0) == []
    assert refill_keep([True], still_needed=-3) == []
