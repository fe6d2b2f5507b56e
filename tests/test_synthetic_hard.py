"""The hard synthetic variant: images of one class differ (nuisance), pattern look-alikes differ only
on the central badge, the negatives are those look-alikes, and the files are the base formats."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from finebench.data.formats import load_stage1, load_stage2
from finebench.data.synthetic import COLOURS, SynthClass, all_classes, build_synthetic, class_by_name
from finebench.data.synthetic_hard import BADGE_FRACTION, HARD, HUE_JITTER, jittered_colour, render_hard
from finebench.tasks.index import TaskIndex
from finebench.tasks.items import load_items


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    return build_synthetic(tmp_path_factory.mktemp("hard"), test_per_class=2, train_per_class=4, image_size=56,
                           variant=HARD)


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32)


def test_colours_are_jittered_within_their_hue_band() -> None:
    import colorsys
    import random

    rng = random.Random(0)
    hues = {name: colorsys.rgb_to_hsv(*(v / 255 for v in rgb))[0] for name, rgb in COLOURS.items()}

    def hue_distance(a: float, b: float) -> float:
        return min(abs(a - b), 1 - abs(a - b))

    for name in COLOURS:
        draws = [jittered_colour(name, rng) for _ in range(200)]
        assert np.std(draws, axis=0).max() > 5  # not one colour
        for rgb in draws:
            hue = colorsys.rgb_to_hsv(*(rgb / 255))[0]
            assert hue_distance(hue, hues[name]) <= HUE_JITTER + 1e-6
            assert min(hues, key=lambda other: hue_distance(hue, hues[other])) == name  # bands do not overlap


def test_every_image_of_a_class_is_drawn_differently() -> None:
    cls = SynthClass("Red", "Striped", "Circle")
    assert len({render_hard(cls, f"k{i}", 56).tobytes() for i in range(6)}) == 6
    assert render_hard(cls, "k0", 56).tobytes() == render_hard(cls, "k0", 56).tobytes()


def test_pattern_look_alikes_differ_only_around_the_badge() -> None:
    """Same key (same nuisance) and two patterns: the pixels that differ lie within the badge."""
    size = 112
    a = pixels(render_hard(SynthClass("Blue", "Solid", "Square"), "same", size))
    b = pixels(render_hard(SynthClass("Blue", "Dotted", "Square"), "same", size))
    changed = np.abs(a - b).max(axis=2) > 40  # above the noise (same seed, so the noise is the same)
    assert 0 < changed.mean() < 0.05  # a small part of the image
    ys, xs = np.nonzero(changed)
    extent = max(xs.max() - xs.min(), ys.max() - ys.min())
    assert extent <= 2 * BADGE_FRACTION * 0.38 * size + 4  # within the largest badge's diameter
    other_colour = pixels(render_hard(SynthClass("Green", "Solid", "Square"), "same", size))
    assert (np.abs(a - other_colour).max(axis=2) > 40).mean() > 4 * changed.mean()  # a global difference


def test_negatives_are_pattern_look_alikes_and_the_formats_are_the_releases(built) -> None:
    classes = class_by_name(all_classes())
    folder = {c.folder: c for c in classes.values()}
    triplets = load_stage2(built.stage2_file, image_root=built.root)
    assert len(triplets) == built.stage2_triplets == built.seen_classes * 4
    along_pattern = 0
    for triplet in triplets:
        anchor, positive, negative = (folder[Path(p).parent.name] for p in
                                      (triplet.image, triplet.image_positive, triplet.image_negative))
        assert anchor == positive == classes[triplet.answer] and anchor.differs_by_one(negative)
        along_pattern += anchor.pattern != negative.pattern
    assert along_pattern >= 0.9 * len(triplets)  # else only when no pattern look-alike is seen
    assert len(load_stage1(built.stage1_file)) == built.stage1_samples
    assert built.stage1_file.name == "synth-hard-stage1.json" and "synth_hard/images_train/" in triplets[0].image


def test_the_synth_hard_tasks_read_the_built_items(built) -> None:
    index = TaskIndex()
    assert index.expand(["synth_hard"]) == ["synth_hard_closed_seen", "synth_hard_closed_unseen",
                                            "synth_hard_open_seen", "synth_hard_open_unseen"]
    task = index.load("synth_hard_closed_unseen")
    assert (task.dataset, task.world, task.split) == ("synth_hard", "closed", "unseen")
    assert task.prompt == index.load("synth_closed_unseen").prompt
    assert len(load_items(built.root / task.source)) == built.unseen_items
    assert index.load("synth_hard_open_seen").metrics == ("inclusion",)


def test_two_builds_are_byte_identical_and_the_command_picks_the_variant(built, tmp_path: Path) -> None:
    again = build_synthetic(tmp_path, test_per_class=2, train_per_class=4, image_size=56, variant=HARD)

    def digest(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted((root / "synth_hard").rglob("*")) if p.is_file()}

    assert digest(again.root) == digest(built.root)
    out = subprocess.run([sys.executable, "-m", "finebench", "data", "synth", "--variant", "hard", "--data-root",
                          str(tmp_path / "cli"), "--test-per-class", "1", "--train-per-class", "2"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "synth_hard: 38 seen / 26 unseen classes" in out.stdout
    first = next((tmp_path / "cli" / "synth_hard" / "images").rglob("*.png"))
    from PIL import Image

    assert Image.open(first).size == (84, 84)  # the variant's default size, the recipes' pixel bound
    bad = subprocess.run([sys.executable, "-m", "finebench", "data", "synth", "--variant", "harder", "--data-root",
                          str(tmp_path / "x")], capture_output=True, text=True)
    assert bad.returncode == 2 and "--variant must be one of base, hard" in bad.stderr
