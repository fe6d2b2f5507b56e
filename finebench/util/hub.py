"""Is a model name a local folder or a Hugging Face Hub id, and can the Hub be reached?

Handed to ``from_pretrained`` blindly, a mistyped local path (``checkpoints/synth-sf``) becomes a
Hub id and, offline, minutes of retries end in a traceback that never says the folder is missing.
``locate`` decides first: a value that looks like a path must be a folder (the error names it, the
folder's close matches and, when known, the command that produces it); a Hub id is looked up once,
with one short request, and an unreachable Hub is one line naming ``HF_HUB_OFFLINE``, the cache
and a local folder as the ways out. A cached Hub id is then read with ``local_files_only``.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from finebench.util.errors import FinebenchError

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
"""``name`` or ``org/name``: anything else (two slashes, spaces, a leading dot) is a path."""
PROBE_TIMEOUT_S = 5.0
OFFLINE_VALUES = {"1", "ON", "YES", "TRUE"}


@dataclass(frozen=True)
class Located:
    source: str
    """An absolute folder, or a Hub id."""
    local_files_only: bool = False
    """A Hub id to read from the local cache only (offline, or ``HF_HUB_OFFLINE`` set)."""


def looks_like_path(value: str) -> bool:
    """True when ``value`` can only mean a place on disk: it starts like a path (``/``, ``~``,
    ``./``, ``../``), is no Hub id (two slashes, a backslash, a trailing slash...), or its first
    folder exists here (``checkpoints/synth-sft`` next to a ``checkpoints/`` folder)."""
    if value.startswith(("/", "~", "./", "../")) or value in (".", "..") or not HUB_ID.match(value):
        return True
    first = value.split("/", 1)[0]
    return "/" in value and Path(first).is_dir() or Path(value).exists()


def hub_offline_requested() -> bool:
    """The user's ``HF_HUB_OFFLINE`` (huggingface_hub's own switch), honoured before any request."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in OFFLINE_VALUES


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


@functools.lru_cache(maxsize=1)
def hub_unreachable_reason() -> str | None:
    """None when the Hub answers one request (any HTTP status), else why not; asked once per process."""
    try:
        urllib.request.urlopen(urllib.request.Request(hub_endpoint(), method="HEAD"), timeout=PROBE_TIMEOUT_S).close()
    except urllib.error.HTTPError:
        return None  # it answered
    except (OSError, ValueError) as exc:  # URLError, timeouts, refused connections, a bad HF_ENDPOINT
        return str(getattr(exc, "reason", exc))
    return None


def in_hub_cache(repo_id: str) -> bool:
    """The Hub id has a snapshot (its config.json) in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


def missing_folder_message(value: str, what: str, produced_by: str | None) -> str:
    path = Path(value).expanduser()
    if path.exists():
        return f"{what}: {value} is a file, not a model folder (expected a folder with config.json and weights)"
    message = f"{what}: folder {value} does not exist"
    parent = path.parent
    if parent.is_dir():
        siblings = sorted(p.name for p in parent.iterdir() if p.is_dir())
        close = difflib.get_close_matches(path.name, siblings, n=3, cutoff=0.6)
        if close:
            message += f"; did you mean {', '.join(str(parent / name) for name in close)}?"
    if produced_by:
        message += f"; it is written by `{produced_by}`: run that first"
    return message


def local_or_hub_id(value: str, what: str, *, produced_by: str | None = None) -> str:
    """An existing folder (absolute), or ``value`` as a Hub id; a path-like value that is no folder
    is an error. Asks the Hub nothing: for tools that download by themselves (lmms-eval)."""
    path = Path(value).expanduser()
    if path.is_dir():
        return str(path.resolve())
    if produced_by or looks_like_path(value):
        raise FinebenchError(missing_folder_message(value, what, produced_by))
    return value


def locate(value: str, what: str, *, produced_by: str | None = None) -> Located:
    """Where ``from_pretrained`` should read ``value`` from, checked now (see the module docstring).

    ``what`` names the value in errors (``model 'hf:x'``, ``--ss-encoder``); ``produced_by`` is the
    command that writes the folder (a training stage), which also makes ``org/name``-shaped values
    count as paths."""
    source = local_or_hub_id(value, what, produced_by=produced_by)
    if source != value or Path(source).is_dir():
        return Located(source)
    if hub_offline_requested():
        if in_hub_cache(value):
            return Located(value, local_files_only=True)
        raise FinebenchError(
            f"{what}: {value} is no local folder and not in the Hugging Face cache, and HF_HUB_OFFLINE is set; "
            f"download it once where the Hub is reachable (`hf download {value}`) or give a local folder"
        )
    reason = hub_unreachable_reason()
    if reason is None:
        return Located(value)
    if in_hub_cache(value):
        return Located(value, local_files_only=True)
    raise FinebenchError(
        f"{what}: {value} is no local folder, not in the Hugging Face cache, and the Hub ({hub_endpoint()}) cannot be "
        f"reached ({reason}); give a local folder, or download it once where the Hub is reachable "
        f"(`hf download {value}`); set HF_HUB_OFFLINE=1 to never try the Hub"
    )
