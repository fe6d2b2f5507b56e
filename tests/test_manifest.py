"""Class split, few-shot sampling, item building and build_benchmark (on a CUB-layout fixture)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from finebench.data.manifest import (
    FewShotShortfallWarning,
    Manifest,
    ManifestRecord,
    build_items,
    few_shot_shortfall,
    release_questions,
    sample_few_shot,
    split_classes,
)
from finebench.data.variant import build_benchmark
from finebench.tasks.items import load_items, parse_item
from finebench.util.errors import UnknownNameError

CLASSES = tuple(f"Class {i:02d}" for i in range(12))


def make_manifest(n_train: int = 5, n_test: int = 3, classes: tuple[str, ...] = CLASSES) -> Manifest:
    records = []
    for c, name in enumerate(classes):
        records += [ManifestRecord(f"ds/train/{c}_{j}.jpg", name, "train") for j in range(n_train)]
        records += [ManifestRecord(f"ds/test/{c}_{j}.jpg", name, "test") for j in range(n_test)]
    return Manifest("cub", tuple(records), classes)


def write_cub(root: Path, n_classes: int = 10, n_train: int = 5, n_test: int = 2) -> Path:
    """CUB_200_2011 text tables for ``n_classes`` classes (images themselves are not needed)."""
    classes, images, labels, split = [], [], [], []
    for c in range(1, n_classes + 1):
        folder = f"{c:03d}.Bird_number_{c}"
        classes.append(f"{c} {folder}")
        for j in range(n_train + n_test):
            image_id = len(images) + 1
            images.append(f"{image_id} {folder}/Bird_Number_{c}_{j:04d}_{image_id}.jpg")
            labels.append(f"{image_id} {c}")
            split.append(f"{image_id} {int(j < n_train)}")
    root.mkdir(parents=True)
    for name, lines in (("classes.txt", classes), ("images.txt", images), ("image_class_labels.txt", labels),
                        ("train_test_split.txt", split)):
        (root / name).write_text("\n".join(lines) + "\n")
    return root


# ---------------------------------------------------------------- split_classes


def test_split_is_deterministic_disjoint_complete_and_ordered():
    seen, unseen = split_classes(CLASSES, 0.6, seed=3)
    assert (seen, unseen) == split_classes(list(CLASSES), 0.6, seed=3)
    assert not set(seen) & set(unseen)
    assert set(seen) | set(unseen) == set(CLASSES)
    assert seen == sorted(seen) and unseen == sorted(unseen)  # official order kept (CLASSES is sorted)
    assert len(seen) == 7  # floor(12 * 0.6)


@pytest.mark.parametrize(("n", "fraction", "n_seen"), [
    (196, 0.6, 117), (102, 0.6, 61), (37, 0.6, 22), (100, 0.6, 60), (200, 0.6, 120), (120, 0.6, 72),
    (100, 0.29, 29), (10, 0.7, 7), (2, 0.01, 1), (2, 0.99, 1), (5, 0.999, 4),
])
def test_seen_count_is_floor_and_both_sides_non_empty(n, fraction, n_seen):
    seen, unseen = split_classes([f"c{i}" for i in range(n)], fraction)
    assert (len(seen), len(unseen)) == (n_seen, n - n_seen)


def test_different_seeds_give_different_splits():
    splits = {tuple(split_classes(CLASSES, 0.5, seed)[0]) for seed in range(5)}
    assert len(splits) > 1


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, float("nan"), True, "0.6", None])
def test_split_rejects_bad_fractions(fraction):
    with pytest.raises(ValueError, match="seen_fraction"):
        split_classes(CLASSES, fraction)


@pytest.mark.parametrize(("classes", "message"), [([], "at least 2"), (["a"], "at least 2"), (["a", "b", "a"], "duplicates")])
def test_split_rejects_bad_class_lists(classes, message):
    with pytest.raises(ValueError, match=message):
        split_classes(classes)


# ---------------------------------------------------------------- sample_few_shot


def test_few_shot_takes_k_train_images_of_the_given_classes_only():
    manifest = make_manifest()
    chosen = list(CLASSES[:4])
    shots = sample_few_shot(manifest, chosen, k=2, seed=1)
    assert len(shots) == 8
    assert all(r.split == "train" and "/train/" in r.image_path for r in shots)
    assert [r.class_name for r in shots] == [c for c in chosen for _ in range(2)]
    assert len(set(shots)) == 8


def test_few_shot_is_seeded_and_per_class_stable():
    manifest = make_manifest()
    a = sample_few_shot(manifest, ["Class 01", "Class 02"], k=2, seed=7)
    assert a == sample_few_shot(manifest, ["Class 01", "Class 02"], k=2, seed=7)
    # a class's shots do not depend on which other classes are sampled with it
    assert [r for r in a if r.class_name == "Class 02"] == sample_few_shot(manifest, ["Class 02"], k=2, seed=7)
    seeds = {tuple(sample_few_shot(manifest, ["Class 01"], k=2, seed=s)) for s in range(6)}
    assert len(seeds) > 1


def test_few_shot_shortfall_takes_all_and_warns_with_counts():
    manifest = make_manifest(n_train=2)
    with pytest.warns(FewShotShortfallWarning, match=r"fewer than 4 train images.*'Class 00' \(2\), 'Class 01' \(2\)"):
        shots = sample_few_shot(manifest, ["Class 00", "Class 01"], k=4)
    assert len(shots) == 4
    assert few_shot_shortfall(manifest, ["Class 00", "Class 01"], 4) == {"Class 00": 2, "Class 01": 2}


def test_few_shot_without_shortfall_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sample_few_shot(make_manifest(), ["Class 00"], k=5) != []
        assert sample_few_shot(make_manifest(), ["Class 00"], k=0) == []


@pytest.mark.parametrize("k", [-1, 1.5, True])
def test_few_shot_rejects_bad_k(k):
    with pytest.raises(ValueError, match="k must be"):
        sample_few_shot(make_manifest(), ["Class 00"], k=k)


def test_unknown_class_is_rejected():
    with pytest.raises(ValueError, match="unknown class.*'Nope'"):
        sample_few_shot(make_manifest(), ["Nope"], k=1)
    with pytest.raises(ValueError, match="unknown class.*'Nope'"):
        build_items(make_manifest(), ["Nope"], ["q?"])


# ---------------------------------------------------------------- build_items


def test_items_one_per_test_image_with_gt_first_and_unique_options():
    manifest = make_manifest()
    chosen = ["Class 03", "Class 01"]
    questions = release_questions("bird")
    items = build_items(manifest, chosen, questions, seed=2)
    assert [i.doc_id for i in items] == list(range(6))
    assert [i.ground_truth for i in items] == ["Class 03"] * 3 + ["Class 01"] * 3  # grouped, in class order
    assert [i.image_path for i in items[:3]] == [f"ds/test/3_{j}.jpg" for j in range(3)]
    for item in items:
        assert item.options[0] == item.ground_truth
        assert len(item.options) == 4 and len(set(item.options)) == 4
        assert set(item.options) <= set(CLASSES)  # default pool: every class of the dataset
        assert item.question in questions
        parse_item({"image_path": item.image_path, "question": item.question, "options": list(item.options),
                    "ground_truth": item.ground_truth}, item.doc_id)


def test_distractors_come_from_the_given_pool():
    pool = ["Class 05", "Class 06", "Class 07", "Class 08"]
    items = build_items(make_manifest(), ["Class 05", "Class 00"], ["q?"], seed=1, distractor_pool=pool)
    for item in items:
        assert set(item.options[1:]) <= set(pool) - {item.ground_truth}
    assert {tuple(sorted(i.options[1:])) for i in items if i.ground_truth == "Class 05"} == {("Class 06", "Class 07", "Class 08")}


def test_items_are_seeded():
    manifest = make_manifest()
    questions = release_questions("car")
    assert build_items(manifest, CLASSES, questions, seed=4) == build_items(manifest, CLASSES, questions, seed=4)
    assert build_items(manifest, CLASSES, questions, seed=4) != build_items(manifest, CLASSES, questions, seed=5)
    # an item does not change when other classes join the set
    alone = build_items(manifest, ["Class 02"], questions, seed=4)
    together = [i for i in build_items(manifest, CLASSES, questions, seed=4) if i.ground_truth == "Class 02"]
    assert [(i.options, i.question) for i in alone] == [(i.options, i.question) for i in together]


def test_questions_are_drawn_from_all_templates():
    questions = release_questions("dog")
    items = build_items(make_manifest(n_test=20), CLASSES, questions)
    assert {i.question for i in items} == set(questions)


def test_n_options_other_than_four():
    items = build_items(make_manifest(), ["Class 00"], ["q?"], n_options=6)
    assert all(len(set(i.options)) == 6 for i in items)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_options": 1}, "n_options"),
    ({"distractor_pool": ["Class 00", "Class 01", "Class 02"]}, "the pool has only 2 other class"),
    ({"distractor_pool": ["Class 01", "Class 01", "Class 02", "Class 03"]}, "duplicates"),
])
def test_build_items_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_items(make_manifest(), ["Class 00"], ["q?"], **kwargs)


@pytest.mark.parametrize("questions", [[], [""], ["ok?", "  "]])
def test_build_items_needs_questions(questions):
    with pytest.raises(ValueError, match="question_templates"):
        build_items(make_manifest(), ["Class 00"], questions)


def test_manifest_rejects_inconsistent_records():
    with pytest.raises(ValueError, match="unknown class 'X'"):
        Manifest("cub", (ManifestRecord("a.jpg", "X", "train"),), ("A",))
    with pytest.raises(ValueError, match="split 'val'"):
        Manifest("cub", (ManifestRecord("a.jpg", "A", "val"),), ("A",))
    with pytest.raises(ValueError, match="duplicate class"):
        Manifest("cub", (), ("A", "A"))


def test_release_questions_wording():
    assert "Could you tell me the model of this aircraft?" in release_questions("aircraft")
    assert "What species is the flower in this picture?" in release_questions("flower")
    assert len(set(release_questions("pet"))) == 10


# ---------------------------------------------------------------- build_benchmark


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_build_benchmark_writes_loadable_release_files(tmp_path):
    src = write_cub(tmp_path / "CUB_200_2011")
    out = tmp_path / "out"
    counts = build_benchmark("cub", src, out, seen_fraction=0.6, seed=0, shots=3, distractors="random")
    assert sorted(p.name for p in out.iterdir()) == ["bird_fewshot_train.jsonl", "bird_meta.json",
                                                     "bird_seen.jsonl", "bird_unseen.jsonl"]
    seen_items, unseen_items = load_items(out / "bird_seen.jsonl"), load_items(out / "bird_unseen.jsonl")
    meta = json.loads((out / "bird_meta.json").read_text())
    assert counts == {"dataset": "cub", "seen_classes": 6, "unseen_classes": 4, "seen_items": 12, "unseen_items": 8,
                      "fewshot_images": 18, "fewshot_short_classes": 0, "distractors": "uniform", "files": [str(out / n) for n in (
                          "bird_seen.jsonl", "bird_unseen.jsonl", "bird_fewshot_train.jsonl", "bird_meta.json")]}
    assert (meta["seed"], meta["seen_fraction"], meta["shots"], meta["prefix"]) == (0, 0.6, 3, "bird")
    assert {i.ground_truth for i in seen_items} == set(meta["seen_classes"])
    assert {i.ground_truth for i in unseen_items} == set(meta["unseen_classes"])
    assert not set(meta["seen_classes"]) & set(meta["unseen_classes"])
    assert all(i.image_path.startswith("bird_200/images/") and i.options[0] == i.ground_truth
               for i in seen_items + unseen_items)
    assert all(i.question in release_questions("bird") for i in seen_items)
    fewshot = [json.loads(line) for line in (out / "bird_fewshot_train.jsonl").read_text().splitlines()]
    assert all(set(row) == {"image_path", "class_name"} for row in fewshot)
    assert {row["class_name"] for row in fewshot} == set(meta["seen_classes"])  # no unseen class
    test_paths = {i.image_path for i in seen_items + unseen_items}
    assert not {row["image_path"] for row in fewshot} & test_paths  # never a test image
    train_numbers = {f"_{j:04d}_" for j in range(5)}
    assert all(any(n in row["image_path"] for n in train_numbers) for row in fewshot)


def test_build_benchmark_same_seed_is_byte_identical(tmp_path):
    src = write_cub(tmp_path / "cub")
    build_benchmark("cub", src, tmp_path / "a", seed=11, distractors="random")
    build_benchmark("cub", src, tmp_path / "b", seed=11, distractors="random")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def test_build_benchmark_different_seed_gives_a_different_split(tmp_path):
    src = write_cub(tmp_path / "cub")
    build_benchmark("cub", src, tmp_path / "a", seed=0, distractors="random")
    build_benchmark("cub", src, tmp_path / "b", seed=1, distractors="random")
    meta_a = json.loads((tmp_path / "a" / "bird_meta.json").read_text())
    meta_b = json.loads((tmp_path / "b" / "bird_meta.json").read_text())
    assert meta_a["seen_classes"] != meta_b["seen_classes"]


def test_build_benchmark_reports_few_shot_shortfall(tmp_path):
    src = write_cub(tmp_path / "cub", n_train=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reported in counts and meta, not as a warning
        counts = build_benchmark("cub", src, tmp_path / "out", shots=4, distractors="random")
    meta = json.loads((tmp_path / "out" / "bird_meta.json").read_text())
    assert counts["fewshot_short_classes"] == counts["seen_classes"] == 6
    assert counts["fewshot_images"] == 12
    assert meta["fewshot_shortfall"] == {c: 2 for c in meta["seen_classes"]}


def test_build_benchmark_validates_before_writing(tmp_path):
    src = write_cub(tmp_path / "cub")
    with pytest.raises(ValueError, match="seen_fraction"):
        build_benchmark("cub", src, tmp_path / "out", seen_fraction=1.0)
    with pytest.raises(ValueError, match="k must be"):
        build_benchmark("cub", src, tmp_path / "out", shots=-1)
    with pytest.raises(UnknownNameError, match="did you mean 'cub'"):
        build_benchmark("cubs", src, tmp_path / "out")
    assert not (tmp_path / "out").exists()
