"""Placing extracted data: staged folders renamed into the data root, fetch markers that tell a
finebench-placed folder from anything else, and the Stage-1 train layout as hard links (copies across
filesystems)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from finebench.data.fetch.options import MARKER, FetchError, FetchResult
from finebench.data.fetch.sources import DatasetSource
from finebench.util.errors import DataLayoutError


def place_contents(extracted: Path, strip: str, dest: Path, archive: str) -> None:
    """Move the contents of ``extracted/strip`` into ``dest`` (which may already hold other
    archives' contents; the same name from two archives is an error)."""
    root = extracted / strip if strip else extracted
    if not root.is_dir():
        raise FetchError(f"{archive}: no top folder {strip!r} (is this the official archive?)")
    dest.mkdir(parents=True, exist_ok=True)
    for child in sorted(root.iterdir()):
        target = dest / child.name
        if target.exists():
            raise FetchError(f"{archive}: {child.name!r} is also in another archive of the dataset")
        os.replace(child, target)


def link_or_copy(source: Path, target: Path) -> bool:
    """Hard-link ``source`` at ``target`` (no second copy of the bytes); copy where links are
    refused. True if it had to copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
        return False
    except OSError:
        shutil.copy2(source, target)
        return True


def lay_out_train(source: DatasetSource, root: Path, result: FetchResult) -> None:
    """Every official TRAIN image of the dataset (in ``root``) also under the Stage-1 path."""
    from finebench.data.official import read_official

    try:
        manifest = read_official(source.name, root / source.folder)
    except DataLayoutError as exc:
        raise FetchError(f"{source.name}: the archives do not form the official layout: {exc}") from exc
    layout, missing = source.train, []
    for record in manifest.records:
        if record.split != "train":
            continue
        if not record.image_path.startswith(layout.official):
            raise FetchError(f"{source.name}: train image {record.image_path} is not under {layout.official}")
        image = root / record.image_path
        if not image.is_file():
            missing.append(record.image_path)
            continue
        result.copied += link_or_copy(image, root / (layout.stage1 + record.image_path[len(layout.official):]))
        result.train_images += 1
    if missing:
        raise FetchError(f"{source.name}: {len(missing)} train image(s) named by the annotations are not in the "
                         f"archives, e.g. {missing[0]}")


def read_marker(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def marker_for(name: str, digests: dict[str, str]) -> dict:
    return {"fetched_by": "finebench data fetch", "name": name, "files": digests}


def is_current(marker: dict | None, name: str, pins: dict[str, Sequence[str]]) -> bool:
    """The marker records the same files, each with an accepted digest."""
    if not marker or marker.get("name") != name or set(marker.get("files", {})) != set(pins):
        return False
    return all(marker["files"][f] in accepted for f, accepted in pins.items())


def blocking_folders(folders: Sequence[str], data_root: Path) -> list[Path]:
    """Existing folders in the way that no fetch wrote (never replaced)."""
    return [data_root / f for f in folders if (data_root / f).exists() and read_marker(data_root / f) is None]


def swap_in(staged: Path, target: Path) -> None:
    """Rename ``staged`` to ``target``; a previous fetch's ``target`` is retired, then deleted."""
    if not target.exists():
        os.replace(staged, target)
        return
    retired = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.replace(target, retired)
    os.replace(staged, target)
    shutil.rmtree(retired)
