"""Parsing shared by the official-layout readers.

Every problem becomes a DataLayoutError that names the file and the line (text tables) or the
1-based entry (MATLAB arrays), because the user fixes these by opening that file, usually after a
partial download or an extraction into the wrong folder.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from finebench.util.errors import DataLayoutError


def require_file(path: Path) -> Path:
    if not path.is_file():
        raise DataLayoutError(f"{path}: missing")
    return path


def first_existing(candidates: Sequence[Path], hint: str = "") -> Path:
    """The first candidate that exists; distributions differ in where they put the same file."""
    for path in candidates:
        if path.is_file():
            return path
    others = ", ".join(str(p) for p in candidates[1:])
    raise DataLayoutError(f"{candidates[0]}: missing (also looked for {others}){f'; {hint}' if hint else ''}")


def read_rows(path: Path, n_fields: int, expected: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, fields) of a whitespace-separated table.

    Blank lines and ``#`` comments (the Pets list headers) are skipped; the last field takes the
    rest of the line, so names with spaces (aircraft variants) survive.
    """
    require_file(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataLayoutError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    for line_no, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = stripped.split(maxsplit=n_fields - 1)
        if len(fields) != n_fields:
            raise DataLayoutError(f"{path}:{line_no}: expected {expected}, got {stripped!r}")
        yield line_no, fields


def parse_int(text: str, where: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DataLayoutError(f"{where}: {what} {text!r} is not an integer") from None


def load_mat(path: Path, keys: Sequence[str]) -> dict[str, Any]:
    """Load a MATLAB file with scipy's defaults (the shapes the reader code expects)."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    require_file(path)
    try:
        data = loadmat(path)
    except NotImplementedError as exc:  # scipy's answer to HDF5-based v7.3 files
        raise DataLayoutError(f"{path}: unsupported MATLAB file version ({exc})") from exc
    except (MatReadError, ValueError, TypeError, OSError) as exc:
        raise DataLayoutError(f"{path}: not a readable MATLAB .mat file ({exc})") from exc
    missing = [key for key in keys if key not in data]
    if missing:
        raise DataLayoutError(f"{path}: missing variable(s) {', '.join(missing)}")
    return data


def mat_entries(value: Any) -> list[Any]:
    """The elements of a MATLAB vector, whether scipy returned it as 1xN, Nx1 or N."""
    import numpy as np

    return list(np.asarray(value).reshape(-1))


def _unwrap(value: Any, where: str) -> Any:
    """MATLAB wraps every cell and struct field in arrays (``array([[14]])``, ``array(['a.jpg'])``)."""
    import numpy as np

    while isinstance(value, np.ndarray):
        if value.size != 1:
            raise DataLayoutError(f"{where}: expected a single value, got an array of shape {value.shape}")
        value = value.reshape(-1)[0]
    return value


def mat_str(value: Any, where: str) -> str:
    value = _unwrap(value, where)
    if not isinstance(value, str) or not value.strip():
        raise DataLayoutError(f"{where}: expected a non-empty string, got {value!r}")
    return str(value).strip()


def mat_int(value: Any, where: str) -> int:
    import numpy as np

    value = _unwrap(value, where)
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)  # labels saved as MATLAB doubles
    raise DataLayoutError(f"{where}: expected an integer, got {value!r}")


_WORD_SEPARATORS = re.compile(r"[\s_\-]+")


def release_spelling(name: str) -> str:
    """Words split at underscores/hyphens, each capitalised: the release's spelling of folder names.

    ``Black_and_white_Warbler`` -> ``Black And White Warbler``; ``EntleBucher`` -> ``Entlebucher``
    and ``black-and-tan_coonhound`` -> ``Black And Tan Coonhound`` (Stanford Dogs), which is why
    the rest of each word is lower-cased rather than kept.
    """
    return " ".join(word.capitalize() for word in _WORD_SEPARATORS.split(name) if word)


class LabelMap:
    """Numeric label <-> official name, one-to-one across a dataset's files, labels running 1..K.

    Pets and Dogs state each image's class twice (a number, and a name in the file path); a
    disagreement means a corrupted or mixed-up list file, reported with both places.
    """

    def __init__(self, what: str) -> None:
        self._what = what
        self._name_of: dict[int, tuple[str, str]] = {}  # label -> (name, where first seen)
        self._label_of: dict[str, int] = {}

    def add(self, label: int, name: str, where: str) -> None:
        known, first_where = self._name_of.setdefault(label, (name, where))
        if known != name:
            raise DataLayoutError(f"{where}: {self._what} {label} is {known!r} at {first_where}, here {name!r}")
        if self._label_of.setdefault(name, label) != label:
            raise DataLayoutError(f"{where}: {name!r} has {self._what} {self._label_of[name]} elsewhere, here {label}")

    def names_in_label_order(self) -> list[str]:
        n_classes = len(self._name_of)
        for label, (_, where) in self._name_of.items():
            if not 1 <= label <= n_classes:
                raise DataLayoutError(f"{where}: {self._what} {label} is outside 1..{n_classes} (the number of classes)")
        return [self._name_of[label][0] for label in sorted(self._name_of)]
