"""Image paths from item files (not trusted: see SECURITY.md) turned into files to read.

An item's ``image_path`` is relative to the data root. An absolute path or one that climbs out
with ``..`` is refused per sample (the openai adapter would upload whatever it names to a remote
server), unless the user passes ``--allow-outside-data-root``. The check is on the path as
written, not on resolved links: symlinks the user placed inside their own data root (a dataset
folder linked from another disk) are the user's choice and keep working.

Only regular files are opened (``finebench.util.imaging.load_rgb`` opens them non-blocking and
checks the open descriptor): a FIFO, device or folder is a per-sample error, never a run that hangs.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath


class UnsafeImagePath(ValueError):
    """The path is absolute or climbs out of the data root."""


def item_image_path(data_root: Path, relative: str, *, allow_outside: bool = False) -> Path:
    """``data_root / relative`` if ``relative`` stays inside the data root (or ``allow_outside``)."""
    if not allow_outside:
        posix = PurePosixPath(relative.replace("\\", "/"))
        if posix.is_absolute() or Path(relative).is_absolute() or ".." in posix.parts:
            raise UnsafeImagePath(f"image path {relative!r} is outside the data root (absolute or with '..'); "
                                  "pass --allow-outside-data-root to read it")
    return Path(data_root) / relative
