"""The shared training-image module against transcriptions of the release's rules, on the edge
cases that differ from finebench's own: P, CMYK, L, RGBA images; sides under 28 px (5x400,
1500x10), odd small sizes (33x31), aspect ratio 300; and the double resize of TAPO's positive and
negative images."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

from finebench.training.images import fit_inside, open_image, rl_image, sft_image

SFT_BOUNDS = (32 * 32, 768 * 768)  # LLaMA-Factory's image_min_pixels / image_max_pixels defaults
RL_BOUNDS = (200704, 1003520)  # TAPO/examples/configs/config_tapo.yaml L19-20
SIZES = ((5, 400), (1500, 10), (33, 31), (3000, 10), (10, 3000), (640, 480), (1200, 900), (500, 375))
MODES = ("P", "CMYK", "L", "RGBA", "RGB")


# ---- transcriptions of the release (written from the upstream lines named) ------------------


def verl_process_image(image: Image.Image, min_pixels: int, max_pixels: int) -> Image.Image:
    """TAPO/verl/utils/dataset.py L67-81."""
    if max_pixels is not None and (image.width * image.height) > max_pixels:
        resize_factor = math.sqrt(max_pixels / (image.width * image.height))
        image = image.resize((int(image.width * resize_factor), int(image.height * resize_factor)))
    if min_pixels is not None and (image.width * image.height) < min_pixels:
        resize_factor = math.sqrt(min_pixels / (image.width * image.height))
        image = image.resize((int(image.width * resize_factor), int(image.height * resize_factor)))
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image


def llamafactory_qwen2vl_preprocess(image: Image.Image, min_pixels: int, max_pixels: int) -> Image.Image:
    """LLaMA-Factory mm_plugin.py BasePlugin._preprocess_image L233-246, then Qwen2VLPlugin's L1425-1438."""
    image = verl_process_image(image, min_pixels, max_pixels)  # the base rules are the same lines
    if min(image.width, image.height) < 28:
        image = image.resize((max(image.width, 28), max(image.height, 28)))
    if image.width / image.height > 200:
        image = image.resize((image.height * 180, image.height))
    if image.height / image.width > 200:
        image = image.resize((image.width, image.width * 180))
    return image


# ---- fixtures -----------------------------------------------------------------------------------


def make_image(mode: str, size: tuple[int, int], seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    if mode == "P":
        palette = Image.fromarray(rng.integers(0, 64, (size[1], size[0]), dtype=np.uint8), "P")
        palette.putpalette(rng.integers(0, 256, 64 * 3, dtype=np.uint8).tolist())
        return palette
    rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")
    if mode == "RGBA":
        alpha = Image.fromarray(rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8), "L")
        rgba = rgb.convert("RGBA")
        rgba.putalpha(alpha)
        return rgba
    return rgb.convert(mode)


def saved(folder: Path, mode: str, size: tuple[int, int]) -> Path:
    path = folder / f"{mode}-{size[0]}x{size[1]}.{'jpg' if mode == 'CMYK' else 'png'}"
    if not path.exists():
        make_image(mode, size).save(path, compress_level=0) if mode != "CMYK" else make_image(mode, size).save(path)
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """Every (mode, size) image, written once for the module."""
    return tmp_path_factory.mktemp("images")


def same(a: Image.Image, b: Image.Image) -> bool:
    return a.mode == b.mode and a.size == b.size and np.array_equal(np.asarray(a), np.asarray(b))


# ---- release mode == the transcriptions ----------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_release_sft_images_are_llamafactorys(images: Path, mode: str) -> None:
    for size in SIZES:
        path = saved(images, mode, size)
        with Image.open(path) as original:
            expected = llamafactory_qwen2vl_preprocess(original, *SFT_BOUNDS)
            assert same(sft_image(path, "release", *SFT_BOUNDS), expected), (mode, size)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("role,passes", [("anchor", 1), ("positive", 2), ("negative", 2)])
def test_release_tapo_images_are_the_rl_datasets(images: Path, mode: str, role: str, passes: int) -> None:
    for size in SIZES:
        path = saved(images, mode, size)
        with Image.open(path) as original:
            expected = original
            for _ in range(passes):
                expected = verl_process_image(expected, *RL_BOUNDS)
            assert same(rl_image(path, "release", role, *RL_BOUNDS), expected), (mode, size, role)


def test_release_sft_edge_cases_by_hand(tmp_path: Path) -> None:
    low, high = SFT_BOUNDS
    # 5x400 = 2000 px: inside the bounds, the 5-px side is stretched to 28 -> 28x400
    assert sft_image(saved(tmp_path, "RGB", (5, 400)), "release", low, high).size == (28, 400)
    # 1500x10 = 15000 px: 10 -> 28, 1500 kept; aspect 53.6 is under 200
    assert sft_image(saved(tmp_path, "RGB", (1500, 10)), "release", low, high).size == (1500, 28)
    # 33x31 = 1023 px < 1024: factor sqrt(1024/1023), int(33.016) = 33, int(31.015) = 31: unchanged size
    assert sft_image(saved(tmp_path, "RGB", (33, 31)), "release", low, high).size == (33, 31)
    # aspect 300 (3000x10): 10 -> 28 gives 3000x28 (aspect 107), so no squeeze; 6000x20 -> 6000x28 likewise;
    # a 9000x30 image (aspect 300, sides >= 28) is squeezed to 30 * 180 = 5400 wide
    assert sft_image(saved(tmp_path, "RGB", (9000, 30)), "release", low, high).size == (5400, 30)
    with pytest.raises(ValueError, match="aspect ratio"):  # what the processor alone does with it
        smart_resize(30, 9000, factor=28, min_pixels=low, max_pixels=high)
    # growing truncates: 20x20 = 400 px -> factor 1.6, int(32.0) = 32 -> 32x32 = 1024 (exact here);
    # 21x19 = 399 px -> factor 1.602, sides int(33.6) = 33, int(30.4) = 30 -> 990 px, under the minimum
    assert sft_image(saved(tmp_path, "RGB", (21, 19)), "release", low, high).size == (33, 30)
    assert fit_inside(make_image("RGB", (21, 19)), low, high).size == (34, 31)  # finebench rounds up


def test_the_second_pass_changes_some_sizes(tmp_path: Path) -> None:
    """The release resizes the positive and negative images twice: for typical ~500-px photos
    under min_pixels the second pass lands on another size for a fraction of them."""
    rng = random.Random(0)
    changed = total = 0
    for _ in range(300):
        size = (500, rng.randint(250, 500)) if rng.random() < 0.5 else (rng.randint(250, 500), 500)
        once = verl_process_image(Image.new("RGB", size), *RL_BOUNDS)
        twice = verl_process_image(once, *RL_BOUNDS)
        changed += once.size != twice.size
        total += 1
    assert 0 < changed < total
    path = tmp_path / "x.png"
    Image.new("RGB", (500, 333)).save(path)
    once = verl_process_image(Image.new("RGB", (500, 333)), *RL_BOUNDS)
    assert rl_image(path, "release", "anchor", *RL_BOUNDS).size == once.size
    assert rl_image(path, "release", "negative", *RL_BOUNDS).size == verl_process_image(once, *RL_BOUNDS).size
    print(f"second pass changes the size of {changed} of {total} images")


def test_resizing_before_converting_changes_pixels(tmp_path: Path) -> None:
    """Palette images are resized with nearest neighbour in the release (resize, then RGB);
    finebench's processor mode converts first and resizes in RGB: the pixels differ."""
    path = saved(tmp_path, "P", (1200, 900))
    release = np.asarray(rl_image(path, "release", "anchor", *RL_BOUNDS), dtype=int)
    converted_first = np.asarray(
        verl_process_image(open_image(path).convert("RGB"), *RL_BOUNDS), dtype=int
    )
    assert release.shape == converted_first.shape
    diff = np.abs(release - converted_first).max()
    assert diff > 50
    print(f"max pixel difference, resize-then-convert vs convert-then-resize (P image): {diff}/255")


# ---- processor mode ---------------------------------------------------------------------------


def test_processor_mode_converts_first_and_leaves_tapo_bounds_to_the_processor(tmp_path: Path) -> None:
    path = saved(tmp_path, "CMYK", (1200, 900))
    image = rl_image(path, "processor", "negative", *RL_BOUNDS)
    assert image.mode == "RGB" and image.size == (1200, 900)
    sft = sft_image(path, "processor", *SFT_BOUNDS)
    assert sft.mode == "RGB" and sft.width * sft.height <= SFT_BOUNDS[1]


def test_bad_modes_and_roles_are_refused(tmp_path: Path) -> None:
    path = saved(tmp_path, "RGB", (40, 40))
    with pytest.raises(ValueError, match="image mode must be one of processor, release"):
        sft_image(path, "pil", *SFT_BOUNDS)
    with pytest.raises(ValueError, match="role must be one of anchor, positive, negative"):
        rl_image(path, "release", "query", *RL_BOUNDS)


def test_sft_examples_prepare_images_as_the_recipe_says(tmp_path: Path) -> None:
    from finebench.data.formats import IMAGE_MARKER, Stage1Sample
    from finebench.training.sft.recipe import recipe_from_mapping
    from finebench.training.sft.trainer import SFTExamples

    saved(tmp_path, "P", (5, 400))
    sample = Stage1Sample(IMAGE_MARKER + "What bird?", "<think>x</think>\n\n<answer>a</answer>", ("P-5x400.png",))
    release = SFTExamples([sample], tmp_path, *SFT_BOUNDS, image_resize="release")[0]["images"][0]
    processor = SFTExamples([sample], tmp_path, *SFT_BOUNDS)[0]["images"][0]
    with Image.open(tmp_path / "P-5x400.png") as original:
        assert same(release, llamafactory_qwen2vl_preprocess(original, *SFT_BOUNDS))
    assert (release.size, processor.size) == ((28, 400), (5, 400))  # the processor mode leaves it to the processor
    recipe = recipe_from_mapping({"model": "m", "data_files": ["d.json"], "output_dir": "o", "image_resize": "release"},
                                 {}, "r.yaml")
    assert recipe.image_resize == "release"
    from finebench.util.errors import ConfigError

    with pytest.raises(ConfigError, match="image_resize.*must be one of processor, release, got 'pil'"):
        recipe_from_mapping({"model": "m", "data_files": ["d.json"], "output_dir": "o", "image_resize": "pil"},
                            {}, "r.yaml")
