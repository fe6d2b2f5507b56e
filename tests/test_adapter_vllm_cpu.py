"""The vllm adapter against the installed vLLM, as far as a machine without a GPU goes.

Runs in CI's vllm lane (vllm 0.33.0, transformers 5.20.2) and skips where vllm is not installed.

- Every keyword the adapter gives ``vllm.LLM`` (for each card in ``baselines/`` that can run on
  vllm, and with every ``adapter_options`` field set) is a parameter of ``LLM`` or ``EngineArgs``,
  and ``EngineArgs`` turns the tiny card's into a model config; every ``SamplingParams`` keyword
  the adapter derives from the tasks' and cards' generation settings builds a ``SamplingParams``.
- The messages the adapter builds for closed-world, open-world and 5-image ICL requests, made by
  the real harness, go through the code ``LLM.chat`` runs before the engine (vLLM's chat parsing,
  chat template and Qwen2.5-VL multimodal processor) and come out as exactly the token ids, image
  grids and pixels the ``hf`` backend feeds its model.

What needs a CUDA GPU and is not tested here: starting the engine (model loading, KV-cache
allocation, CUDA graphs), generation itself, data-parallel worker processes, and TRL's vLLM
colocate mode; ``benchmarks/gpu_check.sh`` runs those on a GPU machine.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("vllm")

from finebench.adapters.factory import CHECKPOINT_BACKENDS, RuntimeOptions  # noqa: E402
from finebench.adapters.hf import HFAdapter  # noqa: E402
from finebench.adapters.instance import Request  # noqa: E402
from finebench.adapters.vllm import VLLMOptions, chat_messages, engine_kwargs, parse_vllm_options, sampling_kwargs  # noqa: E402
from finebench.data.demo import write_demo_data_root  # noqa: E402
from finebench.evaluation.config import RunConfig
from finebench.evaluation.evaluator import Evaluator
from finebench.models.cards import ModelCard, all_cards, resolve_model  # noqa: E402
from finebench.tasks.index import TaskIndex  # noqa: E402
from finebench.tasks.items import RELEASE_OPTION_COUNT  # noqa: E402
from tests.fakes import ScriptedAdapter  # noqa: E402

MAX_IMAGES = 1 + RELEASE_OPTION_COUNT
"""What ``finebench run --strategy icl`` gives the adapter (one demonstration per option + the query)."""


def llm_keywords() -> set[str]:
    """Everything ``vllm.LLM(...)`` accepts: its own parameters, and EngineArgs fields via **kwargs."""
    from vllm import LLM
    from vllm.engine.arg_utils import EngineArgs

    own = set(inspect.signature(LLM.__init__).parameters) - {"self", "kwargs"}
    return own | {f.name for f in dataclasses.fields(EngineArgs)}


def vllm_cards() -> list[ModelCard]:
    """The shipped cards that ``--backend vllm`` (or ``auto`` on a GPU machine) runs on vLLM."""
    return [replace(card, adapter="vllm") for card in all_cards() if card.adapter in CHECKPOINT_BACKENDS]


def test_every_card_can_run_on_vllm_and_some_set_pixel_bounds():
    cards = vllm_cards()
    assert len(cards) >= 12 and any(card.max_pixels for card in cards)


@pytest.mark.parametrize("card", vllm_cards(), ids=lambda card: card.name)
def test_engine_keywords_of_every_card_are_llm_parameters(card):
    kwargs = engine_kwargs(card, card.model, parse_vllm_options(card), seed=0, max_images=MAX_IMAGES)
    assert set(kwargs) <= llm_keywords()
    from vllm.engine.arg_utils import EngineArgs

    EngineArgs(**kwargs)  # a dataclass: a renamed field is a TypeError here


def test_every_adapter_option_reaches_a_valid_llm_parameter():
    options = {"tensor_parallel_size": 2, "pipeline_parallel_size": 2, "data_parallel_size": 2,
               "gpu_memory_utilization": 0.5, "max_model_len": 4096, "max_num_seqs": 64, "enforce_eager": True,
               "chunk_size": 8, "engine_args": {"kv_cache_dtype": "auto", "max_num_batched_tokens": 8192}}
    assert set(options) == {f.name for f in dataclasses.fields(VLLMOptions)}  # every option is exercised
    card = ModelCard(name="all", adapter="vllm", model="m", min_pixels=3136, max_pixels=12845056, adapter_options=options)
    kwargs = engine_kwargs(card, "m", parse_vllm_options(card), seed=1, max_images=MAX_IMAGES)
    assert {"max_model_len", "max_num_seqs", "mm_processor_kwargs", "kv_cache_dtype"} <= set(kwargs) <= llm_keywords()


def test_the_chat_call_uses_llm_chat_parameters():
    from vllm import LLM

    assert {"sampling_params", "use_tqdm"} <= set(inspect.signature(LLM.chat).parameters)


def generation_settings() -> list[dict[str, Any]]:
    """Every task's generation settings under every card's overrides, plus a sampled trial and the
    benchmark's forced length."""
    index = TaskIndex()
    tasks = [index.load(name) for name in sorted(index.tasks)]
    cards = [ModelCard(name="none", adapter="vllm", model="m"), *vllm_cards()]
    settings = {json.dumps({**t.generation, **c.generation}, sort_keys=True) for t in tasks for c in cards}
    extra = [{"do_sample": True, "temperature": 0.7, "top_p": 0.9, "top_k": 20, "seed": 3, "repetition_penalty": 1.05},
             {"max_new_tokens": 64, "min_new_tokens": 64}]
    return [json.loads(s) for s in sorted(settings)] + extra


def test_sampling_keywords_of_every_task_and_card_build_sampling_params():
    from vllm import SamplingParams

    for gen_kwargs in generation_settings():
        kwargs = sampling_kwargs(gen_kwargs, default_seed=0)
        params = SamplingParams(**kwargs)
        assert all(getattr(params, key) == value for key, value in kwargs.items()), gen_kwargs
    forced = SamplingParams(**sampling_kwargs({"max_new_tokens": 64, "min_new_tokens": 64}, 0))
    assert (forced.max_tokens, forced.min_tokens, forced.temperature) == (64, 64, 0.0)


# ---- vLLM's own chat parsing and multimodal processing ------------------------------------------


@pytest.fixture(scope="module")
def tiny_card(tiny_model_dir: Path) -> ModelCard:
    """The shipped tiny card (pixel bounds included) pointing at the session's tiny model."""
    return replace(resolve_model("tiny-qwen2.5-vl"), model=str(tiny_model_dir))


@pytest.fixture(scope="module")
def vllm_frontend(tiny_card: ModelCard) -> SimpleNamespace:
    """vLLM's front end for the adapter's engine keywords, with a CPU device config instead of a
    started engine. ``chat(conversations)``: the engine inputs ``LLM.chat`` would schedule, computed
    by the very method it calls (``LLM._preprocess_chat``). ``normalize(pixels)``: the rescale and
    normalisation vLLM defers to the GPU (``mm_device_do_normalize``), run by its reference code."""
    import torch
    from vllm import LLM
    from vllm.config import DeviceConfig, VllmConfig, set_current_vllm_config
    from vllm.engine.arg_utils import EngineArgs
    from vllm.model_executor.layers.fusion.mm_input_norm import build_mm_input_norm
    from vllm.renderers.registry import renderer_from_config

    kwargs = engine_kwargs(replace(tiny_card, adapter="vllm"), tiny_card.model, parse_vllm_options(tiny_card),
                           seed=0, max_images=MAX_IMAGES)
    model_config = EngineArgs(**kwargs).create_model_config()
    vllm_config = VllmConfig(model_config=model_config, device_config=DeviceConfig(device="cpu"))
    renderer = renderer_from_config(vllm_config)
    llm = SimpleNamespace(renderer=renderer, chat_template=None, model_config=model_config)
    with set_current_vllm_config(vllm_config):
        norm = build_mm_input_norm(model_config)
    normalize = getattr(norm, "forward_native", norm.forward)

    def chat(conversations: list) -> list[dict[str, Any]]:
        """One conversation at a time with an empty processor cache: on a cache hit vLLM sends the
        engine a reference instead of the pixels, and the demo items share images."""
        inputs = []
        for conversation in conversations:
            renderer.clear_mm_cache()
            inputs.extend(LLM._preprocess_chat(llm, [conversation]))
        return inputs

    return SimpleNamespace(chat=chat, normalize=lambda pixels: normalize(pixels, torch.float32))


@pytest.fixture(scope="module")
def hf_processor(tiny_card: ModelCard):
    """The processor of the hf backend, loaded by the hf adapter (card pixel bounds applied)."""
    adapter = HFAdapter.from_card(tiny_card, RuntimeOptions(device="cpu"))
    yield adapter.processor
    adapter.close()


@pytest.fixture(scope="module")
def harness_requests(tmp_path_factory) -> dict[str, list[Request]]:
    """Requests exactly as the runner builds them: closed and open world, and closed world with
    in-context learning (4 demonstrations + the query = 5 images)."""
    tmp = tmp_path_factory.mktemp("vllm-requests")
    root = write_demo_data_root(tmp / "data", items_per_file=8)
    items = [json.loads(line) for line in (root / "fine-r1/eval/bird_seen.jsonl").read_text().splitlines()]
    pool = tmp / "pool.jsonl"
    pool.write_text("".join(json.dumps({"image_path": i["image_path"], "class_name": i["ground_truth"]}) + "\n" for i in items))
    recorded: dict[str, list[Request]] = {}
    for name, task, extra in (("closed", "cub_closed_seen", {}), ("open", "cub_open_seen", {}),
                              ("icl", "cub_closed_seen", {"strategy": "icl", "icl_pool": pool})):
        seen: list[Request] = []

        def record(request: Request, seen: list[Request] = seen) -> str:
            seen.append(request)
            return "<answer>x</answer>"

        config = RunConfig(tasks=(task,), data_root=root, output_path=tmp / name, trials=1, limit=3,
                           metrics=("accuracy", "inclusion"), **extra)
        Evaluator(config, ScriptedAdapter(record), ModelCard(name="rec", adapter="rec", model="rec")).run()
        recorded[name] = seen
    return recorded


def hf_inputs(processor: Any, request: Request) -> dict[str, Any]:
    """What the hf adapter feeds ``model.generate`` for one request (its ``_generate_batch``)."""
    text = processor.apply_chat_template(request.messages(), add_generation_prompt=True, tokenize=False)
    return processor(text=[text], images=[request.images()], padding=True, return_tensors="pt")


def assert_same_model_inputs(frontend: SimpleNamespace, engine_input: dict[str, Any], hf: dict[str, Any],
                             n_images: int, image_token: int) -> None:
    import torch

    ids = engine_input["prompt_token_ids"]
    assert ids == hf["input_ids"][0].tolist()
    items = engine_input["mm_kwargs"]["image"]
    assert len(items) == n_images
    grids = torch.stack([item["image_grid_thw"].data for item in items])
    assert torch.equal(grids, hf["image_grid_thw"])
    pixels = frontend.normalize(torch.cat([item["pixel_values"].data for item in items]))
    assert torch.allclose(pixels, hf["pixel_values"], atol=1e-5)
    # each image's placeholder covers exactly its run of image tokens, in order
    placeholders = engine_input["mm_placeholders"]["image"]
    assert [p.length for p in placeholders] == [int(g.prod()) // 4 for g in grids]  # 2x2 patches per token
    assert all(set(ids[p.offset : p.offset + p.length]) == {image_token} for p in placeholders)
    assert sum(p.length for p in placeholders) == ids.count(image_token)


@pytest.mark.slow
@pytest.mark.parametrize("kind, n_images", [("closed", 1), ("open", 1), ("icl", MAX_IMAGES)])
def test_vllm_renders_the_adapters_messages_like_the_hf_backend(kind, n_images, harness_requests, vllm_frontend, hf_processor):
    requests = harness_requests[kind]
    assert requests and all(len(r.images()) == n_images for r in requests)
    engine_inputs = vllm_frontend.chat([chat_messages(r) for r in requests])
    image_token = hf_processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    for request, engine_input in zip(requests, engine_inputs, strict=True):
        assert engine_input["prompt"] == hf_processor.apply_chat_template(
            request.messages(), add_generation_prompt=True, tokenize=False)
        assert request.prompt in engine_input["prompt"]
        assert_same_model_inputs(vllm_frontend, engine_input, hf_inputs(hf_processor, request), n_images, image_token)


@pytest.mark.slow
def test_card_pixel_bounds_reach_vllms_image_processor(tiny_card, vllm_frontend, hf_processor):
    """A 200x150 image is cut to the card's 3136 pixels (2 tokens), not the processor's own 7056 (6)."""
    from PIL import Image

    request = Request("cub_open_seen", 0, 0, "Which bird?", Image.new("RGB", (200, 150), (200, 30, 30)), ())
    (engine_input,) = vllm_frontend.chat([chat_messages(request)])
    assert tiny_card.max_pixels == 3136
    assert engine_input["mm_placeholders"]["image"][0].length == 2
    image_token = hf_processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert_same_model_inputs(vllm_frontend, engine_input, hf_inputs(hf_processor, request), 1, image_token)


@pytest.mark.slow
def test_more_images_than_the_engine_limit_are_refused(harness_requests, vllm_frontend):
    request = harness_requests["icl"][0]
    too_many = replace(request, demonstrations=request.demonstrations + request.demonstrations[:1])
    from vllm.exceptions import VLLMValidationError

    with pytest.raises(VLLMValidationError, match=f"At most {MAX_IMAGES} image"):
        vllm_frontend.chat([chat_messages(too_many)])
