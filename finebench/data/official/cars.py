"""Stanford Cars, read from the extracted folder holding ``cars_train/``, ``cars_test/`` and the devkit.

Layout: ``devkit/cars_meta.mat`` (``class_names``, 1x196 cell of strings, the official class
order), ``devkit/cars_train_annos.mat`` and ``cars_test_annos_withlabels.mat`` (``annotations``,
a 1xN struct array with fields bbox_x1, bbox_y1, bbox_x2, bbox_y2, class (1-based), fname).
Each .mat file is looked for in ``devkit/`` first, then at the top level, because the labelled
test annotations were published separately from the devkit and land in either place.
Paths become ``stanford-cars/cars_{train,test}/<fname>``.

Class names are used exactly as in cars_meta.mat; they are the release's spelling (including
``Ram C/V Cargo Van Minivan 2012`` and ``Bentley Continental Supersports Conv. Convertible 2012``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from finebench.data.manifest import Manifest, ManifestRecord
from finebench.data.official._layout import first_existing, load_mat, mat_entries, mat_int, mat_str
from finebench.util.errors import DataLayoutError

PATH_PREFIX = "stanford-cars"
META_FILE = "cars_meta.mat"
ANNOTATION_FILES = (("cars_train_annos.mat", "train"), ("cars_test_annos_withlabels.mat", "test"))
_TEST_HINT = "the devkit's cars_test_annos.mat has no labels; cars_test_annos_withlabels.mat is a separate download"


def _locate(source_dir: Path, name: str) -> Path:
    hint = _TEST_HINT if "withlabels" in name else ""
    return first_existing([source_dir / "devkit" / name, source_dir / name], hint)


def _read_class_names(path: Path) -> tuple[str, ...]:
    entries = mat_entries(load_mat(path, ["class_names"])["class_names"])
    return tuple(mat_str(v, f"{path}: class_names[{i}]") for i, v in enumerate(entries, start=1))


def _read_annotations(path: Path, split: str, classes: tuple[str, ...]) -> Iterator[ManifestRecord]:
    annotations = load_mat(path, ["annotations"])["annotations"]
    fields = set(annotations.dtype.names or ())
    missing = sorted({"class", "fname"} - fields)
    if missing:
        raise DataLayoutError(f"{path}: 'annotations' has no field(s) {', '.join(missing)}")
    for index, entry in enumerate(mat_entries(annotations), start=1):
        where = f"{path}: annotations[{index}]"
        fname = mat_str(entry["fname"], f"{where}.fname")
        label = mat_int(entry["class"], f"{where}.class")
        if not 1 <= label <= len(classes):
            raise DataLayoutError(f"{where}.class = {label} is outside 1..{len(classes)} (class_names in {META_FILE})")
        yield ManifestRecord(f"{PATH_PREFIX}/cars_{split}/{fname}", classes[label - 1], split)


def read(source_dir: Path) -> Manifest:
    source_dir = Path(source_dir)
    classes = _read_class_names(_locate(source_dir, META_FILE))
    records = [
        record
        for file_name, split in ANNOTATION_FILES
        for record in _read_annotations(_locate(source_dir, file_name), split, classes)
    ]
    return Manifest("cars", tuple(records), classes)
