"""The synthetic compositional benchmark: class split, look-alike options, Stage-1 and Stage-2 data
in the release formats, determinism, and the tasks reading it."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from finebench.data.formats import load_stage1, load_stage2
from finebench.data.synthetic import (
    COLOURS,
    PATTERNS,
    SHAPES,
    all_classes,
    build_synthetic,
    class_by_name,
    split_classes,
)
from finebench.tasks.index import TaskIndex
from finebench.tasks.items import load_items


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    return build_synthetic(tmp_path_factory.mktemp("synth"), test_per_class=2, train_per_class=4, image_size=56)


def test_the_split_is_60_40_and_every_attribute_value_is_seen() -> None:
    classes = all_classes()
    assert len(classes) == len(COLOURS) * len(PATTERNS) * len(SHAPES) == 64
    for seed in range(5):
        seen, unseen = split_classes(classes, seed)
        assert (len(seen), len(unseen)) == (38, 26) and not set(seen) & set(unseen)
        for axis, values in enumerate((COLOURS, PATTERNS, SHAPES)):
            assert {c.attributes()[axis] for c in seen} == set(values)
    assert split_classes(classes, 0) == split_classes(classes, 0) != split_classes(classes, 1)


def test_items_offer_the_truth_and_three_classes_one_attribute_away(built) -> None:
    classes = class_by_name(all_classes())
    for split, n_classes in (("seen", built.seen_classes), ("unseen", built.unseen_classes)):
        items = load_items(built.root / f"synth/eval/synth_{split}.jsonl")
        assert len(items) == 2 * n_classes
        positions = Counter()
        for item in items:
            truth = classes[item.ground_truth]
            others = [classes[o] for o in item.options if o != item.ground_truth]
            assert len(item.options) == 4 and all(truth.differs_by_one(o) for o in others)
            # all four share two attributes: the options alone do not single out the truth
            varying = [axis for axis in range(3) if len({classes[o].attributes()[axis] for o in item.options}) > 1]
            assert len(varying) == 1
            positions[item.options.index(item.ground_truth)] += 1
            assert (built.root / item.image_path).is_file() and "/images/" in item.image_path
        assert len(positions) > 1  # the truth is not always first (the options are shuffled)
    seen_names = {i.ground_truth for i in load_items(built.root / "synth/eval/synth_seen.jsonl")}
    unseen_names = {i.ground_truth for i in load_items(built.root / "synth/eval/synth_unseen.jsonl")}
    assert not seen_names & unseen_names


def test_stage1_samples_name_the_attributes_and_use_seen_train_images_only(built) -> None:
    samples = load_stage1(built.stage1_file)
    seen = {i.ground_truth for i in load_items(built.root / "synth/eval/synth_seen.jsonl")}
    assert len(samples) == built.stage1_samples == built.seen_classes * 2  # half of the 4 train images a class
    for sample in samples:
        cls = class_by_name(all_classes())[sample.answer()]
        assert cls.name in seen
        assert all(f"{value.lower()}" in sample.response.split("</think>")[0] for value in cls.attributes())
        assert sample.response.endswith(f"<answer>{cls.name}</answer>") and sample.system is None
        [image] = sample.images
        assert image.startswith("synth/images_train/") and (built.root / image).is_file()
    prompts = [s.prompt for s in samples]
    assert any("based on the options provided in" in p for p in prompts)  # closed-world requests
    assert any("This is a fine-grained question" in p for p in prompts)  # and open-world ones


def test_stage2_triplets_pair_a_positive_of_the_class_with_a_negative_one_attribute_away(built) -> None:
    triplets = load_stage2(built.stage2_file, image_root=built.root)
    assert len(triplets) == built.stage2_triplets == built.seen_classes * 4
    classes = class_by_name(all_classes())
    folder = {c.folder: c for c in classes.values()}
    for triplet in triplets:
        anchor, positive, negative = (folder[Path(p).parent.name] for p in
                                      (triplet.image, triplet.image_positive, triplet.image_negative))
        assert anchor == positive == classes[triplet.answer] and triplet.image != triplet.image_positive
        assert anchor.differs_by_one(negative)
        assert all(Path(p).is_file() for p in (triplet.image, triplet.image_positive, triplet.image_negative))


def test_two_builds_with_one_seed_are_byte_identical(built, tmp_path: Path) -> None:
    again = build_synthetic(tmp_path, test_per_class=2, train_per_class=4, image_size=56)

    def digest(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted((root / "synth").rglob("*")) if p.is_file()}

    assert digest(again.root) == digest(built.root)
    other = build_synthetic(tmp_path / "other", seed=1, test_per_class=2, train_per_class=4, image_size=56)
    assert digest(other.root) != digest(built.root)


def test_the_synth_tasks_read_the_built_items(built) -> None:
    index = TaskIndex()
    assert index.expand(["synth"]) == ["synth_closed_seen", "synth_closed_unseen", "synth_open_seen",
                                       "synth_open_unseen"]
    task = index.load("synth_closed_unseen")
    assert (task.dataset, task.world, task.split, task.trials) == ("synth", "closed", "unseen", 1)
    assert len(load_items(built.root / task.source)) == built.unseen_items


def test_bad_sizes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="image_size must be at least 28"):
        build_synthetic(tmp_path, image_size=16)
    with pytest.raises(ValueError, match="train_per_class >= 2"):
        build_synthetic(tmp_path, train_per_class=1)
    out = subprocess.run([sys.executable, "-m", "finebench", "data", "synth", "--data-root", str(tmp_path),
                          "--image-size", "8"], capture_output=True, text=True)
    assert out.returncode == 2 and "image_size must be at least 28" in out.stderr


def test_the_command_writes_the_benchmark(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "finebench", "data", "synth", "--data-root", str(tmp_path),
                          "--test-per-class", "1", "--train-per-class", "2", "--image-size", "28"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "38 seen / 26 unseen classes, 38 + 26 items, 76 train images" in out.stdout
    assert (tmp_path / "synth/meta.json").is_file() and (tmp_path / "synth/sft/synth-stage1.json").is_file()
