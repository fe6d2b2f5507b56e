"""Hidden-state features of an image-text-to-text model, and an on-disk cache for them.

The representation analyses (§5.4 of the Fine-R1 paper) ask what the language model "knows"
about an image, so features are read from the language model's last layer, not from the vision
encoder: ``hidden_states[-1]`` of a forward pass with ``output_hidden_states=True``. In
transformers' Qwen2/Qwen2.5-VL implementation that entry is the last decoder layer's residual
stream after the model's final RMSNorm, i.e. exactly what the LM head reads.

Inputs are batched with the processor's padding and the attention mask is passed along, and
pooling only ever looks at real (unpadded) positions, so a feature does not depend on which other
inputs shared its batch (tested on the tiny Qwen2.5-VL, left- and right-padded alike).

Extracting features from a 7B model over a test set takes a while and the analyses are re-run
often (other seeds, other plots), so ``FeatureCache`` keeps each extracted matrix in an ``.npz``
keyed by everything that determines it. torch is imported inside the functions.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from finebench.util.fsutil import atomic_write_bytes

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image

DEFAULT_IMAGE_PROMPT = "Describe the image."


def image_token_embeddings(
    model: Any,
    processor: Any,
    images: Sequence[Image],
    *,
    batch_size: int,
    prompt: str = DEFAULT_IMAGE_PROMPT,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """One float32 row per image: the last-layer hidden states averaged over the image tokens.

    Each image is asked ``prompt`` in a one-turn chat with the generation prompt appended, so the
    input is exactly that of a real query. The image precedes the prompt, so under causal
    attention the pooled states do not depend on the prompt's wording, only on the chat context
    before the image. ``progress``, if given, is called after each batch with the number of
    images done so far.
    """
    image_token_id = _image_token_id(model)
    _check_batch_size(batch_size)
    rows = []
    for start in range(0, len(images), batch_size):
        batch = list(images[start : start + batch_size])
        inputs = _chat_inputs(processor, batch, [prompt] * len(batch)).to(model.device)
        hidden = _last_hidden_states(model, inputs)
        rows.append(_masked_mean(hidden, inputs["input_ids"] == image_token_id))
        if progress is not None:
            progress(start + len(batch))
    return _stack(rows, model)


def last_token_states(
    model: Any, processor: Any, image: Image, texts: Sequence[str], *, batch_size: int
) -> np.ndarray:
    """One float32 row per text: the last-layer hidden state at the final prompt token of the chat
    "<image> text", always with the same image (e.g. "Is the bird species {name}?" per species).

    The final prompt token is the last token of the generation prompt, the position whose
    hidden state decides the first answer token.
    """
    import torch

    _check_batch_size(batch_size)
    rows = []
    for start in range(0, len(texts), batch_size):
        batch = list(texts[start : start + batch_size])
        inputs = _chat_inputs(processor, [image] * len(batch), batch).to(model.device)
        hidden = _last_hidden_states(model, inputs)
        last = _last_real_position(inputs["attention_mask"])
        rows.append(hidden[torch.arange(len(batch), device=hidden.device), last])
    return _stack(rows, model)


def text_embeddings(model: Any, processor: Any, texts: Sequence[str], *, batch_size: int) -> np.ndarray:
    """One float32 row per text: last-layer hidden states averaged over its tokens (no image, no
    chat template), used to embed species names for the taxonomy analysis."""
    _check_batch_size(batch_size)
    rows = []
    for start in range(0, len(texts), batch_size):
        batch = list(texts[start : start + batch_size])
        inputs = processor.tokenizer(batch, padding=True, return_tensors="pt").to(model.device)
        hidden = _last_hidden_states(model, inputs)
        rows.append(_masked_mean(hidden, inputs["attention_mask"].bool()))
    return _stack(rows, model)


def _image_token_id(model: Any) -> int:
    token_id = getattr(model.config, "image_token_id", None)
    if token_id is None:
        raise ValueError(
            f"{type(model).__name__}'s config has no image_token_id, so the image tokens of its input "
            "cannot be found; image_token_embeddings supports Qwen2-VL-style models that mark each "
            "image patch with a placeholder token"
        )
    return int(token_id)


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")


def _chat_inputs(processor: Any, images: Sequence[Image], prompts: Sequence[str]) -> Any:
    """Processor outputs for one single-turn chat (image then text) per pair."""
    texts = [
        processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": prompt}]}],
            tokenize=False,
            add_generation_prompt=True,
        )
        for image, prompt in zip(images, prompts, strict=True)
    ]
    return processor(text=texts, images=list(images), padding=True, return_tensors="pt")


def _last_hidden_states(model: Any, inputs: Any) -> torch.Tensor:
    """(batch, seq, hidden) float32 on the device of ``inputs`` (the model's; a model split over
    several GPUs ends on another), so pooling happens there and only pooled rows are copied back.
    Only the last position's logits are computed (``logits_to_keep=1``) and no KV cache is built:
    full-sequence logits of a 150k-token vocabulary would cost more memory than all the hidden
    states together."""
    import torch

    with torch.inference_mode():
        output = model(**inputs, output_hidden_states=True, logits_to_keep=1, use_cache=False)
    return output.hidden_states[-1].to(device=inputs["input_ids"].device, dtype=torch.float32)


def _masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    counts = mask.sum(dim=1, keepdim=True)
    if bool((counts == 0).any()):
        raise ValueError("an input has no positions to pool over (no image tokens or an empty text)")
    return (hidden * mask.unsqueeze(-1)).sum(dim=1) / counts


def _last_real_position(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of each row's last attended token, whichever side the processor pads on."""
    length = attention_mask.shape[1]
    return length - 1 - attention_mask.flip(1).argmax(dim=1)


def _stack(rows: list[torch.Tensor], model: Any) -> np.ndarray:
    if not rows:
        return np.zeros((0, int(model.config.get_text_config().hidden_size)), dtype=np.float32)
    import torch

    return torch.cat(rows).cpu().numpy().astype(np.float32)


@dataclass(frozen=True)
class FeatureKey:
    """Everything a feature matrix depends on: the model (an adapter fingerprint, which changes
    with the weights, dtype and pixel bounds), what was extracted (``kind``, e.g.
    ``"image_tokens:Describe the image."``) and the inputs, one string per row."""

    fingerprint: str
    kind: str
    inputs: tuple[str, ...]

    @classmethod
    def for_images(cls, fingerprint: str, kind: str, paths: Sequence[Path]) -> FeatureKey:
        """Images are identified by resolved path, mtime and size: a replaced file is a new input."""
        inputs = []
        for path in paths:
            resolved = Path(path).resolve()
            stat = resolved.stat()
            inputs.append(f"{resolved}|{stat.st_mtime_ns}|{stat.st_size}")
        return cls(fingerprint, kind, tuple(inputs))

    @classmethod
    def for_texts(cls, fingerprint: str, kind: str, texts: Sequence[str]) -> FeatureKey:
        return cls(fingerprint, kind, tuple(texts))

    def digest(self) -> str:
        payload = json.dumps([self.fingerprint, self.kind, list(self.inputs)], ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class FeatureCache:
    """Feature matrices as ``<directory>/<sha256 of the key>.npz``.

    A file is written to a temporary name in the same folder and renamed into place, so a crash
    or a concurrent reader never sees half a matrix; the key itself is stored beside the features
    (``key``, JSON) so that a file can be traced back to its model and inputs.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path_for(self, key_parts: FeatureKey) -> Path:
        return self.directory / f"{key_parts.digest()}.npz"

    def get_or_compute(self, key_parts: FeatureKey, compute_fn: Callable[[], np.ndarray]) -> np.ndarray:
        """The stored matrix for this key, or ``compute_fn()``'s, which is then stored."""
        path = self.path_for(key_parts)
        if path.exists():
            with np.load(path, allow_pickle=False) as stored:
                return stored["features"]
        features = np.asarray(compute_fn())
        if features.ndim == 0 or features.shape[0] != len(key_parts.inputs):
            raise ValueError(
                f"compute_fn returned an array of shape {features.shape} for {len(key_parts.inputs)} inputs"
            )
        key = json.dumps({"fingerprint": key_parts.fingerprint, "kind": key_parts.kind, "inputs": key_parts.inputs})
        buffer = io.BytesIO()
        np.savez(buffer, features=features, key=np.array(key))
        atomic_write_bytes(path, buffer.getvalue())
        return features
