"""The clip adapter on a tiny random CLIPModel (and a tiny open_clip model): scores are the
cosines a direct computation gives, ensembling is the renormalised template mean, results do not
depend on batching or workers, and class texts are encoded once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from finebench.adapters.clip import ClipAdapter, ClipOptions
from finebench.adapters.factory import RuntimeOptions, create_adapter
from finebench.adapters.instance import Request
from finebench.data.demo import demo_image, write_demo_data_root
from finebench.evaluation.config import RunConfig
from finebench.evaluation.evaluator import Evaluator
from finebench.models.cards import ModelCard, resolve_model
from finebench.tasks.clip_templates import IMAGENET_TEMPLATES
from finebench.util.errors import ConfigError, FinebenchError

CLASSES = ("Blue Jay", "Red Cardinal", "Green Jay", "Indigo Bunting")
CPU = RuntimeOptions(batch_size=2, device="cpu")


def card(directory: Path, **changes) -> ModelCard:
    return ModelCard(**{"name": "clip-t", "adapter": "clip", "model": str(directory), "family": "test",
                        "adapter_options": {"num_workers": 0}, **changes})


@pytest.fixture(scope="module")
def adapter(tiny_clip_dir: Path) -> ClipAdapter:
    return create_adapter(card(tiny_clip_dir), CPU)


def requests(n: int = 5, strategy: str = "direct") -> list[Request]:
    return [Request("t", i, 0, "unused", demo_image(i, 0), tuple(np.roll(CLASSES, i)), strategy=strategy) for i in range(n)]


def reference(tiny_clip_dir: Path, images, texts: list[str]) -> np.ndarray:
    """Cosine similarities computed straight with transformers, without the adapter."""
    import torch
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(tiny_clip_dir).eval()
    tokens = AutoTokenizer.from_pretrained(tiny_clip_dir)(texts, padding="max_length", max_length=32, return_tensors="pt")
    pixels = AutoImageProcessor.from_pretrained(tiny_clip_dir)(images=images, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        image = model.get_image_features(pixel_values=pixels)
        text = model.get_text_features(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])
    image = getattr(image, "pooler_output", image)
    text = getattr(text, "pooler_output", text)
    image = torch.nn.functional.normalize(image, dim=-1)
    text = torch.nn.functional.normalize(text, dim=-1)
    return (image @ text.T).numpy()


def test_scores_are_cosines_with_the_paper_prompt(adapter, tiny_clip_dir):
    batch = requests(3)
    scores = np.array(adapter.score_options(batch))
    expected = reference(tiny_clip_dir, [r.image for r in batch], [f"a photo of a {c}." for c in CLASSES])
    for row, request in enumerate(batch):
        columns = [CLASSES.index(o) for o in request.options]
        np.testing.assert_allclose(scores[row], expected[row, columns], atol=1e-5)
    assert np.ptp(scores) > 1e-3  # random weights still tell the classes apart


def test_prompt_ensemble_is_the_renormalised_mean_over_80_templates(adapter, tiny_clip_dir):
    assert len(IMAGENET_TEMPLATES) == 80
    request = requests(1, strategy="prompt-ensemble")[0]
    got = np.array(adapter.score_options([request])[0])
    import torch
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(tiny_clip_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_clip_dir)
    with torch.no_grad():
        pixels = AutoImageProcessor.from_pretrained(tiny_clip_dir)(images=[request.image], return_tensors="pt")["pixel_values"]
        img = torch.nn.functional.normalize(getattr(f := model.get_image_features(pixel_values=pixels), "pooler_output", f), dim=-1)[0]
        expected = []
        for name in request.options:
            tokens = tokenizer([t.format(name) for t in IMAGENET_TEMPLATES], padding="max_length", max_length=32, return_tensors="pt")
            out = model.get_text_features(**tokens)
            text = torch.nn.functional.normalize(getattr(out, "pooler_output", out), dim=-1).mean(0)
            expected.append(float(img @ (text / text.norm())))
    np.testing.assert_allclose(got, expected, atol=1e-5)
    single = np.array(adapter.score_options(requests(1))[0])
    assert not np.allclose(got, single)


def test_scores_do_not_depend_on_batch_size_or_dataloader_workers(tiny_clip_dir):
    batch = requests(5)
    results = []
    for batch_size, workers in ((1, 0), (5, 0), (2, 2)):
        loaded = ClipAdapter.from_card(card(tiny_clip_dir, adapter_options={"num_workers": workers}),
                                       RuntimeOptions(batch_size=batch_size, device="cpu"))
        results.append(np.array(loaded.score_options(batch)))
        loaded.close()
    for other in results[1:]:
        np.testing.assert_allclose(results[0], other, atol=1e-5)


def test_each_class_text_is_encoded_once(tiny_clip_dir):
    loaded = ClipAdapter.from_card(card(tiny_clip_dir), CPU)
    encoded: list[str] = []
    original = loaded.model.encode_texts
    loaded.model.encode_texts = lambda texts: (encoded.extend(texts), original(texts))[1]
    loaded.score_options(requests(4))
    assert sorted(encoded) == sorted(f"a photo of a {c}." for c in CLASSES)
    loaded.score_options(requests(4))
    assert len(encoded) == len(CLASSES)
    loaded.score_options(requests(1, strategy="prompt-ensemble"))
    assert len(encoded) == len(CLASSES) * 81


def test_fingerprint_tracks_the_weights(tiny_clip_dir, tmp_path):
    import shutil

    copy = tmp_path / "clip"
    shutil.copytree(tiny_clip_dir, copy)
    before = ClipAdapter.from_card(card(copy), CPU).fingerprint()
    assert before == ClipAdapter.from_card(card(copy), CPU).fingerprint()
    (copy / "model.safetensors").write_bytes((copy / "model.safetensors").read_bytes())
    assert ClipAdapter.from_card(card(copy), CPU).fingerprint() != before


def test_bad_cards_and_models_are_clear_errors(tiny_clip_dir, tiny_model_dir, tmp_path):
    with pytest.raises(ConfigError, match="unknown adapter_options templates"):
        ClipAdapter.from_card(card(tiny_clip_dir, adapter_options={"templates": "x"}), CPU)
    with pytest.raises(ConfigError, match="num_workers"):
        ClipAdapter.from_card(card(tiny_clip_dir, adapter_options={"num_workers": -1}), CPU)
    with pytest.raises(FinebenchError, match="not a CLIP-like model"):
        ClipAdapter.from_card(card(tiny_model_dir), CPU)
    with pytest.raises(FinebenchError, match="folder .*missing does not exist"):
        ClipAdapter.from_card(card(tmp_path / "missing"), CPU)
    closed = ClipAdapter.from_card(card(tiny_clip_dir), CPU)
    closed.close()
    with pytest.raises(FinebenchError, match="closed"):
        closed.score_options(requests(1))


def test_generative_strategies_are_refused(adapter):
    with pytest.raises(FinebenchError, match="zero-shot-cot"):
        adapter.score_options(requests(1, strategy="zero-shot-cot"))


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return write_demo_data_root(tmp_path_factory.mktemp("demo"), items_per_file=6)


def evaluate(adapter, data_root: Path, out: Path, **overrides) -> dict:
    config = RunConfig(**{"tasks": ("cub_closed_seen",), "data_root": data_root, "output_path": out, "trials": 1, **overrides})
    return Evaluator(config, adapter, card(Path("x"))).run()


def test_harness_runs_clip_on_closed_tasks_with_every_clip_setting(adapter, data_root, tmp_path):
    direct = evaluate(adapter, data_root, tmp_path / "direct")
    rows = [json.loads(line) for line in (tmp_path / "direct" / "samples_cub_closed_seen.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all(row["answer"] in row["options"] for row in rows)
    assert 0 <= direct["results"]["cub_closed_seen"]["accuracy"] <= 100
    ensemble = evaluate(adapter, data_root, tmp_path / "direct", strategy="prompt-ensemble")  # same cache file
    assert ensemble["tasks"]["cub_closed_seen"]["strategy"] == "prompt-ensemble"
    rows_e = [json.loads(line) for line in (tmp_path / "direct" / "samples_cub_closed_seen.jsonl").read_text().splitlines()]
    assert {r["prompt_hash"] for r in rows_e}.isdisjoint(r["prompt_hash"] for r in rows)  # not served from cache
    label_set = evaluate(adapter, data_root, tmp_path / "labels", option_order="label-set")
    rows_l = [json.loads(line) for line in (tmp_path / "labels" / "samples_cub_closed_seen.jsonl").read_text().splitlines()]
    all_classes = sorted({c for r in rows for c in r["options"]} | {r["target"] for r in rows})
    assert all(r["options"] == all_classes and r["answer"] in all_classes for r in rows_l)
    assert label_set["tasks"]["cub_closed_seen"]["option_order"] == "label-set"


def test_harness_refuses_open_world_and_generative_strategies_for_clip(adapter, data_root, tmp_path):
    with pytest.raises(FinebenchError, match="open-world"):
        evaluate(adapter, data_root, tmp_path, tasks=("cub_open_seen",))
    with pytest.raises(FinebenchError, match="cannot run strategy 'zero-shot-cot'"):
        evaluate(adapter, data_root, tmp_path, strategy="zero-shot-cot")


def test_tiny_clip_card_resolves_the_builtin_model(tiny_clip_dir, monkeypatch):
    monkeypatch.setattr("finebench.models.builtin.default_data_root", lambda: tiny_clip_dir.parents[1])
    built = resolve_model("tiny-clip")
    loaded = create_adapter(built, CPU)
    assert str(tiny_clip_dir.resolve()) in loaded.fingerprint()
    assert loaded.options == ClipOptions() and loaded.num_workers == 0


def test_workers_default_to_none_on_cpu_and_some_on_gpu(tiny_clip_dir):
    from finebench.adapters.clip import default_workers

    loaded = ClipAdapter.from_card(card(tiny_clip_dir, adapter_options={}), CPU)
    assert loaded.options.num_workers is None and loaded.num_workers == 0
    assert 1 <= default_workers("cuda") <= 4


open_clip = pytest.importorskip("open_clip")


@pytest.fixture(scope="module")
def tiny_open_clip(tmp_path_factory) -> str:
    """A 1-layer ViT/text-transformer open_clip architecture registered under a new name."""
    config = {"embed_dim": 16,
              "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
              "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    directory = tmp_path_factory.mktemp("open-clip-configs")
    (directory / "finebench-tiny-vit.json").write_text(json.dumps(config))
    open_clip.add_model_config(directory)
    return "finebench-tiny-vit"


def test_open_clip_models_score_like_a_direct_open_clip_computation(tiny_open_clip):
    import torch

    torch.manual_seed(0)
    loaded = ClipAdapter.from_card(card(Path("x"), model=f"open_clip:{tiny_open_clip}"), CPU)
    assert loaded.fingerprint() == f"clip:open_clip:{tiny_open_clip}:random-init"
    batch = requests(3)
    got = np.array(loaded.score_options(batch))
    model = loaded.model._model
    tokenizer = open_clip.get_tokenizer(tiny_open_clip)
    with torch.no_grad():
        images = torch.stack([loaded.model.preprocess(r.image) for r in batch])
        image = torch.nn.functional.normalize(model.encode_image(images), dim=-1)
        text = torch.nn.functional.normalize(model.encode_text(tokenizer([f"a photo of a {c}." for c in CLASSES])), dim=-1)
    expected = (image @ text.T).numpy()
    for row, request in enumerate(batch):
        np.testing.assert_allclose(got[row], expected[row, [CLASSES.index(o) for o in request.options]], atol=1e-5)


def test_unknown_open_clip_model_and_missing_open_clip_are_clear(monkeypatch):
    with pytest.raises(FinebenchError, match="cannot load open_clip model 'no-such-arch'"):
        ClipAdapter.from_card(card(Path("x"), model="open_clip:no-such-arch"), CPU)
    monkeypatch.setitem(__import__("sys").modules, "open_clip", None)
    with pytest.raises(FinebenchError, match=r"pip install 'finebench\[clip\]'"):
        ClipAdapter.from_card(card(Path("x"), model="open_clip:ViT-B-32"), CPU)
