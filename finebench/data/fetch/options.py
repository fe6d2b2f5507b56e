"""What a fetch is told and what it reports: options, results, the errors it raises, and the names of
the files and folders it keeps inside the data root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from finebench.util.errors import FinebenchError

MARKER = ".finebench-fetch.json"
"""Written into every folder a fetch places; a re-fetch replaces only folders holding it."""


DOWNLOADS = ".downloads"
"""The download cache, inside the data root (same filesystem, so placing is a rename)."""


RETRIES = 3


CHUNK_SIZE = 1 << 16
"""Bytes per write; an interrupted transfer loses at most its last chunk."""


DEFAULT_DOWNLOAD_CAP = 8 << 30
"""Download cap of an archive whose size is not pinned (the largest official one is 2.8 GB)."""


RELEASE_FILE_CAP = 64 << 20
"""Download cap of a Fine-R1 release file without a pinned size (the largest is under 2 MB)."""


class FetchError(FinebenchError):
    """A file could not be obtained, failed its checksum, or does not form the expected layout."""


class UnsafeArchiveError(FetchError):
    """An archive member would be written (or point) outside the extraction folder."""


Log = Callable[[str], None]


@dataclass(frozen=True)
class FetchOptions:
    data_root: Path
    from_dir: Path | None = None
    """Files the user already downloaded, found by name (or by repository path for fine-r1)."""
    keep_archives: bool = False
    """Keep downloaded archives in DATA_ROOT/.downloads after they are placed."""
    progress: bool = False
    """Show a progress bar per download (on stderr)."""
    retries: int = RETRIES
    log: Log = print


@dataclass
class FetchResult:
    name: str
    skipped: bool = False
    """Already in place from an earlier fetch of the same files."""
    placed: list[Path] = field(default_factory=list)
    train_images: int = 0
    copied: int = 0
    """Train images copied because hard links were refused (another filesystem)."""
