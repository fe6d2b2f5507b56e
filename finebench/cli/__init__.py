"""The ``finebench`` command line: one module per command group, each thin (parse, call the library,
print); ``app`` mounts them. This package is the top of the house: it may import anything below;
nothing imports it.

Start-up stays fast: torch, transformers and rich's progress machinery are imported inside the
commands that need them, and ``finebench ls`` answers without typer at all: typer validates every
option value through pydantic, which alone costs more than listing the tasks (see
benchmarks/bench_startup.py). ``app`` is built on first use.
"""

from __future__ import annotations

import errno
import sys
from typing import Any

from finebench.util.errors import FinebenchError


def __getattr__(name: str) -> Any:
    """``app``: the root typer app (``finebench.cli.root``), built on first use."""
    if name == "app":
        from finebench.cli.root import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


FILE_SYSTEM_ERRORS = {
    errno.ENOSPC: "no space left on the device; free space and run the same command again (finished work is kept)",
    errno.EDQUOT: "disk quota exceeded; free space and run the same command again (finished work is kept)",
    errno.EROFS: "the file system is read-only; choose another path",
    errno.EACCES: "permission denied; choose another path",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another path",
    errno.EISDIR: "a folder is where a file is expected; choose another path",
}
"""Failures of the machine, not of finebench: reported as one line naming the file, no traceback."""


def main() -> None:
    try:
        if sys.argv[1:] == ["ls"]:
            from finebench.tasks.index import TaskIndex, task_listing

            sys.stdout.write(task_listing(TaskIndex()))
            return
        from finebench.cli.root import app

        app()
    except FinebenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        if exc.errno not in FILE_SYSTEM_ERRORS:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{FILE_SYSTEM_ERRORS[exc.errno]}", file=sys.stderr)
        sys.exit(2)
