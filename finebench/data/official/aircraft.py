"""FGVC-Aircraft 2013b, read from the extracted ``fgvc-aircraft-2013b`` folder.

Layout: ``data/variants.txt`` (one variant a line, the official class order),
``data/images_variant_{train,val,test}.txt`` (``<image id> <variant>``, the variant may contain
spaces) and ``data/images/<image id>.jpg``. Paths become ``fgvc_aircraft/data/images/<id>.jpg``.

Train = train + val: the benchmark evaluates on the official test split (the release's 3,333
items are exactly it) and tunes nothing on val, so val only enlarges the few-shot pool.

Names: the release writes the bare Boeing and Airbus model numbers with their manufacturer
(``707-320`` -> ``Boeing 707-320``, ``A300B4`` -> ``Airbus A300B4``, ``A330-200`` ->
``Airbus A330-200``); every other variant is spelled as in variants.txt (``Boeing 717``,
``MD-80``, ``F/A-18``, ``BAE 146-200``).
"""

from __future__ import annotations

import re
from pathlib import Path

from finebench.data.manifest import Manifest, ManifestRecord
from finebench.data.official._layout import read_rows
from finebench.util.errors import DataLayoutError

PATH_PREFIX = "fgvc_aircraft/data/images"
SPLIT_FILES = (
    ("images_variant_train.txt", "train"),
    ("images_variant_val.txt", "train"),
    ("images_variant_test.txt", "test"),
)
_MANUFACTURER_OF_BARE_MODEL = (
    (re.compile(r"7[0-7]7-\d{3}"), "Boeing"),  # 707-320 ... 777-300
    (re.compile(r"A3\d\d(B4|-\d{3})?"), "Airbus"),  # A300B4, A310 ... A380
)


def class_name(variant: str) -> str:
    """``707-320`` -> ``Boeing 707-320``; ``A380`` -> ``Airbus A380``; others unchanged."""
    for pattern, manufacturer in _MANUFACTURER_OF_BARE_MODEL:
        if pattern.fullmatch(variant):
            return f"{manufacturer} {variant}"
    return variant


def _read_variants(path: Path) -> dict[str, str]:
    """official variant -> release class name, in variants.txt order."""
    names: dict[str, str] = {}
    for line_no, (variant,) in read_rows(path, 1, "'<variant>'"):
        if variant in names:
            raise DataLayoutError(f"{path}:{line_no}: variant {variant!r} is listed twice")
        names[variant] = class_name(variant)
    return names


def read(source_dir: Path) -> Manifest:
    data_dir = Path(source_dir) / "data"
    names = _read_variants(data_dir / "variants.txt")
    records: list[ManifestRecord] = []
    for file_name, split in SPLIT_FILES:
        path = data_dir / file_name
        for line_no, (image_id, variant) in read_rows(path, 2, "'<image id> <variant>'"):
            if not image_id.isdigit():
                raise DataLayoutError(f"{path}:{line_no}: image id {image_id!r} is not a number")
            if variant not in names:
                raise DataLayoutError(f"{path}:{line_no}: variant {variant!r} is not in variants.txt")
            records.append(ManifestRecord(f"{PATH_PREFIX}/{image_id}.jpg", names[variant], split))
    return Manifest("aircraft", tuple(records), tuple(names.values()))
