"""The few-shot training set: k train shots per seen class, and the leak guards (test images,
benchmark items, unseen classes) that every training-data builder inherits."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from finebench.data.manifest import Manifest, ManifestRecord, split_classes
from finebench.training.fewshot import (
    LeakError,
    TrainingSet,
    benchmark_images,
    build_training_set,
    split_from_items,
)

CLASSES = tuple(f"Class {i:02d}" for i in range(10))


def make_manifest(n_train: int = 6, n_test: int = 3) -> Manifest:
    records = []
    for c, name in enumerate(CLASSES):
        records += [ManifestRecord(f"ds/train/{c}_{j}.jpg", name, "train") for j in range(n_train)]
        records += [ManifestRecord(f"ds/test/{c}_{j}.jpg", name, "test") for j in range(n_test)]
    return Manifest("cub", tuple(records), CLASSES)


def test_k_train_shots_per_seen_class_and_nothing_else() -> None:
    manifest = make_manifest()
    seen, unseen = split_classes(manifest.classes, 0.6, seed=3)
    training = build_training_set(manifest, seen, unseen, k=4, seed=7)
    grouped = training.by_class()
    assert list(grouped) == seen and all(len(rs) == 4 for rs in grouped.values())
    assert {r.split for r in training.records} == {"train"}
    assert not {r.class_name for r in training.records} & set(unseen)
    test_images = {r.image_path for r in manifest.records if r.split == "test"}
    assert not {r.image_path for r in training.records} & test_images
    assert training.forbidden_images >= test_images
    # Seeded: the same seed gives the same shots, another seed other shots.
    assert build_training_set(manifest, seen, unseen, k=4, seed=7).records == training.records
    assert build_training_set(manifest, seen, unseen, k=4, seed=8).records != training.records


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("unseen_record", "unseen class 'Class 09'"),
        ("test_record", "official 'test' image, not train"),
        ("benchmark_image", "a test/benchmark image"),
        ("overlap", "both seen and unseen"),
        ("foreign_class", "is not a seen class"),
    ],
)
def test_a_leaking_training_set_cannot_be_built(change: str, message: str) -> None:
    manifest = make_manifest()
    seen, unseen = list(CLASSES[:6]), list(CLASSES[6:9])
    training = build_training_set(manifest, seen, unseen, k=2)
    records = list(training.records)
    if change == "unseen_record":
        unseen.append("Class 09")
        records.append(ManifestRecord("ds/train/9_0.jpg", "Class 09", "train"))
    elif change == "test_record":
        records.append(ManifestRecord("ds/test/0_0.jpg", "Class 00", "test"))
    elif change == "benchmark_image":
        with pytest.raises(LeakError, match=message):
            build_training_set(manifest, seen, unseen, k=6, benchmark_image_paths=["ds/train/0_5.jpg"])
        return
    elif change == "overlap":
        unseen.append(seen[0])
    else:
        records.append(ManifestRecord("ds/train/8_0.jpg", "Class 08", "train"))
        unseen.remove("Class 08")
    with pytest.raises(LeakError, match=message):
        TrainingSet(training.dataset, tuple(seen), tuple(unseen), tuple(records), 2, 0, training.forbidden_images)
    with pytest.raises(LeakError):  # dataclasses.replace goes through the same check
        replace(training, records=tuple(records), seen=tuple(seen), unseen=tuple(unseen))


def test_release_split_and_benchmark_images_come_from_item_files(tmp_path: Path) -> None:
    def write(name: str, rows: list[tuple[str, str]]) -> Path:
        path = tmp_path / name
        lines = [json.dumps({"image_path": img, "question": "q?", "options": [gt, "x", "y", "z"], "ground_truth": gt})
                 for img, gt in rows]
        path.write_text("\n".join(lines) + "\n")
        return path

    seen_file = write("bird_seen.jsonl", [("ds/test/1_0.jpg", "Class 01"), ("ds/test/0_0.jpg", "Class 00"),
                                          ("ds/test/1_1.jpg", "Class 01")])
    unseen_file = write("bird_unseen.jsonl", [("ds/test/5_0.jpg", "Class 05")])
    assert split_from_items(seen_file, unseen_file) == (["Class 01", "Class 00"], ["Class 05"])
    assert benchmark_images([seen_file, unseen_file]) == {
        "ds/test/1_0.jpg", "ds/test/0_0.jpg", "ds/test/1_1.jpg", "ds/test/5_0.jpg"}


def test_the_fixture_training_set_is_leak_free(fgvr_train_root: tuple[Path, Manifest]) -> None:
    _, manifest = fgvr_train_root
    training = build_training_set(manifest, manifest.classes[:4], manifest.classes[4:], k=3)
    assert len(training.records) == 12 and set(training.unseen) == {"Green Jay", "Green Kingfisher"}
