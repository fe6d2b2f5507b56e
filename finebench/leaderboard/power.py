"""Power analysis for paired comparisons: how many items a task needs before a difference of
``effect`` (accuracy, as a fraction) between two models on the same items is detectable, and the
smallest difference the task sizes at hand can detect.

Two models scored on the same n items are compared by McNemar's test, which looks only at the
discordant items (one model right, the other wrong). With ``psi`` the probability that an item is
discordant and ``delta = p_B - p_A`` the accuracy difference, the normal approximation of the
test (Connor 1987; Lachin 1992) gives, for a two-sided level ``alpha`` and power ``1 - beta``::

    n = ( z_{1-alpha/2} * sqrt(psi) + z_{1-beta} * sqrt(psi - delta^2) )^2 / delta^2
    power(n) = Phi( (sqrt(n) * |delta| - z_{1-alpha/2} * sqrt(psi)) / sqrt(psi - delta^2) )

``psi`` is what the per-item agreement of models decides (always ``|delta| <= psi <= 1``):

- two baseline runs on the same items: measured, ``psi = mean_i [a_i (1 - b_i) + b_i (1 - a_i)]``
  with ``a_i``, ``b_i`` the items' scores averaged over trials ("measured from two runs");
- one baseline run: its accuracy ``p`` and independence of the two models' errors,
  ``psi = p (1 - p - delta) + (p + delta) (1 - p)`` ("independence at the baseline's accuracy").
  Models of one family err on the same hard items, which makes ``psi`` smaller; independence is
  the conservative (larger ``n``) assumption when only one run is known;
- no baseline: independence at an assumed accuracy (0.5 by default, the largest ``psi``).

``tests/test_power.py`` checks ``n`` and the power against a simulation of McNemar's test.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from finebench.util.errors import FinebenchError

_NORMAL = NormalDist()


def z(quantile: float) -> float:
    return _NORMAL.inv_cdf(quantile)


def check_levels(alpha: float, power: float) -> None:
    if not 0 < alpha < 1:
        raise FinebenchError(f"--alpha must be in (0, 1), got {alpha}")
    if not 0 < power < 1:
        raise FinebenchError(f"--power must be in (0, 1), got {power}")


def independent_discordance(accuracy: float, delta: float) -> float:
    """P(exactly one model right) when A has ``accuracy``, B ``accuracy + delta``, errors independent."""
    other = accuracy + delta
    return accuracy * (1 - other) + other * (1 - accuracy)


def measured_discordance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean per-item probability that exactly one model is right (item scores in [0, 1])."""
    return float(np.mean(a * (1 - b) + b * (1 - a)))


def items_needed(delta: float, psi: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Items for McNemar's test to detect ``delta`` with probability ``power`` at level ``alpha``."""
    check_levels(alpha, power)
    delta = abs(delta)
    if delta == 0:
        raise FinebenchError("the effect must be non-zero")
    psi = max(psi, delta)  # fewer discordant items than |delta| is impossible
    n = (z(1 - alpha / 2) * math.sqrt(psi) + z(power) * math.sqrt(max(psi - delta**2, 0.0))) ** 2 / delta**2
    return math.ceil(n - 1e-9)


def power_at(n: int, delta: float, psi: float, alpha: float = 0.05) -> float:
    """Probability that McNemar's test at level ``alpha`` detects ``delta`` on ``n`` items."""
    delta = abs(delta)
    if n <= 0 or delta == 0:
        return alpha if delta == 0 else 0.0
    psi = max(psi, delta)
    spread = math.sqrt(max(psi - delta**2, 1e-12))
    return _NORMAL.cdf((math.sqrt(n) * delta - z(1 - alpha / 2) * math.sqrt(psi)) / spread)


def detectable_effect(n: int, psi_of: Callable[[float], float], alpha: float = 0.05, power: float = 0.8,
                      upper: float = 1.0) -> float | None:
    """The smallest ``delta`` in (0, upper] that ``n`` items detect with ``power`` (None: none does);
    ``psi_of(delta)`` gives the discordance at that effect."""
    check_levels(alpha, power)
    if n <= 0 or items_needed(upper, psi_of(upper), alpha, power) > n:
        return None
    low, high = 0.0, upper
    for _ in range(60):  # items_needed falls as delta grows
        mid = (low + high) / 2
        if mid > 0 and items_needed(mid, psi_of(mid), alpha, power) <= n:
            high = mid
        else:
            low = mid
    return high


@dataclass(frozen=True)
class TaskPower:
    task: str
    effect: float
    available: int | None
    """Items the task has (the baseline's item file count, or the item file's), if known."""
    accuracy: float
    psi: float
    """Discordance at ``effect``."""
    psi_source: str
    needed: int
    power_available: float | None
    detectable: float | None
    """Smallest effect detectable on ``available`` items."""


def plan_task(task: str, effect: float, *, alpha: float, power: float, available: int | None, accuracy: float,
              measured: float | None = None) -> TaskPower:
    """The numbers for one task; ``measured`` is a discordance measured from two runs."""
    if measured is not None:
        def psi_of(_delta: float) -> float:
            return measured
        source = "measured from two runs"
        upper = 1.0
    else:
        def psi_of(delta: float) -> float:
            return independent_discordance(accuracy, delta)
        source = f"independence at accuracy {accuracy:.3f}"
        upper = 1.0 - accuracy
    if upper <= 0:
        raise FinebenchError(f"task {task}: a baseline accuracy of {accuracy:.3f} leaves no room for an improvement")
    if measured is None and abs(effect) > upper:
        raise FinebenchError(f"task {task}: an effect of {effect} exceeds 1 - baseline accuracy ({upper:.3f})")
    psi = psi_of(effect)
    return TaskPower(
        task=task, effect=effect, available=available, accuracy=accuracy, psi=psi, psi_source=source,
        needed=items_needed(effect, psi, alpha, power),
        power_available=power_at(available, effect, psi, alpha) if available else None,
        detectable=detectable_effect(available, psi_of, alpha, power, upper) if available else None,
    )


def format_plan(rows: Sequence[TaskPower], alpha: float, power: float) -> str:
    header = (f"# paired McNemar test, two-sided alpha {alpha}, power {power}; effect = accuracy difference "
              "(fraction); psi = discordant-item probability\n")
    columns = ("task", "items", "accuracy", "psi", "psi from", "effect", "items needed", "power at items", "detectable effect")
    lines = ["\t".join(columns)]
    for r in rows:
        lines.append("\t".join([
            r.task, str(r.available) if r.available else "?", f"{r.accuracy:.3f}", f"{r.psi:.4f}", r.psi_source,
            f"{r.effect:g}", str(r.needed), f"{r.power_available:.3f}" if r.power_available is not None else "?",
            f"{r.detectable:.4f}" if r.detectable is not None else ("?" if r.available is None else "none"),
        ]))
    return header + "\n".join(lines) + "\n"
