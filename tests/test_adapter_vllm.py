"""The vllm adapter's pure parts (engine and sampling settings, messages, sharding) and its
refusal without vllm or a GPU; the engine itself only runs on a GPU machine."""

from __future__ import annotations

import importlib.util

import pytest

from finebench.adapters import factory
from finebench.adapters.factory import RuntimeOptions, create_adapter, resolve_backend
from finebench.adapters.instance import Request
from finebench.adapters.vllm import (
    chat_messages,
    device_groups,
    engine_kwargs,
    parse_vllm_options,
    sampling_kwargs,
    shard_bounds,
)
from finebench.data.demo import demo_image
from finebench.models.cards import ModelCard
from finebench.util.errors import ConfigError, FinebenchError

CARD = ModelCard(name="q", adapter="vllm", model="Qwen/Qwen2.5-VL-3B-Instruct", dtype="bfloat16", max_pixels=1003520)


def test_engine_kwargs_carry_the_cards_settings():
    card = ModelCard(**{**CARD.__dict__, "adapter_options": {"tensor_parallel_size": 2, "max_model_len": 8192,
                                                             "engine_args": {"max_num_batched_tokens": 8192}}})
    kwargs = engine_kwargs(card, "/models/q", parse_vllm_options(card), seed=3, max_images=5)
    assert kwargs == {
        "model": "/models/q", "dtype": "bfloat16", "trust_remote_code": False, "seed": 3,
        "tensor_parallel_size": 2, "pipeline_parallel_size": 1, "gpu_memory_utilization": 0.9,
        "enforce_eager": False, "limit_mm_per_prompt": {"image": 5}, "max_model_len": 8192,
        "mm_processor_kwargs": {"max_pixels": 1003520}, "max_num_batched_tokens": 8192,
    }


@pytest.mark.parametrize("options, message", [
    ({"tensor_parallel_size": 0}, "tensor_parallel_size must be a positive integer"),
    ({"data_parallel_size": True}, "data_parallel_size must be a positive integer"),
    ({"gpu_memory_utilization": 1.5}, "gpu_memory_utilization"),
    ({"tensorparallel": 2}, "unknown adapter_options tensorparallel"),
    ({"engine_args": [1]}, "engine_args must be a mapping"),
])
def test_bad_options_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        parse_vllm_options(ModelCard(name="q", adapter="vllm", model="m", adapter_options=options))


def test_sampling_matches_the_hf_adapters_settings():
    assert sampling_kwargs({"max_new_tokens": 64}, 0) == {"max_tokens": 64, "temperature": 0.0}
    assert sampling_kwargs({}, 0)["max_tokens"] == 2048
    sampled = sampling_kwargs({"do_sample": True, "temperature": 0.7, "top_p": 0.9, "seed": 11, "repetition_penalty": 1.1}, 0)
    assert sampled == {"max_tokens": 2048, "temperature": 0.7, "top_p": 0.9, "seed": 11, "repetition_penalty": 1.1}
    assert sampling_kwargs({"do_sample": True}, 5)["seed"] == 5
    forced = sampling_kwargs({"max_new_tokens": 64, "min_new_tokens": 64}, 0)
    assert forced == {"max_tokens": 64, "min_tokens": 64, "temperature": 0.0}
    with pytest.raises(FinebenchError, match="num_beams"):
        sampling_kwargs({"num_beams": 4}, 0)


def test_messages_carry_pil_images_in_order():
    demo, query = demo_image(0, 0), demo_image(1, 0)
    request = Request("t", 0, 0, "Which bird?", query, ("A", "B"), demonstrations=((demo, "A"),))
    (message,) = chat_messages(request)
    assert [p["type"] for p in message["content"]] == ["image_pil", "text", "image_pil", "text"]
    assert message["content"][0]["image_pil"] is demo and message["content"][2]["image_pil"] is query
    assert message["content"][3]["text"] == "Which bird?"


@pytest.mark.parametrize("n, shards", [(10, 3), (2, 4), (0, 2), (7, 1)])
def test_shards_cover_every_request_once_in_order(n, shards):
    bounds = shard_bounds(n, shards)
    assert len(bounds) == shards
    assert [i for start, end in bounds for i in range(start, end)] == list(range(n))
    assert max(e - s for s, e in bounds) - min(e - s for s, e in bounds) <= 1


def test_data_parallel_engines_get_disjoint_gpus():
    assert device_groups(2, 2, ["0", "1", "2", "3"]) == ["0,1", "2,3"]
    assert device_groups(3, 1, ["4", "5", "6"]) == ["4", "5", "6"]
    with pytest.raises(FinebenchError, match="needs 4 GPUs; 3 visible"):
        device_groups(2, 2, ["0", "1", "2"])


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_without_vllm_the_error_names_the_fallback():
    with pytest.raises(FinebenchError, match=r"finebench\[vllm\].*--backend hf"):
        create_adapter(CARD, RuntimeOptions())


def test_backend_resolution(monkeypatch):
    hf_card = ModelCard(name="m", adapter="hf", model="m")
    clip_card = ModelCard(name="c", adapter="clip", model="c")
    monkeypatch.setattr(factory, "vllm_usable", lambda: False)
    assert resolve_backend(hf_card, "auto").adapter == "hf"
    assert resolve_backend(CARD, "auto").adapter == "hf"
    assert resolve_backend(hf_card, "vllm").adapter == "vllm"
    monkeypatch.setattr(factory, "vllm_usable", lambda: True)
    assert resolve_backend(hf_card, "auto").adapter == "vllm"
    assert resolve_backend(hf_card, "hf").adapter == "hf"
    assert resolve_backend(clip_card, "auto") is clip_card
    with pytest.raises(FinebenchError, match="applies to hf/vllm checkpoints only"):
        resolve_backend(clip_card, "vllm")
    with pytest.raises(FinebenchError, match="unknown backend 'vlm'"):
        resolve_backend(hf_card, "vlm")


def test_vllm_usable_is_false_on_this_cpu_machine():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    assert factory.vllm_usable() is False
