"""``finebench view RUN [RUN2 ...]``: build the static per-sample explorer (and optionally serve it).

The folder works from file:// (open OUT/index.html); ``--serve`` starts Python's static file server
on 127.0.0.1 only, for browsers or setups that restrict file:// pages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from finebench.util.errors import FinebenchError

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)


def make_server(folder: Path, port: int) -> Any:
    """A static file server for ``folder`` bound to 127.0.0.1 only (port 0: any free port)."""
    import functools
    import http.server

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)


def serve(folder: Path, port: int) -> None:
    """Serve ``folder`` on 127.0.0.1:``port`` until interrupted."""
    with make_server(folder, port) as server:
        typer.echo(f"serving {folder} on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


@app.command("view")
def view_cli(
    runs: Annotated[list[Path], typer.Argument(metavar="RUNS", help="Results directories of `finebench run` (the first two are compared side by side).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("finebench-out/explorer"),
    label: Annotated[Optional[list[str]], typer.Option("--label", help="Display name of each run, in order (repeat).")] = None,
    data_root: Annotated[Optional[Path], typer.Option("--data-root", help="Where the images and item files are [default: the first run's].")] = None,
    tasks: Annotated[Optional[str], typer.Option("--tasks", "-t", help="Comma-separated tasks to include [default: every task with a samples file].")] = None,
    thumbnails: Annotated[bool, typer.Option("--thumbnails/--no-thumbnails", help="Make image thumbnails.")] = True,
    serve_port: Annotated[Optional[int], typer.Option("--serve", help="After building, serve the folder on 127.0.0.1:PORT (0: any free port).")] = None,
) -> None:
    """A static per-sample explorer: thumbnails, options with the chosen and true ones marked, the
    <think> text, scores and errors; filters by task, class, right/wrong, confusion pair, no answer,
    and (two runs) fixed/broken. Open OUT/index.html in a browser."""
    from finebench.leaderboard.explorer.write import write_explorer

    if label and len(label) != len(runs):
        raise FinebenchError(f"--label given {len(label)} time(s) for {len(runs)} run(s); give one per run or none")
    names = [t.strip() for t in tasks.split(",") if t.strip()] if tasks else None
    report = write_explorer(list(runs), out, labels=label, data_root=data_root, tasks=names, thumbnails=thumbnails)
    typer.echo(f"explorer: {report.n_items} items of {report.n_runs} run(s) in {report.n_chunks} chunks; "
               f"thumbnails {report.thumbs.made} made, {report.thumbs.reused} reused, {len(report.thumbs.missing)} images not found")
    typer.echo(f"open: {(Path(out) / 'index.html').resolve().as_uri()}")
    if serve_port is not None:
        serve(Path(out), serve_port)
