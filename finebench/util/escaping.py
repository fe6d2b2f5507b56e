"""Text from untrusted files made safe for the format it is written to, and names safe for paths.

Results, samples and item files come from other people (see SECURITY.md). Whatever a leaderboard,
report or console shows of them passes through one of these functions first: ``html_text`` for
HTML text and attribute values, ``markdown_text`` for Markdown cells and headings, ``csv_cell``
for spreadsheet cells, ``slug`` for file names and HTML ids derived from data. ``check_safe_name``
is the rule task names follow (they name ``samples_<task>.jsonl``).
"""

from __future__ import annotations

import hashlib
import html
import re

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""A task (or other) name that is also a safe file-name component: no separators, no ``..``, no markup."""
_MARKDOWN_SPECIAL = re.compile(r"([\\`|\[\]])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")


def is_safe_name(name: object) -> bool:
    return isinstance(name, str) and SAFE_NAME.fullmatch(name) is not None and ".." not in name


def html_text(value: object) -> str:
    """Escaped for HTML text and for a double- or single-quoted attribute value."""
    return html.escape(str(value), quote=True)


def markdown_text(value: object) -> str:
    """Inline Markdown that cannot become markup that does something: HTML escaped (GitHub and most
    viewers pass raw HTML through), ``|`` backslashed (it cannot split a table cell), ``[`` ``]``
    backslashed (``[x](javascript:...)`` is no link), backticks backslashed, newlines folded to
    spaces (a row stays one row). Emphasis characters are left alone: harmless, and names keep
    their underscores readable in the raw file."""
    text = " ".join(str(value).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def markdown_code(value: object) -> str:
    """A code span for paths and other verbatim strings: backticks and newlines cannot break it."""
    text = " ".join(str(value).split()).replace("`", "'")
    return f"`{text}`"


def csv_cell(value: object) -> object:
    """Spreadsheet-safe cell: a string a spreadsheet would run as a formula gets a leading ``'``
    (OWASP's advice); numbers and None pass unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


def terminal_text(value: object) -> str:
    """Plain text for a terminal: control characters (escape sequences that could rewrite the
    screen or the window title) replaced by ``?``."""
    return _CONTROL.sub("?", str(value))


def slug(value: object) -> str:
    """Lower-case ``[a-z0-9-]`` only: for file names and HTML ids derived from data (never a
    path separator, never ``..``, never a quote). Where that changes the text, a short hash of
    the original is appended, so two different values never share a file."""
    original = str(value)
    text = re.sub(r"[^a-z0-9]+", "-", original.lower()).strip("-")[:60]
    if text == original and text:
        return text
    return f"{text}-{hashlib.sha256(original.encode()).hexdigest()[:8]}".lstrip("-")
