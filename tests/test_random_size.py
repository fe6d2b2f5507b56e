"""Real-size random Qwen2.5-VL models: the configs against the published config.json values, the
parameter counts (meta device, nothing allocated), and a full build of a shrunk architecture."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from finebench.adapters.factory import RuntimeOptions
from finebench.adapters.hf import HFAdapter
from finebench.adapters.instance import Request
from finebench.models.cards import ModelCard
from finebench.models.random_size import (
    PUBLISHED_MAX_PIXELS,
    PUBLISHED_MIN_PIXELS,
    QWEN25_VL_3B,
    QWEN25_VL_7B,
    architecture,
    build_random_qwen25vl,
    parameter_count,
    qwen25vl_config,
    write_config_and_processor,
)
from finebench.models.tiny import SPECIAL_TOKENS
from finebench.util.errors import FinebenchError

_VISION = {
    "depth": 32, "hidden_act": "silu", "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
    "in_chans": 3, "patch_size": 14, "spatial_merge_size": 2, "spatial_patch_size": 14, "window_size": 112,
    "fullatt_block_indexes": [7, 15, 23, 31], "tokens_per_second": 2, "temporal_patch_size": 2,
}
_TEXT = {
    "hidden_act": "silu", "max_position_embeddings": 128000, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
    "use_sliding_window": False,  # so sliding_window (32768) is inert; transformers stores it as None
}
PUBLISHED = {
    "3b": {**_TEXT, "hidden_size": 2048, "intermediate_size": 11008, "max_window_layers": 70, "num_attention_heads": 16,
           "num_hidden_layers": 36, "num_key_value_heads": 2, "tie_word_embeddings": True, "vocab_size": 151936,
           "vision_config": {**_VISION, "out_hidden_size": 2048}},
    "7b": {**_TEXT, "hidden_size": 3584, "intermediate_size": 18944, "max_window_layers": 28, "num_attention_heads": 28,
           "num_hidden_layers": 28, "num_key_value_heads": 4, "tie_word_embeddings": False, "vocab_size": 152064,
           "vision_config": {**_VISION, "out_hidden_size": 3584}},
}
"""The architecture fields of config.json of Qwen/Qwen2.5-VL-{3B,7B}-Instruct, as published."""

IDS = {token: 1000 + i for i, token in enumerate(SPECIAL_TOKENS)}

SMALL = dataclasses.replace(
    QWEN25_VL_3B, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, max_window_layers=2, vocab_size=4096, mrope_section=(2, 3, 3), vision_depth=2,
    vision_hidden_size=32, vision_intermediate_size=64, vision_num_heads=2, vision_fullatt_block_indexes=(1,),
)
"""The 3B architecture shrunk so that a full build, save and load takes a second on a CPU; its
vocabulary (4096) is still much larger than the tokenizer's, as in the real sizes."""


def config_json_values(config: Any) -> dict[str, Any]:
    """The fields of a transformers Qwen2.5-VL config that the released config.json sets, in its layout."""
    text, vision = config.text_config, config.vision_config
    rope = text.rope_parameters
    values = {key: getattr(text, key) for key in PUBLISHED["3b"] if hasattr(text, key) and key != "vision_config"}
    values.update(rope_theta=rope["rope_theta"], tie_word_embeddings=config.tie_word_embeddings,
                  rope_scaling={"type": "mrope", "mrope_section": list(rope["mrope_section"])})
    values["vision_config"] = {key: getattr(vision, key) for key in _VISION if hasattr(vision, key)}
    values["vision_config"].update(in_chans=vision.in_channels, spatial_patch_size=vision.patch_size,
                                   out_hidden_size=vision.out_hidden_size,
                                   fullatt_block_indexes=list(vision.fullatt_block_indexes))
    return values


@pytest.mark.parametrize("size, arch", [("3b", QWEN25_VL_3B), ("7b", QWEN25_VL_7B)])
def test_configs_have_the_published_architecture(size, arch):
    config = qwen25vl_config(arch, IDS)
    assert config_json_values(config) == PUBLISHED[size]
    assert (config.image_token_id, config.vision_start_token_id) == (IDS["<|image_pad|>"], IDS["<|vision_start|>"])
    assert architecture(f"qwen2.5-vl-{size}") is arch


@pytest.mark.slow
@pytest.mark.parametrize("arch, expected", [(QWEN25_VL_3B, 3_754_622_976), (QWEN25_VL_7B, 8_292_166_656)])
def test_parameter_counts_are_the_released_models(arch, expected):
    """3.75B and 8.29B including the vision tower, as the model pages state (exact values here)."""
    assert parameter_count(arch) == expected


def test_unknown_size_is_an_error_with_a_suggestion():
    with pytest.raises(FinebenchError, match="did you mean 'qwen2.5-vl-3b'"):
        architecture("qwen2.5-vl-3")


def test_the_processor_has_the_published_pixel_bounds(tmp_path):
    from transformers import AutoProcessor

    write_config_and_processor(tmp_path, SMALL)
    size = AutoProcessor.from_pretrained(tmp_path).image_processor.size
    assert (size["shortest_edge"], size["longest_edge"]) == (PUBLISHED_MIN_PIXELS, PUBLISHED_MAX_PIXELS)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory) -> Path:
    return build_random_qwen25vl(tmp_path_factory.mktemp("random-size") / "small", SMALL, seed=3)


def test_a_build_is_reused_and_a_different_architecture_rebuilds(small_model):
    weights = small_model / "model.safetensors"
    mtime = weights.stat().st_mtime_ns
    assert build_random_qwen25vl(small_model, SMALL, seed=3) == small_model
    assert weights.stat().st_mtime_ns == mtime
    other = dataclasses.replace(SMALL, num_hidden_layers=1)
    build_random_qwen25vl(small_model, other, seed=3)
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(small_model).text_config.num_hidden_layers == 1
    build_random_qwen25vl(small_model, SMALL, seed=3)  # restore for the other tests


@pytest.mark.slow
def test_forced_length_generation_stays_inside_the_tokenizer(small_model, monkeypatch):
    """Through the hf backend: exactly max_new_tokens new tokens per row, every one a token the
    small tokenizer can decode, although the model's vocabulary is four times larger."""
    from PIL import Image

    adapter = HFAdapter.from_card(ModelCard(name="small", adapter="hf", model=str(small_model)), RuntimeOptions(device="cpu"))
    try:
        n_tokens = len(adapter.processor.tokenizer)
        assert adapter.model.config.text_config.vocab_size == 4096 > n_tokens
        assert not adapter.model.get_output_embeddings().weight[n_tokens:].any()
        new: list[Any] = []
        generate = adapter.model.generate

        def spy(**inputs: Any) -> Any:
            output = generate(**inputs)
            new.append(output[:, inputs["input_ids"].shape[1] :])
            return output

        monkeypatch.setattr(adapter.model, "generate", spy)
        gen = {"max_new_tokens": 8, "min_new_tokens": 8}
        requests = [Request("t", i, 0, f"Which bird is this, {i}?", Image.new("RGB", (60 + 20 * i, 50), (40 * i, 90, 30)), (), gen)
                    for i in range(3)]
        texts = adapter.generate(requests)
        (tokens,) = new
        assert tokens.shape == (3, 8) and int(tokens.max()) < n_tokens
        assert all(texts)
    finally:
        adapter.close()


def test_vllm_accepts_the_full_size_architecture(tmp_path):
    """vLLM reads the 3B config and tokenizer (no weights needed) as a Qwen2.5-VL with 128k context."""
    pytest.importorskip("vllm")
    from vllm.engine.arg_utils import EngineArgs

    write_config_and_processor(tmp_path, QWEN25_VL_3B)
    model_config = EngineArgs(model=str(tmp_path), limit_mm_per_prompt={"image": 5}).create_model_config()
    assert model_config.architectures == ["Qwen2_5_VLForConditionalGeneration"]
    assert (model_config.max_model_len, model_config.get_hidden_size()) == (128000, 2048)
    assert model_config.get_vocab_size() == 151936
