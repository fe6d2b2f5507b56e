"""`finebench power`: the McNemar sample-size formula against a simulation of the test, the
detectable effect as its inverse, and the command on generated runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from finebench.cli import app
from finebench.leaderboard.power import (
    detectable_effect,
    independent_discordance,
    items_needed,
    measured_discordance,
    plan_task,
    power_at,
    z,
)
from finebench.util.errors import FinebenchError


def simulated_power(rng: np.random.Generator, q_a: np.ndarray, q_b: np.ndarray, n: int, alpha: float, sims: int = 4000) -> float:
    """Fraction of `sims` paired experiments on `n` items drawn from the population (q_a[i], q_b[i]:
    each model's probability of getting item i right, independent given the item) in which
    McNemar's test (normal approximation, two-sided) rejects."""
    picks = rng.integers(0, len(q_a), size=(sims, n))
    a = rng.random((sims, n)) < q_a[picks]
    b = rng.random((sims, n)) < q_b[picks]
    n01 = (~a & b).sum(axis=1)
    n10 = (a & ~b).sum(axis=1)
    discordant = np.maximum(n01 + n10, 1)
    statistic = (n01 - n10) / np.sqrt(discordant)
    return float(np.mean(np.abs(statistic) > z(1 - alpha / 2)))


def test_textbook_value():
    # independence at p = 0.5: psi = .5 x .48 + .52 x .5 = 0.5, n = (1.96 sqrt(.5) + 0.8416 sqrt(.5 - .0004))^2 / .0004
    psi = independent_discordance(0.5, 0.02)
    assert psi == pytest.approx(0.5)
    assert items_needed(0.02, psi) == pytest.approx(9806, abs=3)
    assert power_at(items_needed(0.02, psi), 0.02, psi) == pytest.approx(0.80, abs=0.002)


@pytest.mark.parametrize("effect", [0.05, 0.08])
def test_items_needed_gives_the_promised_power_in_simulation(effect):
    rng = np.random.default_rng(0)
    # A population of items of varying difficulty; B is better by `effect` on average and, given the
    # item, errs independently of A: the two models agree more than independence would say.
    q_a = rng.beta(2.0, 1.5, size=20000)
    q_b = np.clip(q_a + effect * (1 - q_a) / np.mean(1 - q_a), 0, 1)
    delta = float(np.mean(q_b - q_a))
    psi = measured_discordance(q_a, q_b)
    assert psi < independent_discordance(float(np.mean(q_a)), delta)  # correlated: fewer discordant items
    n = items_needed(delta, psi, alpha=0.05, power=0.8)
    assert simulated_power(rng, q_a, q_b, n, 0.05) == pytest.approx(0.80, abs=0.03)
    # half the items: the formula's lower power is what the test achieves too
    half = n // 2
    assert simulated_power(rng, q_a, q_b, half, 0.05) == pytest.approx(power_at(half, delta, psi), abs=0.035)


def test_independent_models_and_type_one_error():
    rng = np.random.default_rng(1)
    p, effect = 0.6, 0.1
    q_a, q_b = np.full(1000, p), np.full(1000, p + effect)
    n = items_needed(effect, independent_discordance(p, effect), power=0.9)
    assert simulated_power(rng, q_a, q_b, n, 0.05) == pytest.approx(0.90, abs=0.025)
    assert simulated_power(rng, q_a, q_a, n, 0.05) == pytest.approx(0.05, abs=0.015)  # no effect: alpha


def test_detectable_effect_inverts_items_needed():
    def psi_of(delta):
        return independent_discordance(0.7, delta)

    for n in (100, 1000, 5000):
        delta = detectable_effect(n, psi_of, upper=0.3)
        assert items_needed(delta, psi_of(delta)) <= n < items_needed(delta * 0.98, psi_of(delta * 0.98))
    assert detectable_effect(3, psi_of, upper=0.3) is None  # three items detect nothing at 80%


def test_plan_task_and_bad_values():
    row = plan_task("t", 0.05, alpha=0.05, power=0.8, available=5000, accuracy=0.7)
    assert row.needed == items_needed(0.05, independent_discordance(0.7, 0.05))
    assert row.power_available > 0.8 and row.detectable < 0.05
    measured = plan_task("t", 0.05, alpha=0.05, power=0.8, available=None, accuracy=0.7, measured=0.1)
    assert measured.psi == 0.1 and measured.needed < row.needed and measured.detectable is None
    with pytest.raises(FinebenchError, match="exceeds 1 - baseline accuracy"):
        plan_task("t", 0.2, alpha=0.05, power=0.8, available=None, accuracy=0.9)
    with pytest.raises(FinebenchError, match="alpha"):
        items_needed(0.05, 0.5, alpha=1.5)


def write_run(folder: Path, task: str, correct: list[int], n_items_total: int) -> Path:
    folder.mkdir(parents=True)
    accuracy = 100 * sum(correct) / len(correct)
    (folder / "results.json").write_text(json.dumps({
        "results": {task: {"accuracy": accuracy, "n": len(correct)}},
        "tasks": {task: {"n_items_total": n_items_total}},
    }))
    rows = [{"doc_id": i, "trial": 0, "scores": {"accuracy": float(c)}} for i, c in enumerate(correct)]
    (folder / f"samples_{task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_power_command_with_one_and_two_baselines(tmp_path):
    task = "synth_closed_seen"
    a = write_run(tmp_path / "a", task, [1] * 60 + [0] * 40, 152)
    b = write_run(tmp_path / "b", task, [1] * 60 + [1] * 10 + [0] * 30, 152)  # 10 fixed, none broken
    runner = CliRunner()
    one = runner.invoke(app, ["power", "--tasks", task, "--effect", "0.05", "--baseline", str(a), "--json", str(tmp_path / "one.json")])
    assert one.exit_code == 0, one.output
    row = json.loads((tmp_path / "one.json").read_text())[0]
    assert row["available"] == 152 and row["accuracy"] == pytest.approx(0.6)
    assert row["psi"] == pytest.approx(independent_discordance(0.6, 0.05)) and "independence" in row["psi_source"]
    assert f"\t{row['needed']}\t" in one.output
    two = runner.invoke(app, ["power", "--tasks", task, "--effect", "0.05", "--baseline", str(a), "--baseline", str(b),
                              "--json", str(tmp_path / "two.json")])
    assert two.exit_code == 0, two.output
    measured = json.loads((tmp_path / "two.json").read_text())[0]
    assert measured["psi"] == pytest.approx(0.10) and measured["needed"] < row["needed"]
    bad = runner.invoke(app, ["power", "--tasks", task, "--effect", "0", "--baseline", str(a)])
    assert bad.exit_code != 0
