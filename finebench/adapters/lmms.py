"""Any lmms-eval model as a finebench backend: the card names an lmms-eval model id (``qwen2_5_vl``,
``llava_onevision``, ``internvl3``...) and its ``model_args``; finebench keeps its own prompts,
caching and scoring and only borrows the model's loading and generation code.

lmms-eval models do not take requests with images: they take ``Instance`` objects whose arguments
name a document by (task, split, doc_id) and a function that turns the document into images
(simple models) or chat messages (chat models); the model looks the document up in its
``task_dict``. The adapter therefore registers each batch's requests as documents of one private
task, builds the argument tuple the model's kind expects, and removes the documents afterwards.
lmms-eval is an optional extra, imported only when such a card is used.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from finebench.adapters.base import DEFAULT_MAX_NEW_TOKENS, Adapter
from finebench.adapters.factory import RuntimeOptions, options_from_card
from finebench.adapters.instance import Request
from finebench.models.cards import ModelCard
from finebench.util.errors import ConfigError, FinebenchError

TASK = "finebench"
SPLIT = "test"


@dataclass(frozen=True)
class LmmsOptions:
    model_args: dict[str, Any] = field(default_factory=dict)
    """Constructor arguments of the lmms-eval model (``pretrained``, ``device_map``...)."""
    force_simple: bool = False
    """Use the model's "simple" implementation even where lmms-eval has a chat one."""


def parse_lmms_options(card: ModelCard) -> LmmsOptions:
    where = card.source_file or card.name
    options = options_from_card(card, LmmsOptions)
    if not isinstance(options.model_args, dict):
        raise ConfigError(f"{where}: adapter_options.model_args must be a mapping")
    return options


def arg_string(model_args: dict[str, Any]) -> str:
    """lmms-eval's ``key=value,key=value`` form; commas inside a value cannot be expressed."""
    for key, value in model_args.items():
        if "," in f"{key}{value}" or "=" in str(key):
            raise ConfigError(f"model_args {key}={value!r}: lmms-eval argument strings cannot contain ',' (or '=' in keys)")
    return ",".join(f"{k}={v}" for k, v in model_args.items())


def lmms_gen_kwargs(gen_kwargs: dict[str, Any]) -> dict[str, Any]:
    """finebench generation settings in lmms-eval's vocabulary (greedy = temperature 0)."""
    sampled = bool(gen_kwargs.get("do_sample", False))
    settings: dict[str, Any] = {
        "max_new_tokens": int(gen_kwargs.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)),
        "do_sample": sampled,
        "temperature": float(gen_kwargs.get("temperature", 1.0)) if sampled else 0.0,
        "until": [],
    }
    settings.update({k: gen_kwargs[k] for k in ("top_p", "top_k", "repetition_penalty") if k in gen_kwargs})
    return settings


def chat_messages(request: Request) -> list[dict[str, Any]]:
    """lmms-eval's chat-message layout (``{"type": "image", "url": PIL}``) of a request."""
    messages = []
    for message in request.messages():
        content = [
            {"type": "image", "url": part["image"]} if part["type"] == "image" else {"type": "text", "text": part["text"]}
            for part in message["content"]
        ]
        messages.append({"role": message["role"], "content": content})
    return messages


def instance_arguments(request: Request, doc_id: int, *, is_simple: bool) -> tuple:
    """The ``Instance.arguments`` tuple lmms-eval models unpack (see the module docstring)."""
    gen_kwargs = lmms_gen_kwargs(dict(request.gen_kwargs))
    if is_simple:
        return (request.prompt, gen_kwargs, _doc_images, doc_id, TASK, SPLIT)
    return (request.prompt, _doc_messages, gen_kwargs, doc_id, TASK, SPLIT)


def _doc_images(doc: dict[str, Request]) -> list[Any]:
    return doc["request"].images()


def _doc_messages(doc: dict[str, Request]) -> list[dict[str, Any]]:
    return chat_messages(doc["request"])


class LmmsAdapter(Adapter):
    output = "text"
    options_type = LmmsOptions
    prepares_own_images = True  # lmms-eval's model wrappers (e.g. qwen2_5_vl) run their own image rules

    def __init__(self, model: Any, *, fingerprint: str) -> None:
        self.model = model
        self._fingerprint = fingerprint

    @classmethod
    def from_card(cls, card: ModelCard, runtime: RuntimeOptions) -> LmmsAdapter:
        options = parse_lmms_options(card)
        args = arg_string(options.model_args)
        try:
            from lmms_eval.models import get_model
        except ImportError:
            raise FinebenchError("lmms-eval is not installed: pip install 'finebench[lmms]'") from None
        try:
            model_class = get_model(card.model, force_simple=options.force_simple)
        except Exception as exc:  # lmms-eval raises ValueError/ImportError for unknown ids or missing deps
            raise FinebenchError(f"lmms-eval has no usable model {card.model!r}: {type(exc).__name__}: {exc}") from exc
        extra = {"batch_size": runtime.batch_size}
        if runtime.device != "auto":
            extra["device"] = runtime.device
        try:
            model = model_class.create_from_arg_string(args, extra)
        except Exception as exc:
            raise FinebenchError(f"cannot create lmms-eval model {card.model!r}({args}): {type(exc).__name__}: {exc}") from exc
        version = importlib.metadata.version("lmms_eval")
        kind = "simple" if model_class.is_simple else "chat"
        return cls(model, fingerprint=f"lmms:{card.model}:{kind}|{args}|lmms_eval={version}")

    def fingerprint(self) -> str:
        return self._fingerprint

    def generate(self, requests: Sequence[Request]) -> list[str]:
        from lmms_eval.api.instance import Instance, unwrap_generation_output

        if self.model is None:
            raise FinebenchError("the lmms adapter was closed")
        docs = self.model.task_dict.setdefault(TASK, {}).setdefault(SPLIT, {})
        docs.clear()
        instances = []
        for doc_id, request in enumerate(requests):
            docs[doc_id] = {"request": request}
            arguments = instance_arguments(request, doc_id, is_simple=self.model.is_simple)
            instances.append(Instance("generate_until", arguments, idx=0, metadata={"task": TASK, "doc_id": doc_id, "repeats": 1}))
        try:
            outputs = self.model.generate_until(instances)
        finally:
            docs.clear()
        texts = [unwrap_generation_output(output)[0] for output in outputs]
        if len(texts) != len(requests) or not all(isinstance(t, str) for t in texts):
            raise FinebenchError(f"lmms-eval model returned {len(texts)} outputs for {len(requests)} requests")
        return texts

    def close(self) -> None:
        import gc

        self.model = None
        gc.collect()
