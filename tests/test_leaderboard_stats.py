"""Bootstrap intervals, paired tests and their use in leaderboard cells and `compare`."""

from __future__ import annotations

import numpy as np
import pytest

from finebench.leaderboard.collect import MixedResultsError, load_run, load_runs
from finebench.leaderboard.compare import compare_runs, format_comparison
from finebench.leaderboard.intervals import (
    bootstrap_replicates,
    load_scores,
    score_keys,
    with_uncertainty,
)
from finebench.leaderboard.samples import doc_scores
from finebench.leaderboard.stats import (
    bootstrap_means,
    mcnemar_exact,
    paired_bootstrap_pvalue,
    paired_difference,
    paired_replicates,
    percentile_interval,
    resample_counts,
    task_rng,
)
from finebench.leaderboard.tables import build_tables
from tests.test_leaderboard_support import constant, full_run, write_run


def interval(values, seed=0, n_resamples=1000):
    counts = resample_counts(len(values), n_resamples, task_rng(seed, "t"))
    low, high = percentile_interval(bootstrap_means(np.asarray(values, dtype=float)[None, :], counts))
    return float(low[0]), float(high[0])


def test_resample_counts_are_resamples_of_size_n():
    counts = resample_counts(50, 200, np.random.default_rng(0))
    assert counts.shape == (200, 50) and np.all(counts.sum(axis=1) == 50)
    assert counts.mean() == pytest.approx(1.0)


def test_interval_contains_the_mean_and_narrows_with_n():
    rng = np.random.default_rng(1)
    small = (rng.random(100) < 0.6).astype(float)
    large = (rng.random(4000) < 0.6).astype(float)
    for values in (small, large):
        low, high = interval(values)
        assert low <= values.mean() <= high
    width_small = np.subtract(*interval(small)[::-1])
    width_large = np.subtract(*interval(large)[::-1])
    assert width_large < width_small / 4  # ~ 1 / sqrt(n): sqrt(40) = 6.3
    # and roughly the normal-theory width 2 * 1.96 * sqrt(p (1 - p) / n)
    assert width_large == pytest.approx(2 * 1.96 * np.sqrt(0.24 / 4000), rel=0.15)


def test_bootstrap_is_deterministic_for_a_seed():
    values = (np.random.default_rng(2).random(500) < 0.3).astype(float)
    assert interval(values, seed=7) == interval(values, seed=7)
    assert interval(values, seed=7) != interval(values, seed=8)
    assert not np.array_equal(resample_counts(10, 5, task_rng(0, "a")), resample_counts(10, 5, task_rng(0, "b")))


def test_mcnemar_exact_matches_a_hand_computation():
    # 8 items only A gets right, 2 only B, 5 both, 5 neither:
    # p = 2 * P(X <= 2 | X ~ Bin(10, 1/2)) = 2 * (1 + 10 + 45) / 1024
    a = np.array([1] * 8 + [0] * 2 + [1] * 5 + [0] * 5, dtype=float)
    b = np.array([0] * 8 + [1] * 2 + [1] * 5 + [0] * 5, dtype=float)
    result = mcnemar_exact(a, b)
    assert (result.a_only, result.b_only) == (8, 2)
    assert result.pvalue == pytest.approx(112 / 1024)
    assert mcnemar_exact(a, a).pvalue == 1.0
    assert mcnemar_exact(a, np.full(20, 0.5)) is None  # not 0/1: bootstrap only


def test_paired_bootstrap_pvalue():
    assert paired_bootstrap_pvalue(np.zeros(100), 0.0) == 1.0
    rng = np.random.default_rng(3)
    null_like = rng.normal(0.02, 0.05, 1000)  # observed 0.02 with a wide spread: not significant
    assert paired_bootstrap_pvalue(null_like, 0.02) > 0.5
    clear = rng.normal(0.2, 0.02, 1000)
    assert paired_bootstrap_pvalue(clear, 0.2) == 0.0  # no replicate reaches 0
    assert paired_bootstrap_pvalue(np.array([-1.0] * 30 + [1.0] * 970), 0.5) == pytest.approx(0.06)


@pytest.mark.parametrize("n_resamples", [40, 41, 200, 999, 1000, 1001])
def test_interval_excludes_zero_exactly_when_the_pvalue_is_below_005(n_resamples):
    """`compare` once showed a 95% CI excluding 0 next to p = 0.054, unstarred: the interval and the
    test must be one method. Differences near the boundary, where the two could disagree."""
    rng = np.random.default_rng(n_resamples)
    agreements = set()
    for trial in range(300):
        a = (rng.random(60) < 0.55).astype(float)
        b = (rng.random(60) < 0.45).astype(float)
        replicates = paired_replicates(a, b, n_resamples, task_rng(trial, "t"))
        d = paired_difference(replicates, float(a.mean()), float(b.mean()), 60)
        excludes = d.ci_low > 0 or d.ci_high < 0
        assert excludes == d.significant, (trial, d)
        agreements.add(excludes)
    assert agreements == {True, False}  # both cases were exercised


def test_doc_scores_average_trials_per_item():
    rows = [{"doc_id": d, "trial": t, "scores": {"accuracy": s}, "error": None}
            for d, t, s in ((2, 0, 1.0), (0, 0, 1.0), (0, 1, 0.0), (2, 1, 1.0), (0, 2, 0.0), (2, 2, 0.0))]
    rows.append({"doc_id": 5, "trial": 0, "scores": {}, "error": "image not found"})
    scores = doc_scores(rows, "accuracy", "x")
    assert scores.doc_ids.tolist() == [0, 2, 5]
    assert scores.values == pytest.approx([1 / 3, 2 / 3, 0.0])


def leaderboard_tables(paths, n_resamples=300, seed=0):
    tables = build_tables(load_runs(paths), [], {})
    reps = bootstrap_replicates(load_scores(score_keys(tables)), n_resamples, seed)
    return [with_uncertainty(t, reps) for t in tables]


def cell(tables, number, model):
    t = next(t for t in tables if t.spec.number == number)
    return next(r for r in t.rows if r.key == model)


def test_cell_intervals_contain_values_and_do_not_depend_on_other_models(tmp_path):
    a = full_run(tmp_path / "a", "a", 0.5, n=60)
    b = full_run(tmp_path / "b", "b", 0.7, n=60)
    alone = cell(leaderboard_tables([a]), 1, "a")
    together = leaderboard_tables([a, b])
    assert cell(together, 1, "a").intervals == alone.intervals
    for key, (low, high) in alone.intervals.items():
        assert low <= alone.values[key] <= high
    assert set(alone.intervals) == set(alone.values)  # task cells and all averages
    avg_width = np.subtract(*alone.intervals["avg"][::-1])
    assert avg_width < np.subtract(*alone.intervals["seen:cub"][::-1])  # 12 tasks average out


def test_significance_marks_a_clear_winner_only(tmp_path):
    strong = full_run(tmp_path / "s", "strong", 0.8, n=200)
    weak = full_run(tmp_path / "w", "weak", 0.3, n=200)
    near = full_run(tmp_path / "n", "near", 0.79, n=200)
    tables = leaderboard_tables([strong, weak])
    assert "avg" in cell(tables, 1, "strong").significant and not cell(tables, 1, "weak").significant
    tables = leaderboard_tables([strong, near])
    assert "seen:cub" not in cell(tables, 1, "strong").significant


def test_compare_runs_paired_tests(tmp_path):
    a_scores = [1.0] * 8 + [0.0] * 2 + [1.0] * 5 + [0.0] * 5
    b_scores = [0.0] * 8 + [1.0] * 2 + [1.0] * 5 + [0.0] * 5
    a = write_run(tmp_path / "a", "a", {"cub_closed_seen": {"accuracy": a_scores}, "cars_closed_seen": {"accuracy": a_scores},
                                        "cub_open_seen": {"inclusion": a_scores, "ss_relative": [0.5] * 20}})
    b = write_run(tmp_path / "b", "b", {"cub_closed_seen": {"accuracy": b_scores}, "cars_closed_seen": {"accuracy": b_scores},
                                        "cub_open_seen": {"inclusion": b_scores, "ss_relative": [0.5] * 20}})
    comparison = compare_runs(load_run(a), load_run(b), 500, 0)
    by_key = {(r.task, r.metric): r for r in comparison.results}
    cub = by_key[("cub_closed_seen", "accuracy")]
    assert cub.difference.delta == pytest.approx(0.3) and cub.mcnemar.pvalue == pytest.approx(112 / 1024)
    assert cub.difference.ci_low <= 0.3 <= cub.difference.ci_high
    assert by_key[("cub_open_seen", "ss_relative")].mcnemar is None
    assert by_key[("cub_open_seen", "ss_relative")].difference.p_bootstrap == 1.0
    assert by_key[("average", "accuracy")].mcnemar is None and ("average", "inclusion") not in by_key
    text = format_comparison(comparison)
    assert "| cub_closed_seen | accuracy | 20 | 65.00 | 35.00 | +30.00 |" in text


def test_compare_refuses_different_protocols(tmp_path):
    a = write_run(tmp_path / "a", "a", {"cub_closed_seen": {"accuracy": constant(10, 0.5)}})
    b = write_run(tmp_path / "b", "b", {"cub_closed_seen": {"accuracy": constant(10, 0.5)}}, protocol="finebench", option_order="shuffled")
    with pytest.raises(MixedResultsError, match="scored the same way"):
        compare_runs(load_run(a), load_run(b), 100, 0)
