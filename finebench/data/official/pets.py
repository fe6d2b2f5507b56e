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
from finebench.data.official._layout import parse_int, read_rows, release_spelling
from finebench.errors import DataLayoutError

PATH_PREFIX = "oxford-pet/images"
SPLIT_FILES = (("trainval.txt", "train"), ("test.txt", "test"))
_EXPECTED = "'<image> <class id> <species> <breed id>'"


def class_name(breed: str) -> str:
    """``american_bulldog`` -> ``American Bulldog``; ``Abyssinian`` -> ``Abyssinian``."""
    return release_spelling(breed)


def read(source_dir: Path) -> Manifest:
    annotations = Path(source_dir) / "annotations"
    rows: list[tuple[str, str, str]] = []  # (image, breed, split)
    breed_of: dict[int, tuple[str, str]] = {}  # class id -> (breed, file:line first seen)
    id_of: dict[str, int] = {}
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
            known_breed, first_where = breed_of.setdefault(class_id, (breed, where))
            if known_breed != breed:
                raise DataLayoutError(f"{where}: class id {class_id} is {known_breed!r} at {first_where}, here {breed!r}")
            if id_of.setdefault(breed, class_id) != class_id:
                raise DataLayoutError(f"{where}: {breed!r} has class id {id_of[breed]} elsewhere, here {class_id}")
            rows.append((image, breed, split))
    n_classes = len(breed_of)
    for class_id, (_, where) in breed_of.items():
        if not 1 <= class_id <= n_classes:
            raise DataLayoutError(f"{where}: class id {class_id} is outside 1..{n_classes} (the number of breeds)")
    classes = tuple(class_name(breed_of[c][0]) for c in sorted(breed_of))
    records = tuple(ManifestRecord(f"{PATH_PREFIX}/{image}.jpg", class_name(breed), split) for image, breed, split in rows)
    return Manifest("pets", records, classes)
