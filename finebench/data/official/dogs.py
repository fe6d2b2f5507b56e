"""Stanford Dogs, read from the extracted folder holding ``Images/`` and ``lists/``.

Layout: ``lists/train_list.mat`` and ``lists/test_list.mat`` with ``file_list`` (Nx1 cell of
``<wnid>-<name>/<wnid>_<n>.jpg``) and ``labels`` (Nx1, 1..120, in sorted-wnid order), images in
``Images/<wnid>-<name>/``. Paths become ``dogs_120/Images/<file_list entry>``.

Class names come from the folder after the wnid, spelled like the release options: words split
at ``_`` and ``-``, each capitalised and the rest lower-cased (``Shih-Tzu`` -> ``Shih Tzu``,
``EntleBucher`` -> ``Entlebucher``, ``black-and-tan_coonhound`` -> ``Black And Tan Coonhound``).
A label and its folder must agree in both lists; labels must run 1..K for the K class folders.
"""

from __future__ import annotations

from pathlib import Path

from finebench.data.manifest import Manifest, ManifestRecord
from finebench.data.official._layout import LabelMap, load_mat, mat_entries, mat_int, mat_str, release_spelling
from finebench.util.errors import DataLayoutError

PATH_PREFIX = "dogs_120/Images"
LIST_FILES = (("train_list.mat", "train"), ("test_list.mat", "test"))


def class_name(folder: str) -> str:
    """``n02085620-Chihuahua`` -> ``Chihuahua``; ``n02108000-EntleBucher`` -> ``Entlebucher``."""
    _wnid, dash, name = folder.partition("-")
    return release_spelling(name if dash else folder)


def _read_list(path: Path) -> list[tuple[str, str, int]]:
    """(file_list entry, where, label) for one list file."""
    data = load_mat(path, ["file_list", "labels"])
    files, labels = mat_entries(data["file_list"]), mat_entries(data["labels"])
    if len(files) != len(labels):
        raise DataLayoutError(f"{path}: file_list has {len(files)} entries but labels has {len(labels)}")
    rows = []
    for index, (file_value, label_value) in enumerate(zip(files, labels), start=1):
        relative = mat_str(file_value, f"{path}: file_list[{index}]")
        if "/" not in relative:
            raise DataLayoutError(f"{path}: file_list[{index}] = {relative!r} is not '<wnid>-<name>/<file>'")
        label = mat_int(label_value, f"{path}: labels[{index}]")
        if label < 1:
            raise DataLayoutError(f"{path}: labels[{index}] = {label} is out of range (labels start at 1)")
        rows.append((relative, f"{path}: labels[{index}]", label))
    return rows


def read(source_dir: Path) -> Manifest:
    lists = Path(source_dir) / "lists"
    folders = LabelMap("label")
    rows: list[tuple[str, str, str]] = []  # (relative path, folder, split)
    for file_name, split in LIST_FILES:
        for relative, where, label in _read_list(lists / file_name):
            folder = relative.split("/", 1)[0]
            folders.add(label, folder, where)
            rows.append((relative, folder, split))
    classes = tuple(class_name(folder) for folder in folders.names_in_label_order())
    records = tuple(ManifestRecord(f"{PATH_PREFIX}/{rel}", class_name(folder), split) for rel, folder, split in rows)
    return Manifest("dogs", records, classes)
