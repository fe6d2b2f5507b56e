"""A tiny random CLIP (transformers ``CLIPModel``) for offline tests and demos of the clip adapter.

Like the tiny Qwen2.5-VL it has random weights, so its answers are noise, but it is loaded and run
through exactly the path of a real CLIP checkpoint: ``AutoModel``, ``AutoTokenizer`` and
``AutoImageProcessor`` from a folder. The tokenizer is a byte-level BPE trained on the same
built-in corpus, wrapped with CLIP's start/end-of-text tokens (CLIP pools at the end token).
"""

from __future__ import annotations

from pathlib import Path

from finebench.models.corpus import corpus

IMAGE_SIZE = 32
CONTEXT_LENGTH = 32
VOCAB_SIZE = 600


def _tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    start, end = "<|startoftext|>", "<|endoftext|>"
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, min_frequency=1, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[start, end],
    )
    bpe.train_from_iterator(corpus(), trainer=trainer)
    bpe.post_processor = processors.TemplateProcessing(
        single=f"{start} $A {end}", special_tokens=[(start, bpe.token_to_id(start)), (end, bpe.token_to_id(end))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token=start, eos_token=end, pad_token=end, model_max_length=CONTEXT_LENGTH
    )


def build_into(directory: Path, seed: int) -> None:
    """Write tokenizer, image processor, config and seeded random weights into a folder."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    tokenizer = _tokenizer()
    end_id = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    start_id = tokenizer.convert_tokens_to_ids("<|startoftext|>")
    config = CLIPConfig(
        text_config={
            "vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 2, "max_position_embeddings": CONTEXT_LENGTH,
            "bos_token_id": start_id, "eos_token_id": end_id, "pad_token_id": end_id,
        },
        vision_config={
            "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
            "image_size": IMAGE_SIZE, "patch_size": 8,
        },
        projection_dim=16,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPModel(config).to(torch.float32).eval()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    size = {"shortest_edge": IMAGE_SIZE}
    CLIPImageProcessor(size=size, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}).save_pretrained(directory)
