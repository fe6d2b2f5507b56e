"""A tiny random Qwen2.5-VL built on the spot, so the whole harness can run without downloads.

The model has random weights and answers nonsense, but it goes through exactly the code paths of a
real Qwen2.5-VL checkpoint: the same architecture class, a byte-level BPE tokenizer with the Qwen
special tokens, the Qwen2-VL image processor and a Qwen2.5-VL chat template. Tests, the smoke run
and the training recipes use it in place of a multi-gigabyte download.

Everything is derived from the seed: the weights come from a seeded initialisation (without
touching the caller's RNG state) and the tokenizer is trained on a fixed built-in corpus, so two
builds with one seed are byte-identical. A build is written to a temporary sibling folder and
renamed into place, so a reader never sees a half-written model; a folder that already holds a
complete build of the same builder version and seed is returned untouched.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from finebench.models.corpus import corpus

if TYPE_CHECKING:  # transformers is imported only when a model is actually built
    from transformers import PreTrainedTokenizerBase


SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
"""Qwen2.5-VL's special tokens, in Qwen's order; they get ids after the trained BPE vocabulary."""

BPE_VOCAB_SIZE = 1000
"""Size of the trained vocabulary before the special tokens; small enough to keep embeddings tiny."""

INIT_STD = 0.1
"""Std of the random weights (see ``build_into`` for why not the usual 0.02)."""

MIN_PIXELS = 28 * 28
MAX_PIXELS = 84 * 84
"""Image bounds: with 14-pixel patches merged 2x2, an image becomes 1 to 9 placeholder tokens."""

# Qwen2.5-VL's chat template (system prompt defaulted, image/video placeholders, generation prompt).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}"
    "{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _train_tokenizer() -> PreTrainedTokenizerBase:
    """A Qwen2 tokenizer whose BPE merges are learnt here (byte-level, so any text encodes).

    The pre-tokenization pipeline is Qwen2's (NFC, its split regex, byte-level), so the learnt
    vocabulary behaves like a miniature of the real one; the special tokens are appended after
    it, as in Qwen's vocabulary.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2TokenizerFast
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB_SIZE,
        min_frequency=1,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    bpe.train_from_iterator(corpus(), trainer=trainer)
    model = json.loads(bpe.to_str())["model"]
    vocab = dict(model["vocab"])
    vocab.update({token: len(model["vocab"]) + i for i, token in enumerate(SPECIAL_TOKENS)})
    return Qwen2TokenizerFast(
        vocab=vocab,
        merges=[tuple(pair) for pair in model["merges"]],
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=[t for t in SPECIAL_TOKENS if t not in ("<|im_end|>", "<|endoftext|>")],
        model_max_length=32768,
        chat_template=CHAT_TEMPLATE,
    )


def build_into(directory: Path, seed: int) -> None:
    """Write tokenizer, processors, config and seeded random weights into an empty folder."""
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tokenizer = _train_tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    vocab_size = -(-len(tokenizer) // 64) * 64  # padded like Qwen's embedding tables
    # The default initializer_range (0.02) makes a random model echo one token whatever the input,
    # which would make every test of prompts, images or batching vacuous; 0.1 gives varied output.
    # Untied embeddings for the same reason: tied ones make the model copy its last input token.
    init = {"initializer_range": INIT_STD}
    special = {
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 4096,
            "max_window_layers": 2,
            # Qwen's (temporal, height, width) split of the rotary frequencies, [16, 24, 24] for
            # head_dim 128, scaled to head_dim 16; it must sum to head_dim / 2.
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
            **init,
            **special,
        },
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 64,
            # Block 0 uses windowed attention (2x2 merged patches per window), block 1 full
            # attention, so both of Qwen2.5-VL's vision attention paths run.
            "fullatt_block_indexes": [1],
            "window_size": 56,
            **init,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
        **init,
        **special,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2_5_VLForConditionalGeneration(config).to(torch.float32).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=special["bos_token_id"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=special["pad_token_id"],
        do_sample=False,
    )
    model.save_pretrained(directory)

    save_processor(directory, tokenizer, MIN_PIXELS, MAX_PIXELS)


def save_processor(directory: Path, tokenizer: PreTrainedTokenizerBase, min_pixels: int, max_pixels: int) -> None:
    """A Qwen2.5-VL processor (image and video processors bounded to the pixels, the chat
    template) around ``tokenizer``, saved into ``directory``."""
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    pixels = {"min_pixels": min_pixels, "max_pixels": max_pixels}
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(**pixels),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(**pixels),
        chat_template=CHAT_TEMPLATE,
    )
    processor.save_pretrained(directory)
