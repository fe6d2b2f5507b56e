"""The ablation benchmark's switches and statistics (fast; the runs themselves are in test_ablation.py).

Each stage-2 variant must switch exactly its augmentations on the shipped recipe: intra-class is
the pooled group of anchor + positive rollouts (n_positive > 0), inter-class the KL and double
entropy terms on the negative image (gamma, eta_policy, eta_negative); everything else is the
recipe's, so the variants differ in nothing but the two switches.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict
from pathlib import Path

import pytest

from finebench.training.tapo.config import load_tapo_config
from finebench.training.tapo.sampling import POSITIVE, conditioning_sources

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_ablation", REPO / "benchmarks" / "bench_ablation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def recipe(bench, variant: str):
    return load_tapo_config(REPO / "training" / "synth-tapo.yaml", ["model=m", "train_data=t.json", *bench.VARIANTS[variant]])


def test_each_variant_switches_exactly_its_augmentations(bench) -> None:
    configs = {variant: recipe(bench, variant) for variant in bench.VARIANTS}
    assert list(configs) == ["dapo", "+intra", "+inter", "tapo"]
    intra = {v: POSITIVE in conditioning_sources(c.n_anchor, c.n_positive) for v, c in configs.items()}
    inter = {v: (c.gamma, c.eta_policy, c.eta_negative) != (0, 0, 0) for v, c in configs.items()}
    assert intra == {"dapo": False, "+intra": True, "+inter": False, "tapo": True}
    assert inter == {"dapo": False, "+intra": False, "+inter": True, "tapo": True}
    assert (configs["tapo"].gamma, configs["tapo"].eta_policy, configs["tapo"].eta_negative) == (0.01, 0.03, 0.03)
    assert {c.group_size for c in configs.values()} == {8}  # same rollouts per prompt everywhere
    switches = {"n_anchor", "n_positive", "gamma", "eta_policy", "eta_negative"}
    rest = [{k: v for k, v in asdict(c).items() if k not in switches} for c in configs.values()]
    assert all(r == rest[0] for r in rest)


def test_mean_interval_is_students_t_over_seeds(bench) -> None:
    mean, half = bench.mean_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(4.303 * 1.0 / 3 ** 0.5)
    assert bench.mean_interval([5.0]) == (5.0, 0.0)


def test_the_summary_and_table_carry_means_intervals_and_paired_p_values(bench) -> None:
    seeds = [1, 2]
    scores = {"sft": {t: 40.0 for t in bench.TASKS}}
    comparisons: dict = {}
    for k, variant in enumerate(bench.VARIANTS):
        for seed in seeds:
            scores[bench.variant_dir(Path(), variant, seed).name] = {t: 50.0 + k + seed for t in bench.TASKS}
            if variant != "dapo":
                comparisons.setdefault(variant, {})[str(seed)] = {t: {"delta": float(k), "p": 0.01 * seed}
                                                                   for t in bench.TASKS}
    summary = bench.summarise(scores, comparisons, seeds)
    closed_seen = bench.TASKS[0]
    assert summary["dapo"][closed_seen]["per_seed"] == [51.0, 52.0]
    assert summary["tapo"][closed_seen]["delta"] == 3.0 and summary["tapo"][closed_seen]["p_per_seed"] == [0.01, 0.02]
    text = bench.table({"summary": summary, "scores": scores, "seeds": seeds})
    assert "| tapo | 54.50 ± 6.35 |" in text  # mean of 54, 55; 12.706 * 0.5 / sqrt 2
    assert "+3.00 [+3.00, +3.00] p=0.01/0.02 (2 sig.)" in text


def test_a_subset_of_variants_must_keep_the_dapo_baseline(bench, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="include dapo"):
        bench.run(tmp_path, [1], jobs=1, variants=("+intra", "tapo"))
    assert not any(tmp_path.iterdir())  # refused before any work
