"""Importing the Fine-R1 release item files into a data root, all-or-nothing.

Every row of every file is validated before anything is written; the files are then staged in a
temporary folder and swapped in with a rename, so a bad row or a crash never leaves a mixture of
old and new files behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pinned_release_hashes() -> dict[str, str]:
    """File name -> sha256 of the Fine-R1 release at the pinned commit (``data.sources``)."""
    from finebench.data.fetch.sources import FINE_R1

    return {PurePosixPath(f.dest).name: f.sha256 for f in FINE_R1.eval_files}


def validate_release(src: Path, pinned: Mapping[str, str] | None = None) -> dict[str, int]:
    """Rows per file; raises with every bad file (file:line: reason), not just the first. With
    ``pinned`` (file name -> sha256), a file whose bytes differ from the pin is refused too: an
    emptied or edited copy must never pass for the paper's benchmark."""
    src = Path(src)
    if not src.is_dir():
        raise FinebenchError(f"{src}: not a folder (expected the release's eval/ folder with *.jsonl files)")
    missing = [name for name in RELEASE_FILES if not (src / name).is_file()]
    if missing:
        raise FinebenchError(f"{src}: missing release file(s) {', '.join(missing)}")
    rows, problems = {}, []
    for name in RELEASE_FILES:
        if pinned is not None and name in pinned and (digest := file_sha256(src / name)) != pinned[name]:
            problems.append(f"{src / name}: sha256 {digest[:12]}… is not the pinned release's {pinned[name][:12]}… "
                            "(pass --unpinned to import your own variant)")
            continue
        try:
            rows[name] = len(load_items(src / name))
        except ItemFileError as exc:
            problems.append(str(exc))
            continue
        if rows[name] == 0:
            problems.append(f"{src / name}: no items")
    if problems:
        raise FinebenchError("invalid release, nothing was written:\n  " + "\n  ".join(problems))
    return rows


def import_release(src: Path, data_root: Path, pinned: Mapping[str, str] | None = None) -> ImportReport:
    rows = validate_release(src, pinned)
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
