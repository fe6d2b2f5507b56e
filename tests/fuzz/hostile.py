"""Hostile inputs shared by the fuzz tests: a payload that is HTML, Markdown, CSV-formula and
path-traversal at once, and every way of planting it into one string field of a results file."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MARK = "pwned"
PAYLOAD = (
    f'=HYPERLINK("x")"\'><img src=x onerror="document.documentElement.dataset.{MARK}=1">'
    f"<script>document.documentElement.dataset.{MARK}=2</script><b class={MARK}>[link](javascript:alert(1))"
    " | cell\n# heading `code` $\\frac{1}{0}$ [/b] ../../../escaped"
)
"""Live in a page if it lands unescaped in text or in a quoted attribute; splits a Markdown table;
runs as a spreadsheet formula; breaks matplotlib's mathtext and rich's markup; climbs out of a folder."""

LIVE_ELEMENTS_JS = (
    f"JSON.stringify({{flag: document.documentElement.dataset.{MARK} || null,"
    f" injected: document.querySelectorAll('.{MARK}, :not(script)[onerror], img[src=\"x\"]').length,"
    " scripts: document.scripts.length})"
)


def string_fields(data: Any, path: tuple = ()) -> Iterator[tuple]:
    """Paths of every string value and every string key (as ``(..., ("key", name))``) in ``data``."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*path, ("key", key))
            yield from string_fields(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from string_fields(value, (*path, i))
    elif isinstance(data, str):
        yield path


def planted(data: Any, field: tuple, payload: str = PAYLOAD) -> Any:
    """A copy of ``data`` with ``payload`` at ``field``. A task name is renamed everywhere it is a
    key (results and tasks), so the file stays consistent and only the name is hostile."""
    out = copy.deepcopy(data)
    *parents, last = field
    if isinstance(last, tuple) and parents in (["results"], ["tasks"]):
        old = last[1]
        for section in ("results", "tasks"):
            out[section] = {payload if k == old else k: v for k, v in out[section].items()}
        return out
    node = out
    for key in parents:
        node = node[key]
    if isinstance(last, tuple):
        node[payload] = node.pop(last[1])
    else:
        node[last] = payload
    return out


def field_name(field: tuple) -> str:
    return ".".join(f"<key {p[1]}>" if isinstance(p, tuple) else str(p) for p in field)


def write_variant(source: Path, directory: Path, data: Any) -> Path:
    """``source``'s samples files next to a planted ``results.json`` in ``directory``."""
    directory.mkdir(parents=True)
    for samples in source.glob("samples_*.jsonl"):
        (directory / samples.name).write_bytes(samples.read_bytes())
    (directory / "results.json").write_text(json.dumps(data, indent=2))
    return directory


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}
