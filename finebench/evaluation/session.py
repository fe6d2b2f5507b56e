"""One ``finebench run``: model card -> adapter -> evaluator, with a progress bar per task.

The caller resolves the card once (``models.cards.resolve_model``) and hands it down."""

from __future__ import annotations

import logging
from typing import Any

from finebench.adapters.base import normalize_gen_kwargs
from finebench.adapters.checkpoints import locate_card, resolve_device
from finebench.adapters.factory import (
    CHECKPOINT_BACKENDS,
    RuntimeOptions,
    adapter_class,
    apply_model_args,
    create_adapter,
    resolve_backend,
)
from finebench.embeddings.text import load_text_encoder
from finebench.evaluation.checks import check_output_compatible, check_run_values
from finebench.evaluation.config import RunConfig
from finebench.evaluation.evaluator import Evaluator
from finebench.evaluation.plan import (
    ItemFiles,
    check_adapter_supports,
    effective_metrics,
    metrics_left_out,
)
from finebench.models.cards import ModelCard
from finebench.tasks.index import TaskIndex
from finebench.tasks.items import RELEASE_OPTION_COUNT
from finebench.util.errors import FinebenchError


def run_model(card: ModelCard, config: RunConfig, *, device: str = "auto", backend: str = "auto") -> dict[str, Any]:
    from rich.logging import RichHandler
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    logging.basicConfig(level=logging.WARNING, format="%(message)s", handlers=[RichHandler(show_path=False)])
    check_run_values(config)
    card = apply_model_args(resolve_backend(card, backend), dict(config.model_args))
    if config.gen_kwargs and adapter_class(card).output != "text":
        raise FinebenchError(f"--gen-kwargs: model {card.name!r} ({card.adapter}) scores options and generates no text")
    normalize_gen_kwargs(dict(config.gen_kwargs))  # bad settings fail before a model loads
    check_output_compatible(config, {"name": card.name, "adapter": card.adapter, "model": card.model})
    index = TaskIndex()
    tasks = [index.load(name) for name in index.expand(list(config.tasks))]
    item_files = ItemFiles(config.data_root)
    for task in tasks:  # bad names, missing, empty or malformed item files fail before a model loads
        item_files.get(task)
    check_adapter_supports(adapter_class(card), card, tasks, config.strategy)  # so do unsupported tasks
    if card.adapter in CHECKPOINT_BACKENDS:  # a missing local folder or an unreachable Hub: one line, now
        resolve_device(device)
        locate_card(card)
    for metric, names in metrics_left_out(tasks, config.metrics).items():
        logging.getLogger("finebench").warning(
            "--metrics %s leaves out %s, which %d task(s) report (%s%s); add it to keep it",
            ",".join(config.metrics or ()), metric, len(names), ", ".join(names[:3]), ", ..." if len(names) > 3 else "")
    # so does a missing SS_relative encoder: it is loaded before the (much larger) model
    needs_encoder = any("ss_relative" in effective_metrics(t, config.metrics) for t in tasks)
    encoder = load_text_encoder(config.ss_encoder) if needs_encoder else None
    # in-context learning shows one demonstration per option before the query image
    max_images = 1 + RELEASE_OPTION_COUNT if config.strategy == "icl" else 1
    runtime = RuntimeOptions(batch_size=config.batch_size, device=device, seed=config.seed or 0, max_images=max_images)
    adapter = create_adapter(card, runtime)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, transient=False) as progress:
            return Evaluator(
                config, adapter, card, index=index, progress=progress, encoder_loader=lambda _spec: encoder
            ).run()
    finally:
        adapter.close()
