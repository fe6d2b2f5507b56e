"""Text encoders for SS_relative: the paper's SigLIP by default, any HF text model otherwise.

torch and transformers are imported inside ``load_text_encoder`` so that scoring without
SS_relative (and ``finebench score --metrics accuracy,inclusion``) never loads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from finebench.util.errors import FinebenchError

if TYPE_CHECKING:  # numpy is imported where vectors are made: `finebench score` without SS_relative never needs it
    import numpy as np

DEFAULT_TEXT_ENCODER = "google/siglip-base-patch16-256"
SIGLIP_MAX_LENGTH = 64
"""The paper's setting: pad every text to 64 tokens (SigLIP was trained with max-length padding)."""


class TextEncoder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32 rows, each L2-normalised."""


def l2_normalise(matrix: np.ndarray) -> np.ndarray:
    import numpy as np

    matrix = np.asarray(matrix, dtype=np.float32)
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


class CachedEncoder:
    """Embeds each distinct string once per process, whatever the number of samples or trials."""

    def __init__(self, encoder: TextEncoder) -> None:
        self.encoder = encoder
        self.name = encoder.name
        self._cache: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for text, vector in zip(missing, self.encoder.encode(missing), strict=True):
                self._cache[text] = vector
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 0), dtype=np.float32)


class _HFTextEncoder:
    """An HF text model: contrastive models (SigLIP, CLIP) through ``get_text_features`` with the
    paper's max-length padding, anything else (BERT, MiniLM) by mean pooling over the mask."""

    def __init__(self, name: str, tokenizer: Any, model: Any, device: str, batch_size: int) -> None:
        self.name = name
        self.tokenizer = tokenizer
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self.contrastive = hasattr(model, "get_text_features")
        config = getattr(model.config, "text_config", model.config)
        # The paper's 64, unless the text tower is shorter (small test models): padding past its
        # position table would fail.
        self.max_length = min(SIGLIP_MAX_LENGTH, getattr(config, "max_position_embeddings", SIGLIP_MAX_LENGTH))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np
        import torch

        chunks = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = list(texts[start : start + self.batch_size])
                chunks.append(self._encode_batch(batch).float().cpu().numpy())
        return l2_normalise(np.concatenate(chunks)) if chunks else np.zeros((0, 0), dtype=np.float32)

    def _encode_batch(self, batch: list[str]):
        if self.contrastive:
            inputs = self.tokenizer(batch, padding="max_length", max_length=self.max_length, truncation=True,
                                    return_tensors="pt").to(self.device)
            features = self.model.get_text_features(**inputs)
            return features if hasattr(features, "shape") else features.pooler_output
        inputs = self.tokenizer(batch, padding=True, truncation=True, return_tensors="pt").to(self.device)
        hidden = self.model(**inputs).last_hidden_state
        mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def load_text_encoder(spec: str = DEFAULT_TEXT_ENCODER, device: str = "cpu", batch_size: int = 256) -> TextEncoder:
    """Load an HF hub id or local directory; a failure names the encoder and how to skip it."""
    from finebench.util.hub import locate

    skip = "or skip SS_relative with --metrics accuracy,inclusion"
    try:
        located = locate(spec, "SS_relative text encoder (--ss-encoder)")
    except FinebenchError as exc:
        raise FinebenchError(f"{exc}; {skip}") from exc
    try:
        from transformers import AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(located.source, local_files_only=located.local_files_only)
        model = AutoModel.from_pretrained(located.source, local_files_only=located.local_files_only).to(device).eval()
    except Exception as exc:
        raise FinebenchError(
            f"cannot load the SS_relative text encoder {spec!r} ({type(exc).__name__}: {exc}). "
            "Point --ss-encoder at a local copy (any HF text model or SigLIP/CLIP directory), "
            "or skip SS_relative with --metrics accuracy,inclusion"
        ) from exc
    return _HFTextEncoder(spec, tokenizer, model, device, batch_size)
