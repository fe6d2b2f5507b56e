"""`finebench export lmms-eval`: finebench tasks as lmms-eval task YAMLs whose hooks call finebench."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from finebench.cli.options import DataRoot, parse_metric_list, split_names

export_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Export tasks to other harnesses.")


@export_app.command("lmms-eval")
def export_lmms(
    out: Annotated[Path, typer.Argument(metavar="OUT", help="Folder for the task YAMLs (pass it to lmms-eval as --include_path).")],
    tasks: Annotated[str, typer.Option("--tasks", "-t", help="Comma-separated tasks and groups.")],
    data_root: DataRoot = None,
    protocol: Annotated[Optional[str], typer.Option(help="fine-r1 or finebench [default: the task's, fine-r1].")] = None,
    metrics: Annotated[Optional[str], typer.Option(help="Comma-separated subset of the tasks' metrics [default: all of them].")] = None,
    ss_encoder: Annotated[Optional[str], typer.Option("--ss-encoder", help="Text encoder for SS_relative [default: google/siglip-base-patch16-256].")] = None,
) -> None:
    """Write lmms-eval task YAMLs (group `finebench`) that prompt and score exactly like `finebench run`."""
    from finebench.evaluation.config import DEFAULT_SS_ENCODER
    from finebench.interop.lmms_export import GROUP, export_lmms_eval
    from finebench.util.resources import default_data_root

    written = export_lmms_eval(
        split_names(tasks), Path(data_root or default_data_root()).expanduser(), out, protocol=protocol,
        metrics=parse_metric_list(metrics) if metrics else None, ss_encoder=ss_encoder or DEFAULT_SS_ENCODER,
    )
    typer.echo(f"wrote {len(written)} files to {out}; run: lmms-eval --include_path {out} --tasks {GROUP} ...")
