"""Oxford Flowers-102, read from the folder holding ``imagelabels.mat``, ``setid.mat`` and ``jpg/``.

Layout: ``imagelabels.mat`` (``labels``, 1x8189, class 1..102 of image i), ``setid.mat``
(``trnid``, ``valid``, ``tstid``: 1-based image ids) and ``jpg/image_00001.jpg``.
Paths become ``flower102/jpg/image_<id:05d>.jpg``. Records are in image id order.

Train = trnid + valid: the benchmark evaluates on tstid (the release's 6,149 items are exactly
it) and tunes nothing on valid, so valid only doubles the few-shot pool (10 -> 20 per class).
An id in two sets is an error; an id in no set is left out.

The official files carry numeric labels only, so the class names are FLOWER_CLASSES, the
standard list in label order, in the release's spelling: it says ``globe flower``,
``pink and yellow dahlia`` and ``air plant`` where other copies of the list say
``globe-flower``, ``pink-yellow dahlia`` and ``ball moss``.
"""

from __future__ import annotations

from pathlib import Path

from finebench.data.manifest import Manifest, ManifestRecord
from finebench.data.official._layout import load_mat, mat_entries, mat_int
from finebench.util.errors import DataLayoutError

PATH_PREFIX = "flower102/jpg"
SETS = (("trnid", "train"), ("valid", "train"), ("tstid", "test"))

FLOWER_CLASSES: tuple[str, ...] = (
    "pink primrose", "hard-leaved pocket orchid", "canterbury bells", "sweet pea", "english marigold",
    "tiger lily", "moon orchid", "bird of paradise", "monkshood", "globe thistle",
    "snapdragon", "colt's foot", "king protea", "spear thistle", "yellow iris",
    "globe flower", "purple coneflower", "peruvian lily", "balloon flower", "giant white arum lily",
    "fire lily", "pincushion flower", "fritillary", "red ginger", "grape hyacinth",
    "corn poppy", "prince of wales feathers", "stemless gentian", "artichoke", "sweet william",
    "carnation", "garden phlox", "love in the mist", "mexican aster", "alpine sea holly",
    "ruby-lipped cattleya", "cape flower", "great masterwort", "siam tulip", "lenten rose",
    "barbeton daisy", "daffodil", "sword lily", "poinsettia", "bolero deep blue",
    "wallflower", "marigold", "buttercup", "oxeye daisy", "common dandelion",
    "petunia", "wild pansy", "primula", "sunflower", "pelargonium",
    "bishop of llandaff", "gaura", "geranium", "orange dahlia", "pink and yellow dahlia",
    "cautleya spicata", "japanese anemone", "black-eyed susan", "silverbush", "californian poppy",
    "osteospermum", "spring crocus", "bearded iris", "windflower", "tree poppy",
    "gazania", "azalea", "water lily", "rose", "thorn apple",
    "morning glory", "passion flower", "lotus", "toad lily", "anthurium",
    "frangipani", "clematis", "hibiscus", "columbine", "desert-rose",
    "tree mallow", "magnolia", "cyclamen", "watercress", "canna lily",
    "hippeastrum", "bee balm", "air plant", "foxglove", "bougainvillea",
    "camellia", "mallow", "mexican petunia", "bromelia", "blanket flower",
    "trumpet creeper", "blackberry lily",
)  # fmt: skip


def _read_labels(path: Path) -> list[int]:
    labels = []
    for index, value in enumerate(mat_entries(load_mat(path, ["labels"])["labels"]), start=1):
        label = mat_int(value, f"{path}: labels[{index}]")
        if not 1 <= label <= len(FLOWER_CLASSES):
            raise DataLayoutError(f"{path}: labels[{index}] = {label} is outside 1..{len(FLOWER_CLASSES)}")
        labels.append(label)
    return labels


def _read_sets(path: Path, n_images: int) -> dict[int, str]:
    """image id -> split, checking every id names an image and sits in one set only."""
    data = load_mat(path, [key for key, _ in SETS])
    set_of: dict[int, str] = {}
    split_of: dict[int, str] = {}
    for key, split in SETS:
        for index, value in enumerate(mat_entries(data[key]), start=1):
            where = f"{path}: {key}[{index}]"
            image_id = mat_int(value, where)
            if not 1 <= image_id <= n_images:
                raise DataLayoutError(f"{where} = {image_id} is outside 1..{n_images} (the images in imagelabels.mat)")
            if image_id in set_of:
                raise DataLayoutError(f"{where}: image {image_id} is already in {set_of[image_id]}")
            set_of[image_id] = key
            split_of[image_id] = split
    return split_of


def read(source_dir: Path) -> Manifest:
    source_dir = Path(source_dir)
    labels = _read_labels(source_dir / "imagelabels.mat")
    split_of = _read_sets(source_dir / "setid.mat", len(labels))
    records = tuple(
        ManifestRecord(f"{PATH_PREFIX}/image_{image_id:05d}.jpg", FLOWER_CLASSES[labels[image_id - 1] - 1], split)
        for image_id, split in sorted(split_of.items())
    )
    return Manifest("flowers", records, FLOWER_CLASSES)
