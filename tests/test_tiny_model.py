"""The offline tiny Qwen2.5-VL: loadable by the Auto classes, deterministic, atomic and cached."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from finebench.models.builtin import BUILD_MARKER, build_tiny_qwen25vl, resolve_builtin
from finebench.models.tiny import SPECIAL_TOKENS
from finebench.util.errors import UnknownNameError


def _file_bytes(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def loaded(tiny_model_dir: Path) -> tuple[object, object]:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    return AutoModelForImageTextToText.from_pretrained(tiny_model_dir), AutoProcessor.from_pretrained(tiny_model_dir)


def test_loads_with_auto_classes_and_generates(loaded: tuple[object, object]) -> None:
    import torch
    from PIL import Image

    model, processor = loaded
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    image = Image.new("RGB", (90, 50), (200, 40, 30))
    content = [{"type": "image", "image": image}, {"type": "text", "text": "Which bird?"}]
    messages = [{"role": "user", "content": content}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[text], images=[image], return_tensors="pt")
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert output.shape[1] - inputs["input_ids"].shape[1] <= 4


def test_special_token_ids_agree_between_config_and_tokenizer(loaded: tuple[object, object]) -> None:
    model, processor = loaded
    tokenizer = processor.tokenizer
    for config in (model.config, model.config.text_config):
        assert config.bos_token_id == tokenizer.convert_tokens_to_ids("<|endoftext|>")
        assert config.eos_token_id == tokenizer.eos_token_id == tokenizer.convert_tokens_to_ids("<|im_end|>")
        assert config.pad_token_id == tokenizer.pad_token_id
    assert model.config.image_token_id == tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert max(tokenizer.get_vocab().values()) < model.config.text_config.vocab_size


def test_parameter_count_is_tiny(loaded: tuple[object, object]) -> None:
    model, _ = loaded
    assert sum(p.numel() for p in model.parameters()) < 1_000_000


def test_tokenizer_round_trips_and_keeps_special_tokens_whole(loaded: tuple[object, object]) -> None:
    _, processor = loaded
    tokenizer = processor.tokenizer
    text = "Given the question: Is it a Laysan Albatross? <think>white head</think> naïve 日本 42!"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    for token in SPECIAL_TOKENS:
        assert len(tokenizer(token)["input_ids"]) == 1, token
    ids = tokenizer("<|im_start|>user\nhi<|im_end|>")["input_ids"]
    assert tokenizer.decode(ids, skip_special_tokens=True) == "user\nhi"


def test_chat_template_is_qwen_style(loaded: tuple[object, object]) -> None:
    _, processor = loaded
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is it?"}]},
    ]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n"
        "<|vision_start|><|image_pad|><|vision_end|>What is it?<|im_end|>\n<|im_start|>assistant\n"
    )
    default_system = processor.apply_chat_template(messages[1:], tokenize=False)
    assert default_system.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")


def test_build_is_deterministic_and_replaces_a_build_of_another_seed(tiny_model_dir: Path, tmp_path: Path) -> None:
    dest = tmp_path / "tiny"
    build_tiny_qwen25vl(dest, seed=1)
    other_seed = _file_bytes(dest)
    reference = _file_bytes(tiny_model_dir)  # built with the default seed 0
    assert other_seed["tokenizer.json"] == reference["tokenizer.json"]
    assert other_seed["model.safetensors"] != reference["model.safetensors"]

    build_tiny_qwen25vl(dest, seed=0)
    assert _file_bytes(dest) == reference
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]  # no staging or stale folders left behind


def test_rebuild_of_a_complete_build_is_a_no_op(tiny_model_dir: Path) -> None:
    mtimes = {p.name: p.stat().st_mtime_ns for p in tiny_model_dir.iterdir()}
    start = time.perf_counter()
    assert build_tiny_qwen25vl(tiny_model_dir) == tiny_model_dir
    assert time.perf_counter() - start < 0.5
    assert {p.name: p.stat().st_mtime_ns for p in tiny_model_dir.iterdir()} == mtimes


def test_incomplete_or_outdated_build_is_rebuilt(tiny_model_dir: Path, tmp_path: Path) -> None:
    dest = tmp_path / "tiny"
    dest.mkdir()
    (dest / "config.json").write_text("{}")  # an interrupted copy: no build marker
    (dest / BUILD_MARKER).write_text(json.dumps({"builder_version": 0, "seed": 0}))
    build_tiny_qwen25vl(dest)
    assert _file_bytes(dest) == _file_bytes(tiny_model_dir)


def test_resolve_builtin_reuses_the_cache(tiny_model_dir: Path) -> None:
    assert resolve_builtin("tiny-qwen2.5-vl", cache_root=tiny_model_dir.parents[1]) == tiny_model_dir


def test_resolve_builtin_unknown_name_suggests(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'tiny-qwen2.5-vl'"):
        resolve_builtin("tiny-qwen25-vl", cache_root=tmp_path)
    assert not any(tmp_path.iterdir())
