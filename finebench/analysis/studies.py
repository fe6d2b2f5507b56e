"""The three representation studies of the paper's §5.4, end to end for any list of models:
load each model once, extract (or reuse cached) features, compute the statistic, and return plain
dicts that the CLI writes as JSON and markdown.

- H1 ``probe``: is the species linearly decodable from the LLM's image-token states? Features of
  the official train and test images of a dataset; a linear probe's best test accuracy.
- H2 ``taxonomy``: do species-name embeddings follow the genus structure?
- H3 ``pca``: are correct and incorrect "Is the bird species {name}?" questions separable in the
  last hidden state? A 2-D PCA plot per model and a cross-validated separability score.

Models are loaded through the hf adapter (hidden states need transformers), so cards, local
checkpoints (``hf:PATH``) and the tiny built-in model all work; features are cached under the
output folder keyed by the adapter fingerprint, so re-running with other probe settings or seeds
skips extraction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from finebench.analysis.features import (
    DEFAULT_IMAGE_PROMPT,
    FeatureCache,
    FeatureKey,
    image_token_embeddings,
    last_token_states,
    text_embeddings,
)
from finebench.util.errors import FinebenchError

ProgressFactory = Callable[[str, int], Callable[[int], None]]
"""(description, total) -> callback(n_done); the CLI passes a rich progress bar."""

PCA_QUESTION = "Is the bird species {name}?"


@dataclass(frozen=True)
class LoadedModel:
    name: str
    model: Any
    processor: Any
    fingerprint: str


def load_model(name: str, device: str = "auto") -> LoadedModel:
    """A card name or ``hf:PATH`` loaded with transformers (whatever the card's backend)."""
    from dataclasses import replace

    from finebench.adapters.factory import RuntimeOptions
    from finebench.adapters.hf import HFAdapter
    from finebench.models.cards import resolve_model

    card = resolve_model(name)
    if card.adapter not in ("hf", "vllm"):
        raise FinebenchError(f"model {name!r} uses the {card.adapter} adapter; the analyses need a transformers checkpoint")
    adapter = HFAdapter.from_card(replace(card, adapter="hf"), RuntimeOptions(device=device))
    return LoadedModel(name, adapter.model, adapter.processor, adapter.fingerprint())


def _no_progress(_description: str, _total: int) -> Callable[[int], None]:
    return lambda _done: None


def _load_images(paths: Sequence[Path]) -> list[Any]:
    from finebench.evaluation.plan import load_image

    images = []
    for path in paths:
        try:
            images.append(load_image(path))
        except FileNotFoundError:
            raise FinebenchError(f"image not found: {path}") from None
        except Exception as exc:
            raise FinebenchError(f"cannot decode image {path}: {type(exc).__name__}: {exc}") from exc
    return images


def cached_image_features(
    loaded: LoadedModel, paths: Sequence[Path], cache: FeatureCache, *, batch_size: int,
    progress: Callable[[int], None], prompt: str = DEFAULT_IMAGE_PROMPT,
) -> np.ndarray:
    key = FeatureKey.for_images(loaded.fingerprint, f"image_tokens:{prompt}", paths)
    return cache.get_or_compute(key, lambda: image_token_embeddings(
        loaded.model, loaded.processor, _load_images(paths), batch_size=batch_size, prompt=prompt, progress=progress))


# ---- H1: linear probe ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeSettings:
    epochs: int = 500
    lr: float = 1e-4
    batch_size: int = 512
    seed: int = 0
    max_per_class: int | None = None
    """Cap on images per class and split (seeded choice), for a quicker probe on a large dataset."""


def probe_split(records: Sequence[Any], split: str, max_per_class: int | None, seed: int) -> list[Any]:
    """The records of one official split, at most ``max_per_class`` per class (seeded, in order)."""
    import random

    chosen = [r for r in records if r.split == split]
    if max_per_class is None:
        return chosen
    by_class: dict[str, list[Any]] = {}
    for record in chosen:
        by_class.setdefault(record.class_name, []).append(record)
    rng = random.Random(seed)
    keep = {id(r) for group in by_class.values() for r in (rng.sample(group, max_per_class) if len(group) > max_per_class else group)}
    return [r for r in chosen if id(r) in keep]


def probe_study(
    models: Sequence[LoadedModel], manifest: Any, data_root: Path, cache: FeatureCache, settings: ProbeSettings, *,
    batch_size: int = 8, progress: ProgressFactory = _no_progress, device: str = "cpu",
) -> dict[str, Any]:
    """Per model: the probe result on the manifest's train/test records (paper: CUB)."""
    from finebench.analysis.probe import train_linear_probe

    train = probe_split(manifest.records, "train", settings.max_per_class, settings.seed)
    test = probe_split(manifest.records, "test", settings.max_per_class, settings.seed)
    if not train or not test:
        raise FinebenchError(f"{manifest.dataset}: the probe needs train and test images ({len(train)} and {len(test)} found)")
    results = {}
    for loaded in models:
        features = {}
        for split, records in (("train", train), ("test", test)):
            paths = [Path(data_root) / r.image_path for r in records]
            features[split] = cached_image_features(
                loaded, paths, cache, batch_size=batch_size, progress=progress(f"{loaded.name} {split}", len(paths)))
        result = train_linear_probe(
            features["train"], [r.class_name for r in train], features["test"], [r.class_name for r in test],
            epochs=settings.epochs, lr=settings.lr, batch_size=settings.batch_size, seed=settings.seed, device=device)
        results[loaded.name] = asdict(result)
    return {"study": "probe", "dataset": manifest.dataset, "settings": asdict(settings), "models": results}


# ---- H2: taxonomy ----------------------------------------------------------------------------------


def taxonomy_study(
    models: Sequence[LoadedModel], genus_of: dict[str, str], cache: FeatureCache, *,
    n_inter: int = 4, seed: int = 0, batch_size: int = 32,
) -> dict[str, Any]:
    from finebench.analysis.taxonomy import sample_comparisons, taxonomy_gap

    comparisons = sample_comparisons(genus_of, n_inter=n_inter, seed=seed)
    if len(comparisons) < 2:
        raise FinebenchError(f"the taxonomy has {len(comparisons)} species with a same-genus partner; at least 2 are needed")
    names = sorted({n for c in comparisons for n in (c.species, c.intra, *c.inter)})
    results = {}
    for loaded in models:
        key = FeatureKey.for_texts(loaded.fingerprint, "name_embedding", names)
        vectors = cache.get_or_compute(key, lambda m=loaded: text_embeddings(m.model, m.processor, names, batch_size=batch_size))
        results[loaded.name] = asdict(taxonomy_gap(comparisons, dict(zip(names, vectors))))
    return {"study": "taxonomy", "n_species": len(genus_of), "n_comparisons": len(comparisons), "n_inter": n_inter,
            "seed": seed, "models": results}


# ---- H3: PCA of correct vs incorrect names ----------------------------------------------------------


def pca_questions(items: Sequence[Any], question: str) -> list[tuple[str, str, bool]]:
    """(image path, question, is the name correct) for every option of every item."""
    return [(item.image_path, question.format(name=option), option == item.ground_truth)
            for item in items for option in item.options]


def check_pca_items(items: Sequence[Any], folds: int, where: str) -> None:
    """Enough questions of each kind for ``folds``-fold cross-validation, checked before any model
    loads (the separability score needs at least ``folds`` correct and ``folds`` incorrect names)."""
    rows = pca_questions(items, "{name}")
    correct = sum(1 for _, _, ok in rows if ok)
    if folds < 2 or min(correct, len(rows) - correct) < folds:
        raise FinebenchError(
            f"{where}: {len(items)} item(s) give {correct} correct and {len(rows) - correct} incorrect names; "
            f"{folds}-fold cross-validation needs at least {max(folds, 2)} of each (more items, or a smaller --folds >= 2)"
        )


def pca_study(
    models: Sequence[LoadedModel], items: Sequence[Any], data_root: Path, cache: FeatureCache, out_dir: Path, *,
    question: str = PCA_QUESTION, folds: int = 5, seed: int = 0, batch_size: int = 8,
    progress: ProgressFactory = _no_progress,
) -> dict[str, Any]:
    from finebench.analysis.pca import linear_separability, pca_2d, plot_pca

    rows = pca_questions(items, question)
    labels = [int(correct) for _, _, correct in rows]
    results = {}
    for loaded in models:
        images = FeatureKey.for_images(loaded.fingerprint, "", [Path(data_root) / p for p, _, _ in rows]).inputs
        key = FeatureKey(loaded.fingerprint, "last_token", tuple(f"{image}|{q}" for image, (_, q, _) in zip(images, rows)))

        def extract(m: LoadedModel = loaded) -> np.ndarray:
            tick = progress(f"{m.name} questions", len(rows))
            states = []
            for item in items:
                image = _load_images([Path(data_root) / item.image_path])[0]
                texts = [question.format(name=o) for o in item.options]
                states.append(last_token_states(m.model, m.processor, image, texts, batch_size=batch_size))
                tick(sum(len(s) for s in states))
            return np.concatenate(states)

        states = cache.get_or_compute(key, extract)
        png = Path(out_dir) / f"pca_{_slug(loaded.name)}.png"
        plot_pca(pca_2d(states), labels, png, title=f"{loaded.name}: {question}")
        results[loaded.name] = {"separability": linear_separability(states, labels, folds=folds, seed=seed),
                                "plot": png.name, "n_correct": sum(labels), "n_incorrect": len(labels) - sum(labels)}
    # one correct option per item: always answering "incorrect" already scores this much
    chance = max(sum(labels), len(labels) - sum(labels)) / len(labels) if labels else 0.0
    return {"study": "pca", "question": question, "n_items": len(items), "folds": folds, "seed": seed,
            "majority_baseline": chance, "models": results}


def _slug(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"
