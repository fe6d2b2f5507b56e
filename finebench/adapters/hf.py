"""The transformers backend: any image-text-to-text checkpoint with a chat template.

One model, one processor, batched greedy (or seeded sampled) generation. Prompts are left-padded
so that every sequence in a batch ends at the same position and the new tokens can be cut off
uniformly; with the attention mask passed along, greedy outputs do not depend on the batch size
(tested on the built-in tiny Qwen2.5-VL, whose 3D rotary positions are the part that could break).
torch and transformers are imported inside the methods so that choosing a card stays cheap.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finebench.adapters.base import DEFAULT_MAX_NEW_TOKENS, Adapter, check_gen_kwargs
from finebench.adapters.checkpoints import checkpoint_revision, locate_card, resolve_device
from finebench.adapters.factory import RuntimeOptions, options_from_card
from finebench.adapters.instance import Request
from finebench.models.cards import DTYPES, ModelCard
from finebench.util.errors import ConfigError, FinebenchError

if TYPE_CHECKING:
    import torch


SAMPLING_KWARGS = ("temperature", "top_p", "top_k")


@dataclass(frozen=True)
class HFOptions:
    """``adapter_options`` (or ``--model-args`` keys) the transformers backend takes."""

    attn_implementation: str | None = None
    """``eager``, ``sdpa``, ``flash_attention_2``...; None: transformers' default (sdpa)."""


class HFAdapter(Adapter):
    output = "text"
    options_type = HFOptions

    def __init__(self, model: Any, processor: Any, *, fingerprint: str, default_seed: int,
                 settings: dict[str, Any] | None = None) -> None:
        self.model = model
        self.processor = processor
        self._fingerprint = fingerprint
        self._default_seed = default_seed
        self._settings = settings or {}

    @classmethod
    def from_card(cls, card: ModelCard, runtime: RuntimeOptions) -> HFAdapter:
        """Load the card's checkpoint onto the runtime device; any failure is a FinebenchError."""
        options = options_from_card(card, HFOptions)
        device = resolve_device(runtime.device)
        located = locate_card(card)
        source = located.source
        dtype = _resolve_dtype(card, device)
        load_kwargs: dict[str, Any] = {}
        if options.attn_implementation is not None:
            load_kwargs["attn_implementation"] = options.attn_implementation
        try:
            from transformers import AutoModelForImageTextToText, AutoProcessor

            processor = AutoProcessor.from_pretrained(source, trust_remote_code=card.trust_remote_code,
                                                      local_files_only=located.local_files_only)
            model = AutoModelForImageTextToText.from_pretrained(
                source, dtype=dtype, device_map=device, trust_remote_code=card.trust_remote_code,
                local_files_only=located.local_files_only, **load_kwargs,
            )
        except Exception as exc:  # transformers raises OSError, ValueError, KeyError... for a bad checkpoint
            raise FinebenchError(
                f"cannot load model {card.name!r} from {source!r}: {type(exc).__name__}: {exc}"
            ) from exc
        _apply_pixel_bounds(card, processor)
        if getattr(processor, "chat_template", None) is None:
            raise FinebenchError(f"model {card.name!r} ({source}) has no chat template; finebench needs a chat model")
        processor.tokenizer.padding_side = "left"
        model.eval()
        fingerprint = _fingerprint(source, model, processor, dtype, options)
        settings = {"dtype": _dtype_name(dtype), "pixels": _pixel_bounds(processor), **load_kwargs}
        return cls(model, processor, fingerprint=fingerprint, default_seed=runtime.seed, settings=settings)

    def fingerprint(self) -> str:
        return self._fingerprint

    def settings(self) -> dict[str, Any]:
        return dict(self._settings)

    def generate(self, requests: Sequence[Request]) -> list[str]:
        """Responses in request order; requests with equal generation settings share one batch."""
        groups: dict[str, list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(json.dumps(dict(request.gen_kwargs), sort_keys=True, default=repr), []).append(index)
        responses: list[str] = [""] * len(requests)
        for indices in groups.values():
            batch = [requests[i] for i in indices]
            for index, text in zip(indices, self._generate_batch(batch), strict=True):
                responses[index] = text
        return responses

    def _generate_batch(self, requests: Sequence[Request]) -> list[str]:
        import torch

        if self.model is None:
            raise FinebenchError("the HF adapter was closed")
        gen_kwargs = dict(requests[0].gen_kwargs)
        check_gen_kwargs(gen_kwargs)
        settings = _generation_settings(gen_kwargs, self.processor.tokenizer.pad_token_id)
        texts = [
            self.processor.apply_chat_template(r.messages(), add_generation_prompt=True, tokenize=False)
            for r in requests
        ]
        inputs = self.processor(text=texts, images=[r.images() for r in requests], padding=True, return_tensors="pt")
        inputs = inputs.to(self.model.device)
        if settings["do_sample"]:
            torch.manual_seed(int(gen_kwargs.get("seed", self._default_seed)))
        with torch.inference_mode():
            output = self.model.generate(**inputs, **settings)
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return self.processor.batch_decode(new_tokens, skip_special_tokens=True)

    def close(self) -> None:
        import gc

        import torch

        if self.model is None:
            return
        on_cuda = self.model.device.type == "cuda"
        self.model = None
        gc.collect()
        if on_cuda:
            torch.cuda.empty_cache()


def _resolve_dtype(card: ModelCard, device: str) -> torch.dtype:
    """``auto`` is bf16, the dtype the authors evaluated (and trained) in, wherever the device
    computes it natively; fp32 where it would only be emulated (old GPUs, CPUs without AVX512-BF16
    or AMX), which is slower than fp32 there."""
    import torch

    if card.dtype not in DTYPES:
        raise ConfigError(f"{card.source_file or card.name}: dtype {card.dtype!r} is not one of {', '.join(DTYPES)}")
    if card.dtype == "auto":
        return torch.bfloat16 if bf16_supported(device) else torch.float32
    return getattr(torch, card.dtype)


def bf16_supported(device: str) -> bool:
    """Whether ``device`` computes bfloat16 natively (what ``dtype: auto`` picks bf16 on)."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    if device == "cpu":
        try:  # oneDNN's own check for AVX512-BF16 / AMX; private, hence the fallback
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _accepts_pixel_bounds(image_processor: Any) -> bool:
    """Whether the image processor resizes to a pixel budget (Qwen-VL style), read from the
    keyword arguments it declares rather than from its name."""
    accepted = getattr(getattr(image_processor, "valid_kwargs", None), "__annotations__", {})
    return "min_pixels" in accepted and "max_pixels" in accepted


def _apply_pixel_bounds(card: ModelCard, processor: Any) -> None:
    apply_pixel_bounds(processor, card.min_pixels, card.max_pixels, where=card.source_file or card.name)


def apply_pixel_bounds(processor: Any, min_pixels: int | None, max_pixels: int | None, *, where: str) -> None:
    """Rebuild the image processor with the given pixel bounds; asking for bounds that the
    processor cannot honour is an error (named by ``where``), not a silently different run.

    The bounds are not passed to ``AutoProcessor.from_pretrained``: transformers would also park
    them in the tokenizer's init kwargs and re-send them with every call (a deprecated path)."""
    bounds = {k: v for k, v in (("min_pixels", min_pixels), ("max_pixels", max_pixels)) if v is not None}
    if not bounds:
        return
    image_processor = getattr(processor, "image_processor", None)
    if not _accepts_pixel_bounds(image_processor):
        raise ConfigError(
            f"{where}: {', '.join(bounds)} set but the image processor "
            f"{type(image_processor).__name__} has no pixel bounds"
        )
    processor.image_processor = type(image_processor).from_dict(image_processor.to_dict(), **bounds)


def _pixel_bounds(processor: Any) -> str:
    """The effective min/max pixels of a Qwen-style image processor ('-' for processors without)."""
    image_processor = getattr(processor, "image_processor", None)
    if not _accepts_pixel_bounds(image_processor):
        return "-"
    size = image_processor.size
    return f"{size['shortest_edge']}-{size['longest_edge']}"


def _generation_settings(gen_kwargs: dict[str, Any], pad_token_id: int | None) -> dict[str, Any]:
    """``model.generate`` keyword arguments. Sampling knobs are passed only when sampling: greedy
    decoding ignores them anyway, and passing them would only trigger transformers' warnings."""
    do_sample = bool(gen_kwargs.get("do_sample", False))
    settings: dict[str, Any] = {
        "do_sample": do_sample,
        "max_new_tokens": int(gen_kwargs.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)),
    }
    if do_sample:
        settings.update({k: gen_kwargs[k] for k in SAMPLING_KWARGS if k in gen_kwargs})
    if "min_new_tokens" in gen_kwargs:
        settings["min_new_tokens"] = int(gen_kwargs["min_new_tokens"])
    if "repetition_penalty" in gen_kwargs:
        settings["repetition_penalty"] = float(gen_kwargs["repetition_penalty"])
    if pad_token_id is not None:
        settings["pad_token_id"] = pad_token_id
    return settings


def _fingerprint(source: str, model: Any, processor: Any, dtype: torch.dtype, options: HFOptions) -> str:
    # loaded from somewhere we cannot inspect: the config is the best evidence we have
    revision = checkpoint_revision(source) or (
        "rev=local|files=config-" + hashlib.sha256(model.config.to_json_string().encode()).hexdigest()[:16]
    )
    attention = f"|attn={options.attn_implementation}" if options.attn_implementation else ""
    return f"hf:{source}|{revision}|dtype={_dtype_name(dtype)}|pixels={_pixel_bounds(processor)}{attention}"
