"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from finebench.models.builtin import resolve_builtin


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in tiny random Qwen2.5-VL, built once per session (a few seconds).

    It lives where ``resolve_builtin`` puts it, ``<cache root>/models/tiny-qwen2.5-vl``, so a test
    can point the default cache root at ``tiny_model_dir.parents[1]`` and reuse it by name.
    """
    return resolve_builtin("tiny-qwen2.5-vl", cache_root=tmp_path_factory.mktemp("finebench-cache"))


@pytest.fixture(scope="session")
def tapo_stage2_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four Stage-2 triplets (released JSON format, relative image paths) over generated images.

    Anchor, positive and negative have different sizes, hence different numbers of image tokens,
    so every re-encoding and re-padding path of TAPO is exercised.
    """
    from tests.fakes import write_tapo_triplets

    return write_tapo_triplets(tmp_path_factory.mktemp("tapo-stage2"))


@pytest.fixture(scope="session")
def fgvr_train_root(tmp_path_factory: pytest.TempPathFactory):
    """A CUB-like manifest of 6 classes (3 train + 2 test images each) with generated images.

    Each class has a solid colour, so colour is a ground truth of visual similarity: classes 0/1
    are reds, 2/3 blues, 4/5 greens (pairs of look-alikes). Image sizes differ per image, so
    resizing code has something to do. Returns ``(data_root, manifest)``.
    """
    from PIL import Image, ImageDraw

    from finebench.data.manifest import Manifest, ManifestRecord

    colours = ((230, 20, 20), (200, 50, 40), (20, 20, 230), (40, 50, 200), (20, 230, 20), (50, 200, 40))
    names = ("Red Cardinal", "Scarlet Tanager", "Blue Jay", "Indigo Bunting", "Green Jay", "Green Kingfisher")
    root = tmp_path_factory.mktemp("fgvr-train-root")
    records = []
    for c, (name, colour) in enumerate(zip(names, colours)):
        for j, split in enumerate(("train", "train", "train", "test", "test")):
            rel = f"bird_200/images/{c + 1:03d}.{name.replace(' ', '_')}/{name.replace(' ', '_')}_{j}.jpg"
            image = Image.new("RGB", (40 + 6 * j, 30 + 4 * c), colour)
            ImageDraw.Draw(image).line([(0, j * 5), (39, 29)], fill=(255, 255, 255), width=2)
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            image.save(root / rel, quality=95)
            records.append(ManifestRecord(rel, name, split))
    return root, Manifest("cub", tuple(records), names)


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in tiny random CLIP (transformers CLIPModel), built once per session."""
    return resolve_builtin("tiny-clip", cache_root=tmp_path_factory.mktemp("finebench-clip-cache"))


@pytest.fixture(scope="session")
def home(tmp_path_factory, tiny_model_dir) -> Path:
    """A HOME whose finebench cache already holds the tiny model (built once per session), for tests
    that run the ``finebench`` command in a subprocess as a user would."""
    home = tmp_path_factory.mktemp("home")
    target = home / ".cache" / "finebench" / "models" / "tiny-qwen2.5-vl"
    target.parent.mkdir(parents=True)
    target.symlink_to(tiny_model_dir, target_is_directory=True)
    return home
