"""Oxford-IIIT Pet, read from the extracted folder holding ``annotations/`` and ``images/``.

Layout: ``annotations/trainval.txt`` and ``annotations/test.txt``, one
``<image> <class id 1..37> <species 1=cat 2=dog> <breed id>`` a line (``#`` lines are comments),
and ``images/<image>.jpg``. Paths become ``oxford-pet/images/<image>.jpg``; train = trainval.

The class is the image name without its trailing number, spelled like the release options:
``american_pit_bull_terrier_12`` -> ``American Pit Bull Terrier``, ``Egyptian_Mau_3`` ->
``Egyptian Mau`` (cat breeds are capitalised in the file names, dog breeds are not). The class
order is the class id order.
"""

from __future__ import annotations

from pathlib import Path

from finebench.data.manifest import Manifest, ManifestRecord
from finebench.data.official._layout import LabelMap, parse_int, read_rows, release_spelling
from finebench.util.errors import DataLayoutError

PATH_PREFIX = "oxford-pet/images"
SPLIT_FILES = (("trainval.txt", "train"), ("test.txt", "test"))
_EXPECTED = "'<image> <class id> <species> <breed id>'"


def class_name(breed: str) -> str:
    """``american_bulldog`` -> ``American Bulldog``; ``Abyssinian`` -> ``Abyssinian``."""
    return release_spelling(breed)


def read(source_dir: Path) -> Manifest:
    annotations = Path(source_dir) / "annotations"
    rows: list[tuple[str, str, str]] = []  # (image, breed, split)
    breeds = LabelMap("class id")
    for file_name, split in SPLIT_FILES:
        path = annotations / file_name
        for line_no, (image, class_text, species_text, breed_text) in read_rows(path, 4, _EXPECTED):
            where = f"{path}:{line_no}"
            class_id = parse_int(class_text, where, "class id")
            species = parse_int(species_text, where, "species")
            parse_int(breed_text, where, "breed id")
            breed, _, number = image.rpartition("_")
            if not breed or not number.isdigit():
                raise DataLayoutError(f"{where}: image name {image!r} is not '<breed>_<number>'")
            if species not in (1, 2):
                raise DataLayoutError(f"{where}: species must be 1 (cat) or 2 (dog), got {species}")
            breeds.add(class_id, breed, where)
            rows.append((image, breed, split))
    classes = tuple(class_name(breed) for breed in breeds.names_in_label_order())
    records = tuple(
        ManifestRecord(f"{PATH_PREFIX}/{image}.jpg", class_name(breed), split) for image, breed, split in rows
    )
    return Manifest("pets", records, classes)
