"""Contrastive baselines (CLIP, EVA-CLIP, SigLIP, SigLIP2): the answer is the option whose text
embedding is closest to the image's.

The paper's setting is one prompt, "a photo of a {class}.", and cosine similarity over the item's
four options; ``--strategy prompt-ensemble`` replaces each class embedding by the renormalised mean
over the 80 ImageNet templates (§5.3), and ``--option-order label-set`` scores every class of the
task instead of four (plain zero-shot classification). Both are chosen per run and recorded.

Two backends: any transformers model with ``get_image_features``/``get_text_features`` (a hub id
or a local folder), or open_clip for ``open_clip:ARCH`` (any name ``open_clip.create_model``
accepts, including ``hf-hub:ORG/NAME``; the pretrained tag comes from ``adapter_options``). Class
text embeddings are computed once per (template set, class) and kept for the adapter's life, so a
task encodes each class once however many items mention it; images are preprocessed by a
DataLoader with worker processes while the model encodes the previous batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from finebench.adapters.base import Adapter
from finebench.adapters.checkpoints import checkpoint_revision, locate_card, resolve_device
from finebench.adapters.factory import RuntimeOptions, options_from_card
from finebench.adapters.instance import Request
from finebench.embeddings.text import l2_normalise
from finebench.models.cards import ModelCard
from finebench.tasks.clip_templates import TEMPLATE_SETS, ensemble_text_embeddings
from finebench.util.errors import ConfigError, FinebenchError

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image

OPEN_CLIP_PREFIX = "open_clip:"
STRATEGY_TEMPLATES = {"direct": "single", "prompt-ensemble": "imagenet80"}
"""Which template set each run strategy uses; the paper's numbers are ``direct``."""


@dataclass(frozen=True)
class ClipOptions:
    """``adapter_options`` a clip card may set."""

    pretrained: str | None = None
    """open_clip pretrained tag (e.g. ``openai``, ``merged2b_s11b_b114k``); unused for transformers models."""
    num_workers: int | None = None
    """DataLoader worker processes that preprocess images (0: in the main process). Default: 0 on
    CPU, where the model needs the cores (measured on 2 cores: 750 images/s without workers, 610
    with 2), and min(4, cores // 2) on a GPU, where preprocessing overlaps the GPU's work."""
    text_batch_size: int = 256


def parse_clip_options(card: ModelCard) -> ClipOptions:
    where = card.source_file or card.name
    options = options_from_card(card, ClipOptions)
    for name in ("num_workers", "text_batch_size"):
        value = getattr(options, name)
        if name == "num_workers" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "num_workers" else 1):
            raise ConfigError(f"{where}: adapter_options.{name} must be a {'non-negative' if name == 'num_workers' else 'positive'} integer")
    return options


def default_workers(device: str) -> int:
    import os

    return 0 if device == "cpu" else min(4, (os.cpu_count() or 2) // 2)


class ContrastiveModel(Protocol):
    """What the adapter needs from a CLIP-like model; both backends below implement it."""

    model_id: str
    preprocess: Callable[[Image], torch.Tensor]

    def encode_images(self, pixels: torch.Tensor) -> np.ndarray:
        """L2-normalised image embeddings, one row per image."""

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised text embeddings, one row per text."""


class ClipAdapter(Adapter):
    output = "option_scores"
    options_type = ClipOptions
    prepares_own_images = True
    supports_open_world = False
    strategies: ClassVar[tuple[str, ...]] = tuple(STRATEGY_TEMPLATES)

    def __init__(self, model: ContrastiveModel, *, batch_size: int, options: ClipOptions, device: str) -> None:
        self.model: ContrastiveModel | None = model
        self.batch_size = batch_size
        self.options = options
        self.device = device
        self.num_workers = default_workers(device) if options.num_workers is None else options.num_workers
        self._class_embeddings: dict[tuple[str, str], np.ndarray] = {}

    @classmethod
    def from_card(cls, card: ModelCard, runtime: RuntimeOptions) -> ClipAdapter:
        options = parse_clip_options(card)
        device = resolve_device(runtime.device)
        if card.model.startswith(OPEN_CLIP_PREFIX):
            model: ContrastiveModel = OpenClipModel(card.model[len(OPEN_CLIP_PREFIX) :], options.pretrained, device)
        else:
            located = locate_card(card)
            model = HFContrastiveModel(located.source, device, trust_remote_code=card.trust_remote_code,
                                       local_files_only=located.local_files_only)
        return cls(model, batch_size=runtime.batch_size, options=options, device=device)

    def fingerprint(self) -> str:
        return f"clip:{self._model().model_id}"

    def score_options(self, requests: Sequence[Request]) -> list[list[float]]:
        """Cosine similarity between each request's image and each of its options."""
        for request in requests:
            if request.strategy not in STRATEGY_TEMPLATES:
                raise FinebenchError(
                    f"the clip adapter runs strategies {', '.join(STRATEGY_TEMPLATES)}, not {request.strategy!r}"
                )
        self._embed_missing_classes(requests)
        images = self._embed_images([r.image for r in requests])
        scores = []
        for image, request in zip(images, requests, strict=True):
            template_set = STRATEGY_TEMPLATES[request.strategy]
            texts = np.stack([self._class_embeddings[(template_set, name)] for name in request.options])
            scores.append([float(s) for s in texts @ image])
        return scores

    def _embed_missing_classes(self, requests: Sequence[Request]) -> None:
        missing: dict[str, dict[str, None]] = {}  # template set -> class names, in first-seen order
        for request in requests:
            template_set = STRATEGY_TEMPLATES[request.strategy]
            for name in request.options:
                if (template_set, name) not in self._class_embeddings:
                    missing.setdefault(template_set, {})[name] = None
        for template_set, names in missing.items():
            for name, vector in zip(names, self.class_embeddings(list(names), template_set), strict=True):
                self._class_embeddings[(template_set, name)] = vector

    def class_embeddings(self, names: Sequence[str], template_set: str = "single") -> np.ndarray:
        """(n_classes, dim) unit vectors: each class's prompt embedding, or the renormalised mean
        over the template set's prompts (one forward pass over all prompts, in text batches)."""
        templates = TEMPLATE_SETS[template_set]
        prompts = [template.format(name) for template in templates for name in names]
        step = self.options.text_batch_size
        encoded = np.concatenate([self._model().encode_texts(prompts[i : i + step]) for i in range(0, len(prompts), step)])
        return ensemble_text_embeddings(encoded.reshape(len(templates), len(names), -1))

    def _embed_images(self, images: Sequence[Image]) -> np.ndarray:
        from torch.utils.data import DataLoader

        model = self._model()
        workers = min(self.num_workers, len(images))
        # A DataLoader hands each batch to one worker, so one batch per call would use one worker:
        # split the call into two chunks per worker, preprocessed in parallel while the model
        # encodes the chunks that are ready.
        chunk = max(1, -(-len(images) // (2 * workers))) if workers else self.batch_size
        loader = DataLoader(_PreprocessedImages(images, model.preprocess), batch_size=chunk, num_workers=workers)
        return np.concatenate([model.encode_images(pixels) for pixels in loader])

    def _model(self) -> ContrastiveModel:
        if self.model is None:
            raise FinebenchError("the clip adapter was closed")
        return self.model

    def close(self) -> None:
        import gc

        self.model = None
        self._class_embeddings.clear()
        gc.collect()
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()


class _PreprocessedImages:
    """A map-style dataset: worker processes run the model's preprocessing on each image."""

    def __init__(self, images: Sequence[Image], preprocess: Callable[[Image], torch.Tensor]) -> None:
        self.images = list(images)
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.preprocess(self.images[index].convert("RGB"))


class HFContrastiveModel:
    """A transformers CLIP-like model (CLIPModel, SiglipModel, Siglip2 with fixed-size inputs...)."""

    def __init__(self, source: str, device: str, *, trust_remote_code: bool = False, local_files_only: bool = False) -> None:
        try:
            from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

            kwargs = {"trust_remote_code": trust_remote_code, "local_files_only": local_files_only}
            self._tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
            self._image_processor = AutoImageProcessor.from_pretrained(source, **kwargs)
            self._model = AutoModel.from_pretrained(source, **kwargs).to(device).eval()
        except Exception as exc:  # OSError, ValueError... for a bad or missing checkpoint
            raise FinebenchError(
                f"cannot load contrastive model {source!r}: {type(exc).__name__}: {exc}"
            ) from exc
        kind = type(self._model).__name__
        if not (hasattr(self._model, "get_image_features") and hasattr(self._model, "get_text_features")):
            raise FinebenchError(f"{source!r} ({kind}) is not a CLIP-like model (no get_image_features/get_text_features)")
        if "pixel_attention_mask" in getattr(self._image_processor, "model_input_names", ()):
            raise FinebenchError(
                f"{source!r} is a NaFlex SigLIP2 checkpoint (variable resolution); use a fixed-resolution one "
                "(e.g. google/siglip2-large-patch16-384)"
            )
        self._device = device
        self.model_id = f"hf:{source}|{checkpoint_revision(source) or 'rev=unknown'}"

    def preprocess(self, image: Image) -> torch.Tensor:
        return self._image_processor(images=image, return_tensors="pt")["pixel_values"][0]

    def encode_images(self, pixels: torch.Tensor) -> np.ndarray:
        import torch

        with torch.inference_mode():
            output = self._model.get_image_features(pixel_values=pixels.to(self._device))
        return _unit_rows(output)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        # SigLIP was trained on texts padded to a fixed length and its pooled output depends on
        # that padding; CLIP pools at the end-of-text token, so fixed-length padding is harmless.
        max_length = min(int(getattr(self._tokenizer, "model_max_length", 77)), 512)
        inputs = self._tokenizer(list(texts), padding="max_length", truncation=True, max_length=max_length, return_tensors="pt")
        # The tokenizer returns what its model was trained with: SigLIP's gives no attention mask.
        inputs = {k: v.to(self._device) for k, v in inputs.items()}
        with torch.inference_mode():
            output = self._model.get_text_features(**inputs)
        return _unit_rows(output)


class OpenClipModel:
    """An open_clip model, e.g. ``open_clip:EVA01-g-14-plus`` with pretrained ``merged2b_s11b_b114k``."""

    def __init__(self, name: str, pretrained: str | None, device: str) -> None:
        try:
            import open_clip
        except ImportError:
            raise FinebenchError(
                "open_clip is not installed: pip install 'finebench[clip]' (needed for open_clip:NAME models)"
            ) from None
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=pretrained, device=device)
            self._tokenizer = open_clip.get_tokenizer(name)
        except Exception as exc:  # RuntimeError for an unknown name or tag, OSError when offline
            raise FinebenchError(f"cannot load open_clip model {name!r} (pretrained {pretrained!r}): {exc}") from exc
        self._model = model.eval()
        self.preprocess = preprocess
        self._device = device
        self.model_id = f"open_clip:{name}:{pretrained or 'random-init'}"

    def encode_images(self, pixels: torch.Tensor) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return _unit_rows(self._model.encode_image(pixels.to(self._device)))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return _unit_rows(self._model.encode_text(self._tokenizer(list(texts)).to(self._device)))


def _unit_rows(output: Any) -> np.ndarray:
    """Model output (a tensor, or a transformers output with ``pooler_output``) as unit rows."""
    import torch

    features = output if isinstance(output, torch.Tensor) else output.pooler_output
    return l2_normalise(features.float().cpu().numpy())

