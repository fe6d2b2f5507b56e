"""Representation analyses (Fine-R1 §5.4): features from the tiny Qwen2.5-VL, the feature cache,
the linear probe, the taxonomy gap and PCA separability."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from finebench.analysis.features import (
    FeatureCache,
    FeatureKey,
    image_token_embeddings,
    last_token_states,
    text_embeddings,
)
from finebench.analysis.pca import linear_separability, pca_2d, plot_pca
from finebench.analysis.probe import train_linear_probe
from finebench.analysis.taxonomy import (
    Comparison,
    TaxonomyStats,
    compare_models,
    load_taxonomy,
    sample_comparisons,
    taxonomy_gap,
)
from finebench.util.errors import ConfigError

IMAGE_SIZES = ((40, 30), (90, 50), (60, 84), (84, 84))
"""(width, height): 1 to 9 image tokens each, so batches mix sequence lengths."""

TEXTS = ("Laysan Albatross", "Scarlet Tanager", "A", "Black and white Warbler with a long name")


@pytest.fixture(scope="module")
def loaded(tiny_model_dir: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    processor.tokenizer.padding_side = "left"
    return AutoModelForImageTextToText.from_pretrained(tiny_model_dir).eval(), processor


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in IMAGE_SIZES]


def _hidden_size(model: Any) -> int:
    return model.config.get_text_config().hidden_size


# --- features -------------------------------------------------------------------------------


def test_image_token_embeddings_are_finite_distinct_and_batch_size_invariant(
    loaded: tuple[Any, Any], images: list[Image.Image]
) -> None:
    model, processor = loaded
    done: list[int] = []
    one = image_token_embeddings(model, processor, images, batch_size=1)
    three = image_token_embeddings(model, processor, images, batch_size=3, progress=done.append)
    assert one.shape == (len(images), _hidden_size(model)) and one.dtype == np.float32
    assert np.isfinite(one).all()
    assert done == [3, 4]
    np.testing.assert_allclose(three, one, atol=1e-4)
    assert np.abs(one[0] - one[1]).max() > 1e-3  # the features see the image


def test_features_do_not_depend_on_padding_side(loaded: tuple[Any, Any], images: list[Image.Image]) -> None:
    model, processor = loaded

    def extract_all() -> list[np.ndarray]:
        return [
            image_token_embeddings(model, processor, images, batch_size=4),
            last_token_states(model, processor, images[0], TEXTS, batch_size=4),
            text_embeddings(model, processor, TEXTS, batch_size=4),
        ]

    left = extract_all()
    processor.tokenizer.padding_side = "right"
    try:
        right = extract_all()
    finally:
        processor.tokenizer.padding_side = "left"
    for a, b in zip(right, left, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_image_token_embeddings_need_an_image_token_id(images: list[Image.Image]) -> None:
    model = SimpleNamespace(config=SimpleNamespace())
    with pytest.raises(ValueError, match="no image_token_id"):
        image_token_embeddings(model, None, images, batch_size=2)


def test_last_token_states_are_batch_size_invariant(loaded: tuple[Any, Any], images: list[Image.Image]) -> None:
    model, processor = loaded
    questions = [f"Is the bird species {name}?" for name in TEXTS]
    one = last_token_states(model, processor, images[1], questions, batch_size=1)
    two = last_token_states(model, processor, images[1], questions, batch_size=2)
    assert one.shape == (len(questions), _hidden_size(model)) and np.isfinite(one).all()
    np.testing.assert_allclose(two, one, atol=1e-4)
    assert np.abs(one[0] - one[1]).max() > 1e-3


def test_text_embeddings_are_batch_size_invariant(loaded: tuple[Any, Any]) -> None:
    model, processor = loaded
    one = text_embeddings(model, processor, TEXTS, batch_size=1)
    three = text_embeddings(model, processor, TEXTS, batch_size=3)
    assert one.shape == (len(TEXTS), _hidden_size(model)) and np.isfinite(one).all()
    np.testing.assert_allclose(three, one, atol=1e-4)
    assert text_embeddings(model, processor, [], batch_size=2).shape == (0, _hidden_size(model))


def test_feature_cache_computes_each_key_once(tmp_path: Path) -> None:
    calls: list[str] = []

    def compute(tag: str, rows: int) -> Any:
        def run() -> np.ndarray:
            calls.append(tag)
            return np.arange(rows * 3, dtype=np.float32).reshape(rows, 3)

        return run

    key = FeatureKey.for_texts("hf:model|files=abc", "text_mean", ["Laysan Albatross", "Blue Jay"])
    first = FeatureCache(tmp_path / "features").get_or_compute(key, compute("first", 2))
    again = FeatureCache(tmp_path / "features").get_or_compute(key, compute("again", 2))
    np.testing.assert_array_equal(again, first)
    assert calls == ["first"]
    assert [p.suffix for p in (tmp_path / "features").iterdir()] == [".npz"]  # no temporary file left

    other_texts = FeatureKey.for_texts("hf:model|files=abc", "text_mean", ["Blue Jay", "Laysan Albatross"])
    other_model = FeatureKey.for_texts("hf:model|files=def", "text_mean", ["Laysan Albatross", "Blue Jay"])
    other_kind = FeatureKey.for_texts("hf:model|files=abc", "last_token", ["Laysan Albatross", "Blue Jay"])
    for changed in (other_texts, other_model, other_kind):
        FeatureCache(tmp_path / "features").get_or_compute(changed, compute("changed", 2))
    assert calls == ["first", "changed", "changed", "changed"]
    with pytest.raises(ValueError, match=r"shape \(3, 3\) for 2 inputs"):
        FeatureCache(tmp_path / "features").get_or_compute(
            FeatureKey.for_texts("m", "k", ["a", "b"]), compute("bad", 3)
        )


def test_feature_key_of_images_changes_when_a_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "bird.png"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(path)
    before = FeatureKey.for_images("m", "image_tokens", [path])
    assert FeatureKey.for_images("m", "image_tokens", [tmp_path / "." / "bird.png"]) == before
    Image.new("RGB", (9, 8), (1, 2, 3)).save(path)
    os.utime(path, ns=(1, 1))
    assert FeatureKey.for_images("m", "image_tokens", [path]).digest() != before.digest()


# --- linear probe ---------------------------------------------------------------------------


def _blobs(rng: np.random.Generator, centres: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, len(centres), n)
    return centres[labels] + rng.normal(0.0, 1.0, (n, centres.shape[1])), labels


def test_probe_separates_gaussian_blobs_and_is_seeded() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(0.0, 3.0, (4, 16))
    (train_x, train_y), (test_x, test_y) = _blobs(rng, centres, 200), _blobs(rng, centres, 100)
    names = np.array(["albatross", "jay", "tanager", "wren"])[train_y]  # any sortable labels
    test_names = np.array(["albatross", "jay", "tanager", "wren"])[test_y]
    result = train_linear_probe(train_x, names, test_x, test_names, epochs=100, lr=1e-2)
    assert result.best_test_accuracy >= 0.95 and result.train_accuracy >= 0.95
    assert 1 <= result.best_epoch <= 100 and result.final_test_accuracy <= result.best_test_accuracy
    assert (result.n_train, result.n_test, result.n_classes) == (200, 100, 4)
    assert train_linear_probe(train_x, names, test_x, test_names, epochs=100, lr=1e-2) == result


def test_probe_on_random_labels_stays_near_chance() -> None:
    rng = np.random.default_rng(1)
    train_x, test_x = rng.normal(size=(300, 16)), rng.normal(size=(300, 16))
    result = train_linear_probe(train_x, rng.integers(0, 4, 300), test_x, rng.integers(0, 4, 300), epochs=50, lr=1e-2)
    assert result.final_test_accuracy < 0.35 and result.best_test_accuracy < 0.4


@pytest.mark.parametrize(
    ("train_x", "train_y", "test_x", "test_y", "message"),
    [
        (np.ones((3, 2)), [0, 1, 0], np.ones((2, 3)), [0, 1], "2 features per row but test_x has 3"),
        (np.ones((0, 2)), [], np.ones((2, 2)), [0, 1], "non-empty"),
        (np.ones((3, 2)), [0, 1], np.ones((2, 2)), [0, 1], "2 train labels for 3 rows"),
        (np.ones((3, 2)), [0, 1, 0], np.ones((2, 2)), [0, 2], r"1 test label\(s\) never occur in training, e.g. 2"),
    ],
)
def test_probe_rejects_bad_inputs(
    train_x: np.ndarray, train_y: list[int], test_x: np.ndarray, test_y: list[int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        train_linear_probe(train_x, train_y, test_x, test_y, epochs=1)


# --- taxonomy -------------------------------------------------------------------------------

TAXONOMY = """\
# CUB, a few species
Laysan Albatross\tPhoebastria immutabilis
Black footed Albatross\tPhoebastria nigripes

Blue Jay\tCyanocitta cristata
Steller Jay\tCyanocitta stelleri
Green Jay\tCyanocorax yncas
Scarlet Tanager\tPiranga olivacea
Summer Tanager\tPiranga rubra
"""


def test_load_taxonomy_maps_common_names_to_genera(tmp_path: Path) -> None:
    path = tmp_path / "cub.txt"
    path.write_text(TAXONOMY, encoding="utf-8")
    genus_of = load_taxonomy(path)
    assert genus_of["Laysan Albatross"] == "Phoebastria" and genus_of["Green Jay"] == "Cyanocorax"
    assert len(genus_of) == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Blue Jay\tCyanocitta cristata\nGreen Jay Cyanocorax yncas\n", r"cub\.txt:2: expected 'Common Name<TAB>"),
        ("\n# c\nBlue Jay\tCyanocitta\n", r"cub\.txt:3: expected"),
        ("Blue Jay\tCyanocitta cristata\nBlue Jay\tCyanocitta stelleri\n", r"cub\.txt:2: species 'Blue Jay'"),
    ],
)
def test_load_taxonomy_names_the_bad_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "cub.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_taxonomy(path)


def _genus_of(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "cub.txt"
    path.write_text(TAXONOMY, encoding="utf-8")
    return load_taxonomy(path)


def test_sample_comparisons_are_seeded_and_independent_of_dict_order(tmp_path: Path) -> None:
    genus_of = _genus_of(tmp_path)
    comparisons = sample_comparisons(genus_of, n_inter=3, seed=7)
    assert [c.species for c in comparisons] == sorted(set(genus_of) - {"Green Jay"})  # its genus is alone
    for c in comparisons:
        assert c.intra != c.species and genus_of[c.intra] == genus_of[c.species]
        assert len(set(c.inter)) == 3 and all(genus_of[o] != genus_of[c.species] for o in c.inter)
    reversed_dict = dict(reversed(list(genus_of.items())))
    assert sample_comparisons(reversed_dict, n_inter=3, seed=7) == comparisons
    assert any(sample_comparisons(genus_of, n_inter=3, seed=s) != comparisons for s in range(5))
    with pytest.raises(ValueError, match="fewer than n_inter=6"):
        sample_comparisons(genus_of, n_inter=6)


def test_taxonomy_gap_on_hand_made_embeddings() -> None:
    comparisons = [Comparison("a", "b", ("c", "d")), Comparison("b", "a", ("c",)), Comparison("c", "d", ("a",))]
    embeddings = {
        "a": np.array([1.0, 0.0]),
        "b": np.array([1.0, 1.0]),
        "c": np.array([0.0, 2.0]),
        "d": np.array([-1.0, 1.0]),
    }
    stats = taxonomy_gap(comparisons, embeddings)
    r = np.sqrt(0.5)
    intra, inter = np.array([r, r, r]), np.array([(0.0 - r) / 2, r, 0.0])  # cosines worked out by hand
    assert stats.n == 3
    assert stats.mean_intra == pytest.approx(intra.mean()) and stats.mean_inter == pytest.approx(inter.mean())
    assert stats.mean_difference == pytest.approx((intra - inter).mean())
    from scipy import stats as scipy_stats

    expected = scipy_stats.ttest_1samp(intra - inter, 0.0)
    assert stats.t_statistic == pytest.approx(expected.statistic) and stats.p_value == pytest.approx(expected.pvalue)
    with pytest.raises(ValueError, match="no embedding for 1 species, e.g. 'd'"):
        taxonomy_gap(comparisons, {k: v for k, v in embeddings.items() if k != "d"})


def test_taxonomy_gap_is_positive_when_embeddings_cluster_by_genus(tmp_path: Path) -> None:
    genus_of = _genus_of(tmp_path)
    rng = np.random.default_rng(0)
    centre = {genus: rng.normal(size=32) for genus in sorted(set(genus_of.values()))}
    embeddings = {name: centre[genus] + 0.3 * rng.normal(size=32) for name, genus in genus_of.items()}
    stats = taxonomy_gap(sample_comparisons(genus_of, n_inter=3), embeddings)
    assert stats.mean_difference > 0.5 and stats.p_value < 0.01


def test_compare_models_puts_models_side_by_side() -> None:
    base = TaxonomyStats(n=150, mean_intra=0.61, mean_inter=0.55, mean_difference=0.06, t_statistic=4.2,
                         p_value=3e-5)
    tuned = TaxonomyStats(n=150, mean_intra=0.7, mean_inter=0.5, mean_difference=0.2, t_statistic=9.87,
                          p_value=1e-12)
    table = compare_models({"Qwen2.5-VL-7B": base, "Fine-R1-7B": tuned}).splitlines()
    assert table[0] == "| statistic | Qwen2.5-VL-7B | Fine-R1-7B |"
    assert "| mean difference | +0.0600 | +0.2000 |" in table
    assert "| p | 3.00e-05 | 1.00e-12 |" in table
    assert len(table) == 8


# --- PCA ------------------------------------------------------------------------------------


def test_pca_2d_orders_axes_by_variance_and_fixes_signs() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 5)) * np.array([10.0, 3.0, 1.0, 0.5, 0.1]) + 7.0
    points = pca_2d(x)
    assert points.shape == (100, 2)
    np.testing.assert_allclose(points.mean(axis=0), 0.0, atol=1e-9)
    assert points[:, 0].var() > points[:, 1].var()
    assert np.corrcoef(points[:, 0], x[:, 0])[0, 1] > 0.99  # the dominant loading is positive
    assert np.corrcoef(points[:, 1], x[:, 1])[0, 1] > 0.9
    order = rng.permutation(100)
    np.testing.assert_allclose(pca_2d(x[order]), points[order], atol=1e-9)
    with pytest.raises(ValueError, match="n, d >= 2"):
        pca_2d(np.ones((5, 1)))


def test_linear_separability_of_separable_and_identical_groups() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 100)
    x = rng.normal(size=(200, 20))
    assert linear_separability(x, labels) < 0.7
    x[:, 0] += 6.0 * labels
    assert linear_separability(x, labels) >= 0.95
    assert linear_separability(x, labels == 1, folds=3, seed=1) >= 0.95  # booleans work as labels
    with pytest.raises(ValueError, match="at least `folds` rows per class"):
        linear_separability(x[:103], labels[:103])


def test_plot_pca_writes_a_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "plots" / "pca.png"
    plot_pca(rng.normal(size=(30, 2)), rng.integers(0, 2, 30), path, title="Qwen2.5-VL-7B, CUB")
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert [p.name for p in path.parent.iterdir()] == ["pca.png"]
    with pytest.raises(ValueError, match="labels must be in 0..1"):
        plot_pca(np.zeros((2, 2)), [0, 2], path, title="t")
