"""Option types and value parsers that several command groups share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from finebench.util.errors import FinebenchError

DataRoot = Annotated[
    Optional[Path], typer.Option("--data-root", help="Folder holding fine-r1/eval/*.jsonl and the image folders [default: ~/.cache/finebench].")
]


def split_names(spec: str) -> list[str]:
    return [n.strip() for n in spec.split(",") if n.strip()]


def parse_kv_option(spec: str | None, flag: str) -> dict:
    """``--model-args``/``--gen-kwargs`` style ``k=v,k=v`` (values typed as lm-eval types them)."""
    from finebench.util.kvargs import parse_kv_args

    try:
        return parse_kv_args(spec or "", flag)
    except ValueError as exc:
        raise FinebenchError(str(exc)) from exc


def parse_metric_list(spec: str) -> list[str]:
    from finebench.scoring import parse_metrics

    try:
        return parse_metrics(spec)
    except ValueError as exc:
        raise FinebenchError(str(exc)) from exc
