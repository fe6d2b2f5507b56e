"""The lmms adapter against the real lmms-eval package: its dummy model and its Qwen2.5-VL
implementations (simple and chat) loading finebench's tiny offline Qwen2.5-VL."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from finebench.adapters.factory import RuntimeOptions, create_adapter
from finebench.adapters.instance import Request
from finebench.adapters.lmms import arg_string, chat_messages, instance_arguments, lmms_gen_kwargs
from finebench.data.demo import demo_image, write_demo_data_root
from finebench.evaluation.config import RunConfig
from finebench.evaluation.evaluator import Evaluator
from finebench.models.cards import ModelCard
from finebench.util.errors import ConfigError, FinebenchError

lmms_eval = pytest.importorskip("lmms_eval")
CPU = RuntimeOptions(batch_size=2, device="cpu")


def requests(n: int = 3) -> list[Request]:
    return [Request("t", i, 0, "Which bird is this?", demo_image(i, 0), ("A", "B"), {"max_new_tokens": 6}) for i in range(n)]


def lmms_card(model: str, **options) -> ModelCard:
    return ModelCard(name=f"lmms-{model}", adapter="lmms", model=model, family="test", adapter_options=options)


def test_argument_translation():
    assert arg_string({"pretrained": "/m", "max_pixels": 3136}) == "pretrained=/m,max_pixels=3136"
    with pytest.raises(ConfigError, match="cannot contain ','"):
        arg_string({"pretrained": "a,b"})
    assert lmms_gen_kwargs({"max_new_tokens": 9}) == {"max_new_tokens": 9, "do_sample": False, "temperature": 0.0, "until": []}
    sampled = lmms_gen_kwargs({"do_sample": True, "temperature": 0.7, "top_p": 0.9, "seed": 1})
    assert sampled["temperature"] == 0.7 and sampled["top_p"] == 0.9 and sampled["do_sample"]
    request = Request("t", 0, 0, "Q?", demo_image(0, 0), ("A",), demonstrations=((demo_image(1, 0), "A"),))
    (message,) = chat_messages(request)
    assert [p["type"] for p in message["content"]] == ["image", "text", "image", "text"]
    assert message["content"][2]["url"] is request.image
    simple = instance_arguments(request, 4, is_simple=True)
    assert simple[0] == "Q?" and simple[3:] == (4, "finebench", "test") and simple[2]({"request": request}) == request.images()
    chat = instance_arguments(request, 4, is_simple=False)
    assert chat[1]({"request": request}) == [message] and chat[2]["max_new_tokens"] == 2048


def test_dummy_model_sees_every_request_and_leaves_no_documents_behind():
    adapter = create_adapter(lmms_card("dummy", model_args={"response": "<answer>A</answer>"}), CPU)
    assert adapter.fingerprint().startswith("lmms:dummy:simple|response=<answer>A</answer>|lmms_eval=")
    assert adapter.generate(requests()) == ["<answer>A</answer>"] * 3
    assert adapter.model.task_dict["finebench"]["test"] == {}


@pytest.fixture(scope="module")
def qwen_args(tiny_model_dir: Path) -> dict:
    return {"pretrained": str(tiny_model_dir), "device_map": "cpu", "min_pixels": 784, "max_pixels": 3136}


@pytest.mark.parametrize("force_simple", [False, True])
def test_lmms_qwen25vl_runs_the_tiny_model_greedily(qwen_args, force_simple):
    adapter = create_adapter(lmms_card("qwen2_5_vl", model_args=qwen_args, force_simple=force_simple), CPU)
    assert adapter.model.is_simple is force_simple
    first = adapter.generate(requests())
    assert len(first) == 3 and all(isinstance(t, str) for t in first)
    assert len(set(first)) > 1  # one prompt, three images: the images reach the model
    assert adapter.generate(requests()) == first
    adapter.close()


def test_harness_scores_an_lmms_model(qwen_args, tmp_path):
    data_root = write_demo_data_root(tmp_path / "data", items_per_file=4)
    # a random model rarely stops by itself: bound its answers so that 4 items take seconds, not minutes
    card = dataclasses.replace(lmms_card("qwen2_5_vl", model_args=qwen_args), generation={"max_new_tokens": 16})
    adapter = create_adapter(card, CPU)
    config = RunConfig(tasks=("cub_closed_seen",), data_root=data_root, output_path=tmp_path / "out", trials=1)
    results = Evaluator(config, adapter, card).run()
    assert results["model"]["adapter"] == "lmms" and results["results"]["cub_closed_seen"]["n_samples"] == 4


def test_unknown_models_and_missing_lmms_eval_are_clear(monkeypatch):
    with pytest.raises(FinebenchError, match="lmms-eval has no usable model 'no_such_model'"):
        create_adapter(lmms_card("no_such_model"), CPU)
    with pytest.raises(ConfigError, match="unknown adapter_options pretrained"):
        create_adapter(lmms_card("dummy", pretrained="x"), CPU)
    monkeypatch.setitem(sys.modules, "lmms_eval.models", None)
    with pytest.raises(FinebenchError, match=r"pip install 'finebench\[lmms\]'"):
        create_adapter(lmms_card("dummy"), CPU)
