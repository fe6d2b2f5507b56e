"""Reading one JSON document from a file that may be hostile or broken: every failure (missing,
a folder, not UTF-8, invalid, nested too deep for the parser) is one ``FinebenchError`` naming the
file, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from finebench.util.errors import FinebenchError


def decode_json(text: str, where: str, error: type[FinebenchError] = FinebenchError) -> Any:
    """``json.loads`` with its failures as ``error`` naming ``where``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{where}: invalid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from exc
    except RecursionError as exc:
        raise error(f"{where}: JSON nested too deeply to read") from exc


def read_text_file(path: Path, what: str = "file", error: type[FinebenchError] = FinebenchError) -> str:
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: {what} is not UTF-8 text (byte {exc.start}); re-save it as UTF-8") from exc
    except IsADirectoryError as exc:
        raise error(f"{path}: {what} expected, found a folder") from exc
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from exc


def read_json_file(path: Path, what: str = "file", error: type[FinebenchError] = FinebenchError) -> Any:
    return decode_json(read_text_file(path, what, error), str(path), error)
