"""Reading JSON-lines files so that every bad line is reported by file and line number."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from finebench.util.errors import FinebenchError


def iter_jsonl(path: Path, error: type[FinebenchError] = FinebenchError, what: str = "file") -> Iterator[tuple[str, Any]]:
    """Yield ``("FILE:LINE", decoded row)`` for every non-blank line; unreadable files and invalid
    JSON raise ``error`` naming the file (and line), so callers only validate the row's shape."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror})") from exc
    with handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                yield where, json.loads(line)
            except json.JSONDecodeError as exc:
                raise error(f"{where}: invalid JSON ({exc.msg})") from exc
