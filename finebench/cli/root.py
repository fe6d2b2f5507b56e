"""The root typer application: every command group mounted on one ``finebench`` command (its own
module so that ``finebench ls`` can answer without importing typer, see ``finebench.cli``)."""

from __future__ import annotations

from typing import Annotated

import typer

from finebench.cli.analyze import app as analyze_app
from finebench.cli.data import data_app
from finebench.cli.evaluate import app as evaluate_app
from finebench.cli.export import export_app
from finebench.cli.leaderboard import app as leaderboard_app
from finebench.cli.power import app as power_app
from finebench.cli.train import train_app
from finebench.cli.view import app as view_app

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help: rich markup would read every "[default: ...]" in a help string as a tag and drop it.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Fine-grained visual recognition benchmark for multimodal LLMs (Fine-R1 tasks).",
)


def _print_version(value: bool) -> None:
    if value:
        import finebench

        typer.echo(f"finebench {finebench.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", "-V", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Fine-grained visual recognition benchmark for multimodal LLMs (Fine-R1 tasks)."""
app.add_typer(evaluate_app)  # `run`, `score`, `ls`, `models`
app.add_typer(data_app, name="data")
app.add_typer(leaderboard_app)  # `leaderboard`, `compare`
app.add_typer(view_app)  # `view`
app.add_typer(power_app)  # `power`
app.add_typer(analyze_app, name="analyze")  # `report`, `probe`, `taxonomy`, `pca`
app.add_typer(export_app, name="export")
app.add_typer(train_app, name="train")
