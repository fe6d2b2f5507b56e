"""Where the shipped YAML folders (``tasks/``, ``baselines/``) live.

In an installed wheel they are package data under ``finebench/_data/``; in a clone (editable
install) they are the top-level folders of the repository. Looking in both keeps one source of truth.
"""

from __future__ import annotations

from pathlib import Path

from finebench.util.errors import FinebenchError

_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # finebench/


def resource_dir(kind: str) -> Path:
    for candidate in (_PACKAGE_DIR / "_data" / kind, _PACKAGE_DIR.parent / kind):
        if candidate.is_dir():
            return candidate
    raise FinebenchError(f"cannot find the {kind!r} folder next to the finebench package (broken install?)")


def default_data_root() -> Path:
    return Path("~/.cache/finebench").expanduser()
