"""H2 of the Fine-R1 paper (§5.4): do a model's species-name embeddings follow the taxonomy?

For each species that shares its genus with another species, the cosine similarity of its name
embedding to one same-genus ("intra") species is compared with its mean similarity to a few
other-genus ("inter") species; a one-sample t-test asks whether the differences are above zero.
Running it on two models' embeddings over the same comparisons tells whether fine-tuning moved
the text space closer to the taxonomy.

Taxonomy file format: plain UTF-8 text, one species per line,
``Common Name<TAB>Genus species``, e.g. ``Laysan Albatross\tPhoebastria immutabilis``; the genus
is the first word of the scientific name, which must have at least two words. Blank lines and
lines starting with ``#`` (after leading whitespace) are ignored. A malformed line, or a common
name given twice, raises ``ConfigError`` with the file and 1-based line number.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from finebench.util.errors import ConfigError


@dataclass(frozen=True)
class Comparison:
    species: str
    intra: str
    """A species of the same genus."""
    inter: tuple[str, ...]
    """Species of other genera."""


@dataclass(frozen=True)
class TaxonomyStats:
    n: int
    mean_intra: float
    mean_inter: float
    mean_difference: float
    t_statistic: float
    p_value: float
    """Two-sided, of ``scipy.stats.ttest_1samp(differences, 0)``."""


def load_taxonomy(path: Path) -> dict[str, str]:
    """Common species name -> genus, in file order."""
    path = Path(path)
    genus_of: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{path}:{number}"
        fields = [field.strip() for field in line.split("\t")]
        if len(fields) != 2 or not fields[0] or len(fields[1].split()) < 2:
            raise ConfigError(f"{where}: expected 'Common Name<TAB>Genus species', got {line!r}")
        name, scientific = fields
        if name in genus_of:
            raise ConfigError(f"{where}: species {name!r} is listed twice")
        genus_of[name] = scientific.split()[0]
    return genus_of


def sample_comparisons(genus_of: Mapping[str, str], *, n_inter: int = 4, seed: int = 0) -> list[Comparison]:
    """One comparison per species with a same-genus partner, sorted by species name.

    Species and candidates are visited in sorted order, so the result depends on the seed and the
    mapping's contents, not on its insertion order.
    """
    if n_inter < 1:
        raise ValueError(f"n_inter must be at least 1, got {n_inter}")
    by_genus: dict[str, list[str]] = {}
    for name in sorted(genus_of):
        by_genus.setdefault(genus_of[name], []).append(name)
    rng = random.Random(seed)
    comparisons = []
    for name in sorted(genus_of):
        partners = [other for other in by_genus[genus_of[name]] if other != name]
        if not partners:
            continue
        others = [other for other in sorted(genus_of) if genus_of[other] != genus_of[name]]
        if len(others) < n_inter:
            raise ValueError(f"{name!r} has {len(others)} other-genus species, fewer than n_inter={n_inter}")
        comparisons.append(Comparison(name, rng.choice(partners), tuple(rng.sample(others, n_inter))))
    return comparisons


def taxonomy_gap(comparisons: Sequence[Comparison], embeddings: Mapping[str, np.ndarray]) -> TaxonomyStats:
    """Per species ``cos(species, intra) - mean_k cos(species, inter_k)``, summarised and t-tested."""
    from scipy import stats

    if len(comparisons) < 2:
        raise ValueError(f"a t-test needs at least 2 comparisons, got {len(comparisons)}")
    missing = sorted({n for c in comparisons for n in (c.species, c.intra, *c.inter) if n not in embeddings})
    if missing:
        raise ValueError(f"no embedding for {len(missing)} species, e.g. {', '.join(map(repr, missing[:5]))}")
    intra = np.array([_cosine(embeddings[c.species], embeddings[c.intra]) for c in comparisons])
    inter = np.array(
        [np.mean([_cosine(embeddings[c.species], embeddings[o]) for o in c.inter]) for c in comparisons]
    )
    differences = intra - inter
    test = stats.ttest_1samp(differences, 0.0)
    return TaxonomyStats(
        n=len(comparisons),
        mean_intra=float(intra.mean()),
        mean_inter=float(inter.mean()),
        mean_difference=float(differences.mean()),
        t_statistic=float(test.statistic),
        p_value=float(test.pvalue),
    )


def compare_models(stats_by_model: Mapping[str, TaxonomyStats]) -> str:
    """A markdown table with one column per model and one row per statistic."""
    rows = (
        ("n", lambda s: str(s.n)),
        ("mean cos intra-genus", lambda s: f"{s.mean_intra:.4f}"),
        ("mean cos inter-genus", lambda s: f"{s.mean_inter:.4f}"),
        ("mean difference", lambda s: f"{s.mean_difference:+.4f}"),
        ("t", lambda s: f"{s.t_statistic:.2f}"),
        ("p", lambda s: f"{s.p_value:.2e}"),
    )
    models = list(stats_by_model)
    header = " | ".join(model.replace("|", "\\|") for model in models)
    lines = [f"| statistic | {header} |", "| --- |" + " ---: |" * len(models)]
    lines += [f"| {label} | " + " | ".join(fmt(stats_by_model[m]) for m in models) + " |" for label, fmt in rows]
    return "\n".join(lines) + "\n"


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
