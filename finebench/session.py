"""One ``finebench run``: model card -> adapter -> evaluator, with a progress bar per task."""

from __future__ import annotations

import logging
from typing import Any

from finebench.adapters.factory import RuntimeOptions, create_adapter
from finebench.models.cards import resolve_model
from finebench.runner import Evaluator, RunConfig, item_file
from finebench.taskindex import TaskIndex


def run_model(model: str, config: RunConfig, *, device: str = "auto") -> dict[str, Any]:
    from rich.logging import RichHandler
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    logging.basicConfig(level=logging.WARNING, format="%(message)s", handlers=[RichHandler(show_path=False)])
    card = resolve_model(model)
    index = TaskIndex()
    for name in index.expand(list(config.tasks)):  # bad names and missing data fail before a model loads
        item_file(index.load(name), config.data_root)
    adapter = create_adapter(card, RuntimeOptions(batch_size=config.batch_size, device=device, seed=config.seed or 0))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, transient=False) as progress:
            return Evaluator(config, adapter, card, index=index, progress=progress).run()
    finally:
        adapter.close()
