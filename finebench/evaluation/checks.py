"""Every value of a run checked before any model loads: a typo in an option fails in a second
with the option named, not after minutes of loading weights (or, worse, with every sample failed
and exit 0)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from finebench.evaluation.merge import (
    RESULTS_FILE,
    check_mergeable,
    check_output_folder,
    read_existing,
)
from finebench.util.errors import FinebenchError


def _positive(name: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise FinebenchError(f"{name} must be a positive whole number, not {value!r}")


def check_run_values(config: Any) -> None:
    """The run's options (a ``RunConfig``), each named as on the command line."""
    from finebench.evaluation.config import REQUEST_ORDERS
    from finebench.tasks.config import OPTION_ORDERS, PROTOCOLS
    from finebench.tasks.prompts import STRATEGIES

    _positive("--limit", config.limit)
    _positive("--trials", config.trials)
    _positive("--batch-size", config.batch_size)
    if config.seed is not None and (isinstance(config.seed, bool) or not isinstance(config.seed, int) or config.seed < 0):
        raise FinebenchError(f"--seed must be a whole number >= 0, not {config.seed!r}")
    choices = (("--protocol", config.protocol, PROTOCOLS), ("--request-order", config.request_order, REQUEST_ORDERS),
               ("--option-order", config.option_order, OPTION_ORDERS), ("--strategy", config.strategy, STRATEGIES))
    for option, value, allowed in choices:
        if value is not None and value not in allowed:
            raise FinebenchError(f"{option} {value!r} is not one of {', '.join(allowed)}")
    if not config.tasks:
        raise FinebenchError("--tasks names no task")
    data_root = Path(config.data_root)
    if data_root.exists() and not data_root.is_dir():
        raise FinebenchError(f"--data-root {data_root} is a file, not a folder")
    if config.cache_path is not None and Path(config.cache_path).is_dir():
        raise FinebenchError(f"--cache-path {config.cache_path} is a folder; give a file (e.g. {Path(config.cache_path) / 'responses.sqlite'})")
    if config.icl_pool is not None and not Path(config.icl_pool).is_file():
        raise FinebenchError(f"--icl-pool {config.icl_pool}: no such file")
    check_output_folder(config.output_path)


def check_output_compatible(config: Any, model: dict[str, Any]) -> None:
    """A results folder that holds another model's or configuration's results is refused now, not
    after the run (``model``: name, adapter and model of the card)."""
    existing = read_existing(config.output_path)
    if existing is None:
        return
    record = {"icl_pool": str(config.icl_pool) if config.icl_pool else None}
    check_mergeable(existing, model, record, Path(config.output_path) / RESULTS_FILE)
