"""The vLLM backend: offline ``LLM.chat`` over large chunks of a task, for GPU machines.

vLLM schedules the requests of one ``chat`` call itself (continuous batching), so the adapter asks
the harness for chunks of ``chunk_size`` requests rather than the run's ``--batch-size``: a chunk
is large enough to keep the GPU busy and small enough that an interrupted run loses little (the
harness caches every finished chunk). Images travel as PIL objects (no base64), and the chat
template is the model's own, applied by vLLM, so prompts match the ``hf`` backend's.

Engine settings come from the card: ``tensor_parallel_size`` and ``pipeline_parallel_size`` shard
one engine over GPUs; ``data_parallel_size`` starts that many engines in worker processes, each
on its own GPUs, and splits every chunk between them. vLLM is imported only here, and a machine
without it or without a GPU gets an error that names the ``hf`` fallback.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from finebench.adapters.base import DEFAULT_MAX_NEW_TOKENS, Adapter, check_gen_kwargs
from finebench.adapters.checkpoints import checkpoint_revision, resolve_source
from finebench.adapters.factory import RuntimeOptions, options_from_card
from finebench.adapters.instance import Request
from finebench.models.cards import ModelCard
from finebench.util.errors import ConfigError, FinebenchError


@dataclass(frozen=True)
class VLLMOptions:
    """``adapter_options`` a card may set for vLLM (all optional)."""

    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    data_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    max_model_len: int | None = None
    max_num_seqs: int | None = None
    enforce_eager: bool = False
    chunk_size: int = 1024
    """Requests per ``chat`` call (see the module docstring)."""
    engine_args: dict[str, Any] = field(default_factory=dict)
    """Any further ``vllm.LLM`` keyword arguments, passed through unchanged."""


def parse_vllm_options(card: ModelCard) -> VLLMOptions:
    where = card.source_file or card.name
    options = options_from_card(card, VLLMOptions)
    for name in ("tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size", "chunk_size"):
        value = getattr(options, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{where}: adapter_options.{name} must be a positive integer, not {value!r}")
    if not 0 < options.gpu_memory_utilization <= 1:
        raise ConfigError(f"{where}: adapter_options.gpu_memory_utilization must be in (0, 1]")
    if not isinstance(options.engine_args, dict):
        raise ConfigError(f"{where}: adapter_options.engine_args must be a mapping")
    return options


def engine_kwargs(card: ModelCard, source: str, options: VLLMOptions, *, seed: int, max_images: int) -> dict[str, Any]:
    """Keyword arguments of ``vllm.LLM`` for one engine (data parallelism is handled above it)."""
    kwargs: dict[str, Any] = {
        "model": source,
        "dtype": card.dtype,
        "trust_remote_code": card.trust_remote_code,
        "seed": seed,
        "tensor_parallel_size": options.tensor_parallel_size,
        "pipeline_parallel_size": options.pipeline_parallel_size,
        "gpu_memory_utilization": options.gpu_memory_utilization,
        "enforce_eager": options.enforce_eager,
        "limit_mm_per_prompt": {"image": max_images},
    }
    if options.max_model_len is not None:
        kwargs["max_model_len"] = options.max_model_len
    if options.max_num_seqs is not None:
        kwargs["max_num_seqs"] = options.max_num_seqs
    pixels = {k: v for k, v in (("min_pixels", card.min_pixels), ("max_pixels", card.max_pixels)) if v is not None}
    if pixels:  # Qwen-VL processors take their pixel budget from the multimodal processor kwargs
        kwargs["mm_processor_kwargs"] = pixels
    return {**kwargs, **options.engine_args}


def sampling_kwargs(gen_kwargs: dict[str, Any], default_seed: int) -> dict[str, Any]:
    """``vllm.SamplingParams`` keyword arguments equivalent to the hf adapter's settings: greedy
    is temperature 0; sampling passes only the knobs the task set, plus a seed per request."""
    check_gen_kwargs(gen_kwargs)
    params: dict[str, Any] = {"max_tokens": int(gen_kwargs.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS))}
    if gen_kwargs.get("do_sample", False):
        params["temperature"] = float(gen_kwargs.get("temperature", 1.0))
        params.update({k: gen_kwargs[k] for k in ("top_p", "top_k") if k in gen_kwargs})
        params["seed"] = int(gen_kwargs.get("seed", default_seed))
    else:
        params["temperature"] = 0.0
    if "min_new_tokens" in gen_kwargs:  # vLLM suppresses end-of-text and stop tokens until then
        params["min_tokens"] = int(gen_kwargs["min_new_tokens"])
    if "repetition_penalty" in gen_kwargs:
        params["repetition_penalty"] = float(gen_kwargs["repetition_penalty"])
    return params


def chat_messages(request: Request) -> list[dict[str, Any]]:
    """The request's messages with each image as a vLLM ``image_pil`` part."""
    messages = []
    for message in request.messages():
        content = [
            {"type": "image_pil", "image_pil": part["image"]} if part["type"] == "image" else part
            for part in message["content"]
        ]
        messages.append({**message, "content": content})
    return messages


def shard_bounds(n_items: int, n_shards: int) -> list[tuple[int, int]]:
    """Contiguous, near-equal ``[start, end)`` slices covering ``range(n_items)`` in order, so
    concatenating the shards' answers restores the request order."""
    base, extra = divmod(n_items, n_shards)
    bounds, start = [], 0
    for shard in range(n_shards):
        end = start + base + (1 if shard < extra else 0)
        bounds.append((start, end))
        start = end
    return bounds


def device_groups(n_engines: int, gpus_per_engine: int, visible: Sequence[str]) -> list[str]:
    """``CUDA_VISIBLE_DEVICES`` of each data-parallel engine, from the GPUs this process sees."""
    needed = n_engines * gpus_per_engine
    if len(visible) < needed:
        raise FinebenchError(
            f"data_parallel_size {n_engines} x {gpus_per_engine} GPU(s) per engine needs {needed} GPUs; {len(visible)} visible"
        )
    return [",".join(visible[i * gpus_per_engine : (i + 1) * gpus_per_engine]) for i in range(n_engines)]


class VLLMAdapter(Adapter):
    output = "text"
    options_type = VLLMOptions

    def __init__(self, engines: list[Any], *, fingerprint: str, default_seed: int, chunk_size: int,
                 settings: dict[str, Any] | None = None) -> None:
        self.engines = engines
        self._fingerprint = fingerprint
        self._default_seed = default_seed
        self.batch_size_hint = chunk_size
        self._settings = settings or {}

    @classmethod
    def from_card(cls, card: ModelCard, runtime: RuntimeOptions) -> VLLMAdapter:
        require_vllm()
        options = parse_vllm_options(card)
        source = resolve_source(card)
        kwargs = engine_kwargs(card, source, options, seed=runtime.seed, max_images=runtime.max_images)
        if options.data_parallel_size == 1:
            engines: list[Any] = [_LocalEngine(kwargs)]
        else:
            engines = _start_workers(kwargs, options)
        chunk = max(options.chunk_size, runtime.batch_size)
        # vLLM's dtype "auto" is the checkpoint's own (bfloat16 for the Qwen2.5-VL and Fine-R1 weights)
        settings = {"dtype": kwargs["dtype"], **kwargs.get("mm_processor_kwargs", {})}
        return cls(engines, fingerprint=_fingerprint(source, kwargs), default_seed=runtime.seed, chunk_size=chunk,
                   settings=settings)

    def fingerprint(self) -> str:
        return self._fingerprint

    def settings(self) -> dict[str, Any]:
        return dict(self._settings)

    def generate(self, requests: Sequence[Request]) -> list[str]:
        if not self.engines:
            raise FinebenchError("the vllm adapter was closed")
        conversations = [chat_messages(r) for r in requests]
        params = [sampling_kwargs(dict(r.gen_kwargs), self._default_seed) for r in requests]
        bounds = shard_bounds(len(requests), len(self.engines))
        for engine, (start, end) in zip(self.engines, bounds):  # workers run concurrently
            engine.submit(conversations[start:end], params[start:end])
        return [text for engine in self.engines for text in engine.result()]

    def close(self) -> None:
        for engine in self.engines:
            engine.close()
        self.engines = []


def require_vllm() -> None:
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        raise FinebenchError("vllm is not installed: pip install 'finebench[vllm]', or run with --backend hf")
    import torch

    if not torch.cuda.is_available():
        raise FinebenchError("vllm needs a CUDA GPU and none is visible; run with --backend hf")


def _chat(llm: Any, conversations: list, params: list[dict[str, Any]]) -> list[str]:
    from vllm import SamplingParams

    if not conversations:
        return []
    outputs = llm.chat(conversations, sampling_params=[SamplingParams(**p) for p in params], use_tqdm=False)
    return [output.outputs[0].text for output in outputs]


class _LocalEngine:
    """One engine in this process."""

    def __init__(self, kwargs: dict[str, Any]) -> None:
        from vllm import LLM

        self._llm = LLM(**kwargs)
        self._pending: list[str] = []

    def submit(self, conversations: list, params: list[dict[str, Any]]) -> None:
        self._pending = _chat(self._llm, conversations, params)

    def result(self) -> list[str]:
        return self._pending

    def close(self) -> None:
        import gc

        import torch

        del self._llm
        gc.collect()
        torch.cuda.empty_cache()


def _worker_main(kwargs: dict[str, Any], devices: str, inbox: Any, outbox: Any) -> None:
    """A data-parallel engine: sees only its own GPUs, answers chunks until told to stop."""
    import os

    os.environ["CUDA_VISIBLE_DEVICES"] = devices
    from vllm import LLM

    try:
        llm = LLM(**kwargs)
    except Exception as exc:  # reported to the parent, which raises it
        outbox.put(("error", f"{type(exc).__name__}: {exc}"))
        return
    outbox.put(("ready", None))
    while (job := inbox.get()) is not None:
        try:
            outbox.put(("ok", _chat(llm, *job)))
        except Exception as exc:
            outbox.put(("error", f"{type(exc).__name__}: {exc}"))


class _WorkerEngine:
    def __init__(self, process: Any, inbox: Any, outbox: Any) -> None:
        self._process, self._inbox, self._outbox = process, inbox, outbox

    def wait_ready(self) -> None:
        status, message = self._outbox.get()
        if status != "ready":
            raise FinebenchError(f"a vllm data-parallel worker failed to start: {message}")

    def submit(self, conversations: list, params: list[dict[str, Any]]) -> None:
        self._inbox.put((conversations, params))

    def result(self) -> list[str]:
        status, payload = self._outbox.get()
        if status != "ok":
            raise FinebenchError(f"a vllm data-parallel worker failed: {payload}")
        return payload

    def close(self) -> None:
        self._inbox.put(None)
        self._process.join(timeout=60)
        if self._process.is_alive():
            self._process.terminate()


def _start_workers(kwargs: dict[str, Any], options: VLLMOptions) -> list[_WorkerEngine]:
    import multiprocessing
    import os

    import torch

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    gpus = [d for d in visible.split(",") if d] if visible else [str(i) for i in range(torch.cuda.device_count())]
    groups = device_groups(options.data_parallel_size, options.tensor_parallel_size * options.pipeline_parallel_size, gpus)
    context = multiprocessing.get_context("spawn")  # CUDA cannot be forked
    engines = []
    for devices in groups:
        inbox, outbox = context.Queue(), context.Queue()
        process = context.Process(target=_worker_main, args=(kwargs, devices, inbox, outbox), daemon=True)
        process.start()
        engines.append(_WorkerEngine(process, inbox, outbox))
    try:
        for engine in engines:
            engine.wait_ready()
    except FinebenchError:
        for engine in engines:
            engine.close()
        raise
    return engines


def _fingerprint(source: str, kwargs: dict[str, Any]) -> str:
    """Weights (files digest, as for hf) plus every engine setting that can change outputs."""
    revision = checkpoint_revision(source) or "rev=local|files=unknown"
    settings = {k: v for k, v in kwargs.items() if k not in ("model", "gpu_memory_utilization", "enforce_eager")}
    return f"vllm:{source}|{revision}|{json.dumps(settings, sort_keys=True, default=str)}"

