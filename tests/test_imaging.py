"""The qwen_vl_utils image rule (finebench.util.imaging) and which backends get it per protocol."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from finebench.adapters.clip import ClipAdapter
from finebench.adapters.hf import HFAdapter
from finebench.adapters.lmms import LmmsAdapter
from finebench.adapters.openai import OpenAIAdapter
from finebench.adapters.vllm import VLLMAdapter
from finebench.data.demo import write_demo_data_root
from finebench.evaluation.config import RunConfig
from finebench.evaluation.evaluator import Evaluator
from finebench.evaluation.images import DECODED_RULE, image_rule, preparer
from finebench.models.cards import ModelCard
from finebench.util.imaging import MAX_PIXELS, MIN_PIXELS, QWEN_VL_RULE, load_keeping_alpha, prepare_image, smart_resize
from tests.authors_eval import transcribed_fetch_image
from tests.fakes import ScriptedAdapter

SIZES = [(h, w) for h in (1, 13, 14, 27, 28, 41, 42, 43, 70, 99, 224, 333, 1000, 4000) for w in (5, 14, 42, 98, 500, 3001)]


def random_image(width: int, height: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    return Image.fromarray(pixels, "RGBA").convert(mode) if mode != "RGBA" else Image.fromarray(pixels, "RGBA")


def test_smart_resize_rounds_to_multiples_of_28_within_the_bounds() -> None:
    assert smart_resize(224, 224) == (224, 224)
    assert smart_resize(100, 200) == (112, 196)  # nearest multiples
    assert smart_resize(41, 43) == (56, 84)  # 28 x 56 is below 4 tokens: both sides scaled up, then ceiled
    assert smart_resize(42, 70) == (56, 56)  # halves round to the even multiple, as Python's round does
    assert smart_resize(10, 10) == (56, 56)  # grown to the 4-token minimum
    for height, width in SIZES:
        if max(height, width) / min(height, width) > 200:
            continue
        for low, high in ((MIN_PIXELS, MAX_PIXELS), (3136, 3136), (3136, 1003520), (28 * 28, 84 * 84)):
            h, w = smart_resize(height, width, 28, low, high)
            assert h % 28 == 0 and w % 28 == 0  # (the area can leave tight bounds, as in the reference)
        assert MIN_PIXELS <= (area := smart_resize(height, width)[0] * smart_resize(height, width)[1]) <= MAX_PIXELS, area


def test_smart_resize_refuses_extreme_aspect_ratios_and_empty_images() -> None:
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(10, 2010)
    with pytest.raises(ValueError, match="positive"):
        smart_resize(0, 10)


def test_smart_resize_equals_qwen_vl_utils() -> None:
    qwen = pytest.importorskip("qwen_vl_utils.vision_process")
    for height, width in SIZES:
        if max(height, width) / min(height, width) > 200:
            continue
        for low, high in ((MIN_PIXELS, MAX_PIXELS), (3136, 1003520), (28 * 28, 84 * 84)):
            assert smart_resize(height, width, 28, low, high) == qwen.smart_resize(height, width, 28, low, high)


@pytest.mark.filterwarnings("ignore:Palette images")
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "CMYK"])
def test_prepare_image_equals_the_transcribed_fetch_image(mode: str) -> None:
    rng = random.Random(mode)
    for seed in range(6):
        image = random_image(rng.randint(5, 300), rng.randint(5, 300), mode, seed)
        ours, theirs = prepare_image(image), transcribed_fetch_image({"image": image})
        assert ours.mode == theirs.mode == "RGB" and ours.size == theirs.size
        assert np.array_equal(np.asarray(ours), np.asarray(theirs))


@pytest.mark.filterwarnings("ignore:Palette images")
def test_prepare_image_equals_qwen_vl_utils_fetch_image(tmp_path: Path) -> None:
    qwen = pytest.importorskip("qwen_vl_utils.vision_process")
    for seed, mode in enumerate(("RGB", "RGBA", "L", "P")):
        image = random_image(37 + 50 * seed, 91 - 10 * seed, mode, seed)
        path = tmp_path / f"{seed}.png"
        image.save(path)
        theirs = qwen.fetch_image({"type": "image", "image": f"file://{path}"})
        ours = prepare_image(load_keeping_alpha(path))
        assert np.array_equal(np.asarray(ours), np.asarray(theirs))


def test_rgba_is_flattened_onto_white() -> None:
    image = Image.new("RGBA", (56, 56), (10, 20, 30, 0))
    assert prepare_image(image).getpixel((3, 3)) == (255, 255, 255)
    assert preparer(DECODED_RULE)(image).getpixel((3, 3)) == (10, 20, 30)  # a plain conversion drops alpha


def test_preparing_twice_changes_nothing() -> None:
    """lmms-eval's Qwen wrappers apply the rule again: on a prepared image it is the identity."""
    once = prepare_image(random_image(123, 77))
    twice = prepare_image(once)
    assert twice.size == once.size and np.array_equal(np.asarray(twice), np.asarray(once))


def test_load_keeping_alpha_keeps_rgba_and_converts_the_rest(tmp_path: Path) -> None:
    random_image(30, 20, "RGBA").save(tmp_path / "a.png")
    random_image(30, 20, "L").save(tmp_path / "b.png")
    assert load_keeping_alpha(tmp_path / "a.png").mode == "RGBA"
    assert load_keeping_alpha(tmp_path / "b.png").mode == "RGB"


def test_the_fine_r1_protocol_prepares_images_for_chat_backends_only() -> None:
    for adapter in (HFAdapter, VLLMAdapter, OpenAIAdapter):
        assert image_rule("fine-r1", adapter) == QWEN_VL_RULE
        assert image_rule("finebench", adapter) == DECODED_RULE
    for adapter in (ClipAdapter, LmmsAdapter):  # they resize by their own model's rules
        assert image_rule("fine-r1", adapter) == DECODED_RULE


class _SelfResizing(ScriptedAdapter):
    prepares_own_images = True


@pytest.mark.parametrize(("protocol", "adapter_type", "prepared"), [
    ("fine-r1", ScriptedAdapter, True), ("finebench", ScriptedAdapter, False), ("fine-r1", _SelfResizing, False)])
def test_the_evaluator_hands_backends_the_protocols_images(tmp_path: Path, protocol, adapter_type, prepared) -> None:
    """Demo images are 56x42: the Qwen rule makes them 56x56 (42 rounds to 56 between the even
    multiples 28 and 56), the decoded image keeps its size; the cache key knows the difference."""
    data_root = write_demo_data_root(tmp_path / "data", items_per_file=2)
    sizes = []
    adapter = adapter_type(lambda r: sizes.append(r.image.size) or "<answer>x</answer>")
    config = RunConfig(tasks=("cub_closed_seen",), data_root=data_root, output_path=tmp_path / "o", protocol=protocol, trials=1)
    results = Evaluator(config, adapter, ModelCard(name="fake", adapter="fake", model="fake")).run()
    assert set(sizes) == ({(56, 56)} if prepared else {(56, 42)})
    assert results["tasks"]["cub_closed_seen"]["image_rule"] == (QWEN_VL_RULE if prepared else DECODED_RULE)
