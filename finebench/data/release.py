"""Importing the Fine-R1 release item files into a data root, all-or-nothing.

Every row of every file is validated before anything is written; the files are then staged in a
temporary folder and swapped in with a rename, so a bad row or a crash never leaves a mixture of
old and new files behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from finebench.data.demo import RELEASE_ITEMS_DIR
from finebench.tasks.items import load_items
from finebench.util.errors import FinebenchError, ItemFileError

RELEASE_FILES = tuple(
    f"{prefix}_{split}.jsonl"
    for prefix in ("aircraft", "bird", "car", "dog", "flower", "pet")
    for split in ("seen", "unseen")
)


@dataclass(frozen=True)
class ImportReport:
    destination: Path
    rows: dict[str, int]


def validate_release(src: Path) -> dict[str, int]:
    """Rows per file; raises with every bad file (file:line: reason), not just the first."""
    src = Path(src)
    if not src.is_dir():
        raise FinebenchError(f"{src}: not a folder (expected the release's eval/ folder with *.jsonl files)")
    missing = [name for name in RELEASE_FILES if not (src / name).is_file()]
    if missing:
        raise FinebenchError(f"{src}: missing release file(s) {', '.join(missing)}")
    rows, problems = {}, []
    for name in RELEASE_FILES:
        try:
            rows[name] = len(load_items(src / name))
        except ItemFileError as exc:
            problems.append(str(exc))
    if problems:
        raise FinebenchError("invalid release, nothing was written:\n  " + "\n  ".join(problems))
    return rows


def import_release(src: Path, data_root: Path) -> ImportReport:
    rows = validate_release(src)
    destination = Path(data_root) / RELEASE_ITEMS_DIR
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=destination.parent, prefix=".import-"))
    try:
        for name in RELEASE_FILES:
            shutil.copyfile(Path(src) / name, staging / name)
        if destination.exists():
            retired = destination.with_name(f".{destination.name}.old-{os.getpid()}")
            os.replace(destination, retired)
            os.replace(staging, destination)
            shutil.rmtree(retired)
        else:
            os.replace(staging, destination)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return ImportReport(destination, rows)
