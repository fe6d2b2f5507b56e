"""HFAdapter on the tiny offline Qwen2.5-VL: loading, batched generation, fingerprints, errors."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from finebench.adapters.factory import RuntimeOptions, create_adapter
from finebench.adapters.hf import HFAdapter, _apply_pixel_bounds
from finebench.adapters.instance import Request
from finebench.models.cards import ModelCard
from finebench.util.errors import ConfigError, FinebenchError

CPU = RuntimeOptions(device="cpu")

PROMPTS = (
    "What is the species of the bird in this image?",
    "Name the aircraft variant.",
    "Dog?",
    "Given the question: What is the make, model and year of the car in this image? Think in <think> </think>.",
    "Which flower is this, a daisy or a rose?",
    "What breed is this pet: Bengal, Birman, Persian or Sphynx? Explain your reasoning first.",
    "A",
    "Which Boeing or Airbus model is shown?",
)
IMAGE_SIZES = ((100, 60), (40, 90), (200, 200), (30, 30), (84, 84), (300, 100), (56, 56), (60, 120))
"""(width, height); the image processor turns these into 1 to 9 image tokens of different grids."""


def card_for(model: str | Path, **fields: Any) -> ModelCard:
    """fp32 unless asked: bf16 rounding makes greedy outputs depend on the batch (padding) on the tiny model."""
    return ModelCard(name="tiny-test", adapter="hf", model=str(model), **{"dtype": "float32", **fields})


def make_requests(max_new_tokens: int = 12, **gen_kwargs: Any) -> list[Request]:
    rng = np.random.default_rng(0)
    requests = []
    for doc_id, (prompt, (width, height)) in enumerate(zip(PROMPTS, IMAGE_SIZES, strict=True)):
        image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        kwargs = {"do_sample": False, "max_new_tokens": max_new_tokens, **gen_kwargs}
        requests.append(Request("cub_open_seen", doc_id, 0, prompt, image, ("a", "b"), kwargs))
    return requests


@pytest.fixture(scope="module")
def adapter(tiny_model_dir: Path) -> Iterator[HFAdapter]:
    loaded = HFAdapter.from_card(card_for(tiny_model_dir), CPU)
    yield loaded
    loaded.close()


def test_create_adapter_from_builtin_name_reuses_the_cache(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("finebench.models.builtin.default_data_root", lambda: tiny_model_dir.parents[1])
    loaded = create_adapter(card_for("builtin:tiny-qwen2.5-vl"), CPU)
    assert isinstance(loaded, HFAdapter)
    assert str(tiny_model_dir.resolve()) in loaded.fingerprint()
    loaded.close()


def test_generate_returns_one_string_per_request(adapter: HFAdapter) -> None:
    responses = adapter.generate(make_requests())
    assert len(responses) == len(PROMPTS)
    assert all(isinstance(r, str) and r for r in responses)
    assert len(set(responses)) > 1  # the random model reacts to its input (else the tests below prove nothing)


def test_greedy_results_do_not_depend_on_batch_size(adapter: HFAdapter) -> None:
    requests = make_requests()
    one_by_one = [adapter.generate([r])[0] for r in requests]
    in_fours = adapter.generate(requests[:4]) + adapter.generate(requests[4:])
    assert in_fours == one_by_one


def test_greedy_is_deterministic_across_loads(adapter: HFAdapter, tiny_model_dir: Path) -> None:
    requests = make_requests()[:3]
    first = adapter.generate(requests)
    assert adapter.generate(requests) == first
    reloaded = HFAdapter.from_card(card_for(tiny_model_dir), CPU)
    assert reloaded.generate(requests) == first
    reloaded.close()


def test_max_new_tokens_is_respected(adapter: HFAdapter, monkeypatch: pytest.MonkeyPatch) -> None:
    new_token_counts: list[int] = []
    generate = adapter.model.generate

    def spy(**inputs: Any) -> Any:
        output = generate(**inputs)
        new_token_counts.append(output.shape[1] - inputs["input_ids"].shape[1])
        return output

    monkeypatch.setattr(adapter.model, "generate", spy)
    adapter.generate(make_requests(max_new_tokens=3))
    assert new_token_counts == [3]  # one batch; the random model never hits <|im_end|> this early


def test_min_new_tokens_forces_the_length(adapter: HFAdapter, monkeypatch: pytest.MonkeyPatch) -> None:
    """The random model never emits <|im_end|>, so end-of-text is made the token it emits first:
    without min_new_tokens the first response then stops at once; with it, every row runs to the end."""
    new_tokens: list[Any] = []
    generate = adapter.model.generate

    def spy(**inputs: Any) -> Any:
        output = generate(**inputs)
        new_tokens.append(output[:, inputs["input_ids"].shape[1] :])
        return output

    monkeypatch.setattr(adapter.model, "generate", spy)
    adapter.generate(make_requests(max_new_tokens=6))
    stop = int(new_tokens.pop()[0, 0])
    monkeypatch.setattr(adapter.model.generation_config, "eos_token_id", stop)
    pad = adapter.processor.tokenizer.pad_token_id

    adapter.generate(make_requests(max_new_tokens=6))
    assert new_tokens.pop()[0, 1:].tolist() == [pad] * 5  # stopped after the first token

    adapter.generate(make_requests(max_new_tokens=6, min_new_tokens=6))
    forced = new_tokens.pop()
    assert forced.shape[1] == 6 and stop not in forced.tolist()[0] and pad not in forced.flatten().tolist()


def test_requests_with_different_settings_are_batched_separately(adapter: HFAdapter) -> None:
    short, long = make_requests(max_new_tokens=2)[:2], make_requests(max_new_tokens=6)[2:4]
    mixed = adapter.generate([short[0], long[0], short[1], long[1]])
    (short_0, short_1), (long_0, long_1) = adapter.generate(short), adapter.generate(long)
    assert mixed == [short_0, long_0, short_1, long_1]


def test_sampling_is_seeded(adapter: HFAdapter) -> None:
    def sample(seed: int) -> list[str]:
        return adapter.generate(make_requests(do_sample=True, temperature=1.0, seed=seed)[:2])

    assert sample(1) == sample(1)
    assert sample(1) != sample(2)


def test_unknown_generation_setting_is_an_error(adapter: HFAdapter) -> None:
    with pytest.raises(FinebenchError, match="num_beams"):
        adapter.generate(make_requests(num_beams=2)[:1])


def test_fingerprint_is_stable_and_tracks_config_weights_dtype_and_pixels(tiny_model_dir: Path, tmp_path: Path) -> None:
    checkpoint = tmp_path / "ckpt"
    shutil.copytree(tiny_model_dir, checkpoint)

    def fingerprint(**fields: Any) -> str:
        loaded = HFAdapter.from_card(card_for(checkpoint, **fields), CPU)
        loaded.close()
        return loaded.fingerprint()

    original = fingerprint()
    assert fingerprint() == original
    assert "dtype=float32" in original

    config_path = checkpoint / "config.json"
    config = json.loads(config_path.read_text())
    config["text_config"]["rms_norm_eps"] = 1e-5
    config_path.write_text(json.dumps(config))
    new_config = fingerprint()
    assert new_config != original

    weights = checkpoint / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # retrained, same size
    new_weights = fingerprint()
    assert new_weights != new_config

    assert fingerprint(dtype="bfloat16") != new_weights
    assert fingerprint(max_pixels=28 * 28 * 4) != new_weights


def test_card_pixel_bounds_reach_the_image_processor(tiny_model_dir: Path) -> None:
    loaded = HFAdapter.from_card(card_for(tiny_model_dir, min_pixels=28 * 28, max_pixels=28 * 28 * 2), CPU)
    size = loaded.processor.image_processor.size
    assert (size["shortest_edge"], size["longest_edge"]) == (28 * 28, 28 * 28 * 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # no deprecated per-call min/max_pixels
        assert len(loaded.generate(make_requests(max_new_tokens=2)[:2])) == 2
    loaded.close()


def test_pixel_bounds_for_a_processor_without_them_are_a_config_error() -> None:
    processor = SimpleNamespace(image_processor=object())
    with pytest.raises(ConfigError, match="max_pixels set but the image processor object has no pixel bounds"):
        _apply_pixel_bounds(card_for("/unused", max_pixels=3136), processor)


def test_missing_model_directory_is_a_helpful_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-checkpoint"
    with pytest.raises(FinebenchError, match="folder .* does not exist") as info:
        HFAdapter.from_card(card_for(missing), CPU)
    assert str(missing) in str(info.value) and "\n" not in str(info.value)


def test_broken_model_directory_is_a_helpful_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FinebenchError, match="cannot load model 'tiny-test'") as info:
        HFAdapter.from_card(card_for(tmp_path), CPU)
    assert str(tmp_path) in str(info.value) and "hf download" not in str(info.value)  # a folder: no Hub hint


def test_bad_dtype_is_a_config_error(tiny_model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="dtype 'fp8'"):
        HFAdapter.from_card(card_for(tiny_model_dir, dtype="fp8"), CPU)


def test_closed_adapter_refuses_to_generate(tiny_model_dir: Path) -> None:
    loaded = HFAdapter.from_card(card_for(tiny_model_dir), CPU)
    loaded.close()
    assert loaded.model is None
    with pytest.raises(FinebenchError, match="closed"):
        loaded.generate(make_requests()[:1])


def test_demonstration_images_reach_the_model(tiny_model_dir):
    from finebench.adapters.factory import RuntimeOptions
    from finebench.adapters.hf import HFAdapter
    from finebench.adapters.instance import Request
    from finebench.data.demo import demo_image
    from finebench.models.cards import ModelCard

    adapter = HFAdapter.from_card(ModelCard(name="t", adapter="hf", model=str(tiny_model_dir)), RuntimeOptions())
    kwargs = {"do_sample": False, "max_new_tokens": 6}
    plain = Request("t", 0, 0, "Which bird?", demo_image(0, 0), ("A", "B"), kwargs)
    with_demo = Request("t", 0, 0, "Which bird?", demo_image(0, 0), ("A", "B"), kwargs,
                        demonstrations=((demo_image(1, 0), "A"), (demo_image(2, 0), "B")))
    outputs = adapter.generate([plain, with_demo])
    assert len(outputs) == 2 and all(isinstance(o, str) for o in outputs)
    assert adapter.generate([with_demo]) == [outputs[1]]  # batched with a one-image request or alone
