"""CUB-200-2011, read from the extracted ``CUB_200_2011`` folder.

Layout: ``images.txt`` (image id, relative path), ``classes.txt`` (class id, folder name),
``image_class_labels.txt`` (image id, class id), ``train_test_split.txt`` (image id, 1 = train,
0 = test) and ``images/<folder>/<file>.jpg``. All four tables are keyed by image id.

Paths become ``bird_200/images/<relative path>``. Class names drop the folder number and are
spelled like the release options: ``004.Groove_billed_Ani`` -> ``Groove Billed Ani``,
``159.Black_and_white_Warbler`` -> ``Black And White Warbler``. Records keep images.txt order,
which is also the order of the release items within a class.
"""

from __future__ import annotations

from pathlib import Path

from finebench.data.manifest import Manifest, ManifestRecord
from finebench.data.official._layout import parse_int, read_rows, release_spelling
from finebench.util.errors import DataLayoutError

PATH_PREFIX = "bird_200/images"


def class_name(folder: str) -> str:
    """``004.Groove_billed_Ani`` -> ``Groove Billed Ani``."""
    number, dot, name = folder.partition(".")
    return release_spelling(name if dot and number.isdigit() else folder)


def _read_int_table(path: Path, value_name: str) -> dict[int, tuple[int, int]]:
    """image id -> (line number, integer value) of a two-column id table."""
    table: dict[int, tuple[int, int]] = {}
    for line_no, (key, value) in read_rows(path, 2, f"'<image_id> <{value_name}>'"):
        where = f"{path}:{line_no}"
        image_id = parse_int(key, where, "image id")
        if image_id in table:
            raise DataLayoutError(f"{where}: image id {image_id} repeats line {table[image_id][0]}")
        table[image_id] = (line_no, parse_int(value, where, value_name))
    return table


def _read_classes(path: Path) -> dict[int, str]:
    classes: dict[int, str] = {}
    for line_no, (key, folder) in read_rows(path, 2, "'<class_id> <class folder>'"):
        class_id = parse_int(key, f"{path}:{line_no}", "class id")
        if class_id in classes:
            raise DataLayoutError(f"{path}:{line_no}: class id {class_id} is listed twice")
        classes[class_id] = class_name(folder)
    return classes


def read(source_dir: Path) -> Manifest:
    source_dir = Path(source_dir)
    classes = _read_classes(source_dir / "classes.txt")
    labels_path = source_dir / "image_class_labels.txt"
    split_path = source_dir / "train_test_split.txt"
    labels = _read_int_table(labels_path, "class_id")
    is_train = _read_int_table(split_path, "is_training_image")
    images_path = source_dir / "images.txt"
    seen_ids: set[int] = set()
    records: list[ManifestRecord] = []
    for line_no, (key, relative) in read_rows(images_path, 2, "'<image_id> <relative path>'"):
        image_id = parse_int(key, f"{images_path}:{line_no}", "image id")
        if image_id in seen_ids:
            raise DataLayoutError(f"{images_path}:{line_no}: image id {image_id} is listed twice")
        seen_ids.add(image_id)
        if image_id not in labels:
            raise DataLayoutError(f"{labels_path}: no class for image id {image_id} ({images_path}:{line_no})")
        if image_id not in is_train:
            raise DataLayoutError(f"{split_path}: no split for image id {image_id} ({images_path}:{line_no})")
        label_line, label = labels[image_id]
        if label not in classes:
            raise DataLayoutError(f"{labels_path}:{label_line}: class id {label} is not in classes.txt")
        split_line, flag = is_train[image_id]
        if flag not in (0, 1):
            raise DataLayoutError(f"{split_path}:{split_line}: is_training_image must be 0 or 1, got {flag}")
        records.append(ManifestRecord(f"{PATH_PREFIX}/{relative}", classes[label], "train" if flag else "test"))
    return Manifest("cub", tuple(records), tuple(classes[c] for c in sorted(classes)))
