"""'Did you mean' suggestions for unknown names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from finebench.util.errors import UnknownNameError


def unknown_name_error(kind: str, name: str, known: Iterable[str], hint: str = "") -> UnknownNameError:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    message = f"unknown {kind} {name!r}"
    if close:
        message += f"; did you mean {' or '.join(repr(c) for c in close)}?"
    if hint:
        message += f" ({hint})"
    return UnknownNameError(message)
