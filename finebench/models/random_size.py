"""Random-weight Qwen2.5-VL models with the exact architecture of the released 3B and 7B, built offline.

Throughput and GPU memory depend on the architecture, not on what the weights learnt, so a random
model of the real size measures the vllm and hf backends on a GPU machine that cannot reach the
hub. The architecture values are transcribed from the ``config.json`` of
``Qwen/Qwen2.5-VL-3B-Instruct`` and ``Qwen/Qwen2.5-VL-7B-Instruct`` (and the image processor's
pixel bounds from their ``preprocessor_config.json``); the tokenizer, chat template and special
tokens are the tiny model's (``finebench.models.tiny``), so the special-token ids in the config
are the tiny tokenizer's while the embedding tables keep the published vocabulary size (the
parameter count and memory are the real ones).

A random model almost never emits end-of-text, and may emit ids the small tokenizer does not
have. The first is what a benchmark wants anyway (it forces lengths with ``min_new_tokens``); for
the second, the output-layer rows of ids beyond the tokenizer are zero: their logits are exactly 0
while the maximum over the ~1000 random real rows is positive, so greedy decoding only produces ids
both backends can detokenize.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from finebench.models.builtin import build_atomically
from finebench.models.tiny import SPECIAL_TOKENS, _train_tokenizer, save_processor
from finebench.util.suggest import unknown_name_error

if TYPE_CHECKING:
    from transformers import Qwen2_5_VLConfig

PUBLISHED_MIN_PIXELS = 3136
PUBLISHED_MAX_PIXELS = 12845056
"""``min_pixels``/``max_pixels`` of the released preprocessor_config.json (4 to 16384 image tokens)."""


@dataclass(frozen=True)
class QwenVLArchitecture:
    """The architecture fields of a released Qwen2.5-VL ``config.json``: the text model's, then the
    vision tower's (``vision_config``), under the same names with a ``vision_`` prefix. Both
    releases set ``use_sliding_window: false``, which makes their ``sliding_window`` inert."""

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    max_window_layers: int
    vocab_size: int
    tie_word_embeddings: bool
    max_position_embeddings: int = 128000
    rms_norm_eps: float = 1e-6
    rope_theta: float = 1000000.0
    mrope_section: tuple[int, ...] = (16, 24, 24)
    hidden_act: str = "silu"
    vision_depth: int = 32
    vision_hidden_size: int = 1280
    vision_intermediate_size: int = 3420
    vision_num_heads: int = 16
    vision_hidden_act: str = "silu"
    vision_patch_size: int = 14
    vision_spatial_merge_size: int = 2
    vision_temporal_patch_size: int = 2
    vision_window_size: int = 112
    vision_fullatt_block_indexes: tuple[int, ...] = (7, 15, 23, 31)
    vision_tokens_per_second: int = 2

    def digest(self) -> str:
        """A short id of every field, so a cached build is only reused for the same architecture."""
        return hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode()).hexdigest()[:12]


QWEN25_VL_3B = QwenVLArchitecture(
    hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
    num_key_value_heads=2, max_window_layers=70, vocab_size=151936, tie_word_embeddings=True,
)
QWEN25_VL_7B = QwenVLArchitecture(
    hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
    num_key_value_heads=4, max_window_layers=28, vocab_size=152064, tie_word_embeddings=False,
)
RANDOM_SIZES: dict[str, QwenVLArchitecture] = {"qwen2.5-vl-3b": QWEN25_VL_3B, "qwen2.5-vl-7b": QWEN25_VL_7B}
"""The architectures by the name of the released model they copy."""


def architecture(name: str) -> QwenVLArchitecture:
    if name not in RANDOM_SIZES:
        raise unknown_name_error("random-weight model size", name, RANDOM_SIZES)
    return RANDOM_SIZES[name]


def qwen25vl_config(arch: QwenVLArchitecture, token_ids: Mapping[str, int]) -> Qwen2_5_VLConfig:
    """The transformers config of ``arch`` with the special-token ids of the tokenizer in use."""
    from transformers import Qwen2_5_VLConfig

    special = {
        "bos_token_id": token_ids["<|endoftext|>"],
        "eos_token_id": token_ids["<|im_end|>"],
        "pad_token_id": token_ids["<|endoftext|>"],
    }
    return Qwen2_5_VLConfig(
        text_config={
            "vocab_size": arch.vocab_size,
            "hidden_size": arch.hidden_size,
            "intermediate_size": arch.intermediate_size,
            "num_hidden_layers": arch.num_hidden_layers,
            "num_attention_heads": arch.num_attention_heads,
            "num_key_value_heads": arch.num_key_value_heads,
            "hidden_act": arch.hidden_act,
            "max_position_embeddings": arch.max_position_embeddings,
            "max_window_layers": arch.max_window_layers,
            "rms_norm_eps": arch.rms_norm_eps,
            "use_sliding_window": False,  # so the published sliding_window (32768) is inert
            "rope_parameters": {"rope_type": "default", "rope_theta": arch.rope_theta,
                                "mrope_section": list(arch.mrope_section)},
            **special,
        },
        vision_config={
            "depth": arch.vision_depth,
            "hidden_size": arch.vision_hidden_size,
            "intermediate_size": arch.vision_intermediate_size,
            "num_heads": arch.vision_num_heads,
            "hidden_act": arch.vision_hidden_act,
            "in_channels": 3,
            "out_hidden_size": arch.hidden_size,
            "patch_size": arch.vision_patch_size,
            "spatial_merge_size": arch.vision_spatial_merge_size,
            "temporal_patch_size": arch.vision_temporal_patch_size,
            "window_size": arch.vision_window_size,
            "fullatt_block_indexes": list(arch.vision_fullatt_block_indexes),
            "tokens_per_second": arch.vision_tokens_per_second,
        },
        image_token_id=token_ids["<|image_pad|>"],
        video_token_id=token_ids["<|video_pad|>"],
        vision_start_token_id=token_ids["<|vision_start|>"],
        vision_end_token_id=token_ids["<|vision_end|>"],
        tie_word_embeddings=arch.tie_word_embeddings,
        architectures=["Qwen2_5_VLForConditionalGeneration"],
        dtype="bfloat16",
        **special,
    )


def parameter_count(arch: QwenVLArchitecture) -> int:
    """Parameters of the model (tied embeddings counted once), built on the meta device: no memory."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    ids = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration(qwen25vl_config(arch, ids))
    return sum(p.numel() for p in model.parameters())


def write_config_and_processor(directory: Path, arch: QwenVLArchitecture) -> tuple[Qwen2_5_VLConfig, int]:
    """Config, tokenizer and processor (the published pixel bounds) into ``directory``; returns the
    config and the tokenizer's size. Enough for anything that reads a model without its weights."""
    tokenizer = _train_tokenizer()
    config = qwen25vl_config(arch, {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS})
    config.save_pretrained(directory)
    save_processor(directory, tokenizer, PUBLISHED_MIN_PIXELS, PUBLISHED_MAX_PIXELS)
    return config, len(tokenizer)


def _write_weights(directory: Path, config: Qwen2_5_VLConfig, n_tokens: int, seed: int, device: str) -> None:
    """Seeded random bf16 weights, initialised on ``device`` (a GPU builds a 7B model in seconds)."""
    import torch
    from transformers import AutoModelForImageTextToText, GenerationConfig

    devices = [device] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=devices), torch.device(device):
        torch.manual_seed(seed)
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16).eval()
    with torch.no_grad():
        model.get_output_embeddings().weight[n_tokens:].zero_()  # see the module docstring
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=[config.eos_token_id, config.pad_token_id],
        pad_token_id=config.pad_token_id,
        do_sample=False,
    )
    model.save_pretrained(directory)


def build_random_qwen25vl(dest: Path, arch: QwenVLArchitecture, *, seed: int = 0, device: str = "cpu") -> Path:
    """Build (or reuse) a random-weight Qwen2.5-VL of architecture ``arch`` in ``dest``; returns it.

    The 3B model is 7.5 GB of bf16 weights on disk and the 7B 16.6 GB; build them on a GPU
    (``device="cuda"``), where initialisation takes seconds rather than minutes.
    """

    def build_into(directory: Path, seed: int) -> None:
        config, n_tokens = write_config_and_processor(directory, arch)
        _write_weights(directory, config, n_tokens, seed, device)

    return build_atomically(Path(dest), seed, f"random-qwen2.5-vl/{arch.digest()}", build_into)
