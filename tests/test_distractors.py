"""Hard (look-alike) distractors for `data build`: mined with the tiny CLIP on colour look-alike
classes, compared with uniform ones; the text fallback; the manifest record; bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from finebench.data.distractors import mine_neighbours, rank_by_similarity, source_file
from finebench.data.manifest import Manifest, build_items, release_questions
from finebench.data.official import read_official
from finebench.data.variant import build_benchmark
from finebench.util.errors import FinebenchError
from tests.test_official_readers import WRITERS, write_cub

LOOK_ALIKE = {"Red Cardinal": "Scarlet Tanager", "Blue Jay": "Indigo Bunting", "Green Jay": "Green Kingfisher"}
LOOK_ALIKE |= {b: a for a, b in LOOK_ALIKE.items()}


def _mean_colours(root: Path, manifest: Manifest) -> dict[str, np.ndarray]:
    """Each class's mean RGB over its images: the fixture's ground truth of visual similarity."""
    pixels: dict[str, list[np.ndarray]] = {}
    for record in manifest.records:
        with Image.open(root / record.image_path) as image:
            pixels.setdefault(record.class_name, []).append(np.asarray(image.convert("RGB"), dtype=float).mean((0, 1)))
    return {c: np.mean(v, axis=0) for c, v in pixels.items()}


@pytest.mark.parametrize("dataset", sorted(WRITERS))
def test_manifest_paths_map_into_the_official_folder(tmp_path, dataset):
    """The convention the miner relies on: <dataset folder>/<path inside the official folder>."""
    src = WRITERS[dataset](tmp_path / dataset)
    manifest = read_official(dataset, src)
    assert manifest.records and all(source_file(src, r.image_path).is_file() for r in manifest.records)
    with pytest.raises(FinebenchError, match="no dataset folder prefix"):
        source_file(src, "image.jpg")


def test_hard_options_are_measurably_closer_to_the_ground_truth_than_random(
    tmp_path, tiny_clip_dir, fgvr_train_root
):
    root, manifest = fgvr_train_root
    mined = mine_neighbours(manifest, root / "bird_200", cache_path=tmp_path / "e.sqlite", encoder=str(tiny_clip_dir))
    assert mined.similarity == f"image:hf:{tiny_clip_dir}" and mined.reason == ""
    tests = [r.image_path for r in manifest.records if r.split == "test"]
    assert sorted(mined.ranked) == sorted(tests)

    questions = release_questions("bird")
    hard = build_items(manifest, manifest.classes, questions, seed=0, neighbours=mined.ranked)
    uniform = build_items(manifest, manifest.classes, questions, seed=0)
    colours = _mean_colours(root, manifest)

    def distance(items) -> float:
        return float(np.mean([np.linalg.norm(colours[d] - colours[i.ground_truth]) for i in items for d in i.options[1:]]))

    def partner_shown(items) -> float:
        return float(np.mean([LOOK_ALIKE[i.ground_truth] in i.options for i in items]))

    assert all(i.options[0] == i.ground_truth and len(set(i.options)) == 4 for i in hard)
    assert partner_shown(hard) == 1.0 > partner_shown(uniform)
    assert distance(hard) < distance(uniform)
    # With one distractor it is the look-alike itself, for every item: about 6x closer in colour.
    pairs = build_items(manifest, manifest.classes, questions, n_options=2, neighbours=mined.ranked)
    uniform_pairs = build_items(manifest, manifest.classes, questions, n_options=2)
    assert all(i.options[1] == LOOK_ALIKE[i.ground_truth] for i in pairs)
    assert distance(pairs) < 0.5 * distance(uniform_pairs)
    # Hard options honour the pool, and the question draw is still seeded per item.
    pool = [c for c in manifest.classes if c != "Scarlet Tanager"]
    limited = build_items(manifest, ["Red Cardinal"], questions, neighbours=mined.ranked, distractor_pool=pool)
    assert all("Scarlet Tanager" not in i.options for i in limited)
    assert hard == build_items(manifest, manifest.classes, questions, seed=0, neighbours=mined.ranked)


def test_without_images_the_class_names_rank_the_classes(tmp_path, tiny_clip_dir, fgvr_train_root):
    root, manifest = fgvr_train_root
    shutil.copytree(root / "bird_200", tmp_path / "bird_200")
    removed = manifest.records[0].image_path
    (tmp_path / removed).unlink()
    mined = mine_neighbours(manifest, tmp_path / "bird_200", cache_path=tmp_path / "e.sqlite", encoder=str(tiny_clip_dir))
    assert mined.similarity == f"text:{tiny_clip_dir}"
    assert mined.reason.startswith("1 of 30 images are not under") and removed in mined.reason
    by_class = {}
    for record in manifest.records:
        if record.split == "test":
            by_class.setdefault(record.class_name, set()).add(mined.ranked[record.image_path])
    assert all(len(rankings) == 1 for rankings in by_class.values())  # per class, not per item
    assert all(record_class not in next(iter(r)) for record_class, r in by_class.items())


def test_ranking_excludes_the_own_class_and_breaks_ties_by_class_order():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.6, 0.8]])
    assert rank_by_similarity(np.array([1.0, 0.0]), ["a", "b", "c", "d"], vectors, "a") == ("c", "d", "b")
    assert rank_by_similarity(np.array([1.0, 0.0]), ["a", "b", "c", "d"], vectors, "c") == ("a", "d", "b")


def test_build_benchmark_records_mode_seed_and_encoder(tmp_path, tiny_clip_dir):
    src = write_cub(tmp_path / "CUB_200_2011")
    counts = build_benchmark("cub", src, tmp_path / "hard", seed=3, shots=1, encoder=str(tiny_clip_dir))
    meta = json.loads((tmp_path / "hard" / "bird_meta.json").read_text())
    assert meta["distractors"] == {"mode": "hard", "seed": 3, "encoder": str(tiny_clip_dir),
                                   "similarity": f"image:hf:{tiny_clip_dir}", "fallback_reason": "",
                                   "unranked_classes": []}
    assert counts["distractors"] == f"image:hf:{tiny_clip_dir}"
    assert (tmp_path / "hard" / "embeddings.sqlite").is_file()

    build_benchmark("cub", src, tmp_path / "again", seed=3, shots=1, encoder=str(tiny_clip_dir))
    for name in ("bird_seen.jsonl", "bird_unseen.jsonl", "bird_meta.json"):  # deterministic, cache or not
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / "hard" / name).read_bytes()

    build_benchmark("cub", src, tmp_path / "random", seed=3, shots=1, distractors="random")
    meta = json.loads((tmp_path / "random" / "bird_meta.json").read_text())
    assert meta["distractors"]["mode"] == "random" and meta["distractors"]["encoder"] is None
    assert not (tmp_path / "random" / "embeddings.sqlite").exists()


def test_bad_distractor_settings_are_refused_before_writing(tmp_path):
    src = write_cub(tmp_path / "CUB_200_2011")
    with pytest.raises(ValueError, match="distractors must be one of hard, random"):
        build_benchmark("cub", src, tmp_path / "out", distractors="nearest")
    with pytest.raises(FinebenchError, match=r"hard distractors need the encoder .*--distractors random"):
        build_benchmark("cub", src, tmp_path / "out", encoder=str(tmp_path / "no-such-model"))
    assert not (tmp_path / "out").exists()


def test_build_items_checks_the_neighbours(fgvr_train_root):
    _, manifest = fgvr_train_root
    test_path = next(r.image_path for r in manifest.records if r.split == "test")
    with pytest.raises(ValueError, match="no ranked neighbours for"):
        build_items(manifest, ["Red Cardinal"], ["q?"], neighbours={})
    short = {r.image_path: ("Blue Jay",) for r in manifest.records}
    with pytest.raises(ValueError, match=f"{test_path}: 3 distractors needed, its ranked neighbours give 1"):
        build_items(manifest, ["Red Cardinal"], ["q?"], neighbours=short)
