"""A transcription (our own code) of the Fine-R1 authors' evaluation loop, the reference that
``--protocol fine-r1`` is tested and benchmarked against.

What it reproduces, from PKU-ICST-MIPL/FineR1_ICLR2026 ``eval/evaluation.py`` (closed world):
one user message per item with the image as ``file://`` + path and the question template with the
options as a Python list; ``apply_chat_template(..., add_generation_prompt=True)`` per message;
``qwen_vl_utils.process_vision_info`` over the batch; the processor with ``padding=True`` (the
tokenizer padding on the left); greedy ``generate`` with ``use_cache=True``; the prompt cut off
each row; ``batch_decode(skip_special_tokens=True)``. ``min_new_tokens`` is our addition, for
forcing equal-length outputs in comparisons (the authors' call passes only ``max_new_tokens``).

``process_vision_info`` is the installed ``qwen_vl_utils`` when importable, else
``transcribed_process_vision_info``: the image part of qwen_vl_utils 0.0.10-0.0.14 written out
here independently of ``finebench.util.imaging`` (which the tests compare against it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

QUESTION_TEMPLATE = (
    "Given the question: {Question}, based on the options provided in {Options}, "
    "output the thinking process in <think> </think> and final choice in <answer> </answer> tags. "
    "The response format should be: <think>...</think> <answer>choice</answer>."
)


def transcribed_fetch_image(element: dict[str, Any]) -> Any:
    """qwen_vl_utils' ``fetch_image`` for a ``file://`` path or a PIL image, default bounds."""
    from PIL import Image

    source = element["image"]
    if isinstance(source, Image.Image):
        image = source
    else:
        image = Image.open(source[len("file://"):] if source.startswith("file://") else source)
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.split()[3])
        image = background
    else:
        image = image.convert("RGB")
    width, height = image.size
    factor, min_pixels, max_pixels = 28, element.get("min_pixels", 4 * 28 * 28), element.get("max_pixels", 16384 * 28 * 28)
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = math.floor(height / beta / factor) * factor
        w_bar = math.floor(width / beta / factor) * factor
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return image.resize((w_bar, h_bar))  # PIL's default filter for RGB: bicubic


def transcribed_process_vision_info(conversations: list[list[dict[str, Any]]]) -> tuple[list[Any] | None, None]:
    images = [
        transcribed_fetch_image(part)
        for conversation in conversations
        for message in conversation
        if isinstance(message["content"], list)
        for part in message["content"]
        if part.get("type") == "image" or "image" in part
    ]
    return images or None, None


def process_vision_info() -> Callable[[list[list[dict[str, Any]]]], tuple[Any, Any]]:
    try:
        from qwen_vl_utils import process_vision_info as installed
    except ImportError:
        return transcribed_process_vision_info
    return installed


def item_messages(items: Sequence[dict[str, Any]], data_root: Path) -> list[list[dict[str, Any]]]:
    """The authors' messages; their ``image_path`` is absolute, ours is relative to the data root."""
    return [[{
        "role": "user",
        "content": [
            {"type": "image", "image": f"file://{Path(data_root) / item['image_path']}"},
            {"type": "text", "text": QUESTION_TEMPLATE.format(Question=item["question"], Options=item["options"])},
        ],
    }] for item in items]


def authors_closed_world_loop(
    model: Any,
    processor: Any,
    items: Sequence[dict[str, Any]],
    data_root: Path,
    *,
    batch_size: int = 2,
    max_new_tokens: int = 2048,
    min_new_tokens: int | None = None,
    on_inputs: Callable[[list[str], Any], None] | None = None,
) -> list[str]:
    """Responses in item order. ``on_inputs(texts, inputs)`` sees every batch's prompt texts and
    processor outputs (pixel values, grids, input ids) before generation."""
    import torch

    processor.tokenizer.padding_side = "left"
    vision = process_vision_info()
    messages = item_messages(items, data_root)
    outputs: list[str] = []
    extra = {} if min_new_tokens is None else {"min_new_tokens": min_new_tokens}
    for start in range(0, len(messages), batch_size):
        batch = messages[start:start + batch_size]
        texts = [processor.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in batch]
        image_inputs, video_inputs = vision(batch)
        inputs = processor(text=texts, images=image_inputs, videos=video_inputs, padding=True, return_tensors="pt")
        inputs = inputs.to(model.device)
        if on_inputs is not None:
            on_inputs(texts, inputs)
        with torch.no_grad():
            generated = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, use_cache=True, **extra)
        trimmed = [out[len(prompt):] for prompt, out in zip(inputs.input_ids, generated)]
        outputs.extend(processor.batch_decode(trimmed, skip_special_tokens=True))
    return outputs


def split_pixel_values(inputs: Any) -> list[Any]:
    """Per-image rows of a batch's concatenated ``pixel_values`` (one row per patch)."""
    sizes = [int(t.prod()) for t in inputs["image_grid_thw"]]
    return list(inputs["pixel_values"].split(sizes))


BIRDS = ("Black Footed Albatross", "Laysan Albatross", "Sooty Albatross", "Groove Billed Ani", "Crested Auklet",
         "Least Auklet", "Parakeet Auklet", "Rhinoceros Auklet", "Brewer Blackbird", "Red Winged Blackbird")


def write_bird_items(root: Path, n_items: int, *, seed: int = 0, max_side: int = 120) -> list[dict[str, Any]]:
    """``n_items`` closed-world bird items in the release layout (``fine-r1/eval/bird_seen.jsonl``)
    over textured images of random sizes (16..max_side per side), every tenth an RGBA PNG with a
    transparent border, so that resampling filters and alpha handling both show in the pixels."""
    import json
    import random

    import numpy as np
    from PIL import Image

    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    rows = []
    for index in range(n_items):
        truth = rng.randrange(len(BIRDS))
        options = [BIRDS[truth], *rng.sample([b for b in BIRDS if b != BIRDS[truth]], 3)]
        rng.shuffle(options)
        width, height = rng.randint(16, max_side), rng.randint(16, max_side)
        base = noise.integers(0, 256, size=(height // 4 + 2, width // 4 + 2, 3), dtype=np.uint8)
        image = Image.fromarray(base).resize((width, height), Image.Resampling.BILINEAR)
        folder = f"{truth + 1:03d}.{BIRDS[truth].replace(' ', '_')}"
        if index % 10 == 9:
            rgba = image.convert("RGBA")
            alpha = np.full((height, width), 255, dtype=np.uint8)
            alpha[: height // 4] = 0
            rgba.putalpha(Image.fromarray(alpha))
            relative = f"bird_200/images/{folder}/parity_{index:04d}.png"
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            rgba.save(root / relative)
        else:
            relative = f"bird_200/images/{folder}/parity_{index:04d}.jpg"
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            image.save(root / relative, quality=90)
        rows.append({"image_path": relative, "question": "What is the species of the bird in this image?",
                     "options": options, "ground_truth": BIRDS[truth]})
    items_file = root / "fine-r1" / "eval" / "bird_seen.jsonl"
    items_file.parent.mkdir(parents=True, exist_ok=True)
    items_file.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return rows
