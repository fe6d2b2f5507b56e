"""Readers of the six official layouts, on tiny fixtures written in each exact official format.

The .mat fixtures are saved with scipy in the shapes scipy.io.loadmat returns for the real files
(1xN cells, Nx1 cells, 1xN struct arrays with every field wrapped in an array). The spelling tests
check the name mappings against every item of the Fine-R1 release when ../shared is present.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from finebench.data.manifest import Manifest, release_questions
from finebench.data.official import READERS, RELEASE_PREFIX, aircraft, cub, dogs, flowers, pets, read_official
from finebench.data.variant import build_benchmark
from finebench.tasks.items import load_items
from finebench.util.errors import DataLayoutError, UnknownNameError

RELEASE_EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "fine-r1-release" / "eval"
needs_release = pytest.mark.skipif(not RELEASE_EVAL.is_dir(), reason="shared Fine-R1 release not present")


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (120, 30, 60)).save(path, "JPEG")


def _write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _cell(strings: list[str], column: bool = False) -> np.ndarray:
    cell = np.empty((len(strings), 1) if column else (1, len(strings)), dtype=object)
    for i, s in enumerate(strings):
        cell[(i, 0) if column else (0, i)] = s
    return cell


# ---------------------------------------------------------------- fixtures in the official layouts

CUB_CLASSES = ["001.Black_footed_Albatross", "004.Groove_billed_Ani", "022.Chuck_will_Widow",
               "159.Black_and_white_Warbler"]


def write_cub(root: Path) -> Path:
    """4 classes x 3 images; the 1st and 3rd image of a class are train (as 1 in the split file)."""
    images, labels, split = [], [], []
    for class_id, folder in enumerate(CUB_CLASSES, start=1):
        stem = "_".join(w.capitalize() for w in folder.split(".", 1)[1].split("_"))
        for j in range(3):
            image_id = len(images) + 1
            relative = f"{folder}/{stem}_{j:04d}_{image_id}.jpg"
            _image(root / "images" / relative)
            images.append(f"{image_id} {relative}")
            labels.append(f"{image_id} {class_id}")
            split.append(f"{image_id} {1 if j != 1 else 0}")
    _write(root / "classes.txt", [f"{i} {c}" for i, c in enumerate(CUB_CLASSES, start=1)])
    _write(root / "images.txt", images)
    _write(root / "image_class_labels.txt", labels)
    _write(root / "train_test_split.txt", split)
    return root


CAR_CLASSES = ["AM General Hummer SUV 2000", "Bentley Continental Supersports Conv. Convertible 2012",
               "Ram C/V Cargo Van Minivan 2012", "smart fortwo Convertible 2012"]
_CAR_FIELDS = ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname")


def car_annotations(rows: list[tuple[str, int]], fields: tuple[str, ...] = _CAR_FIELDS) -> np.ndarray:
    """A 1xN struct array like cars_*_annos.mat: every field a wrapped scalar or string."""
    struct = np.empty((1, len(rows)), dtype=[(f, "O") for f in fields])
    values = {"bbox_x1": np.uint8(3), "bbox_y1": np.uint8(5), "bbox_x2": np.uint16(300), "bbox_y2": np.uint16(200),
              "test": np.uint8(0)}
    for i, (fname, label) in enumerate(rows):
        values.update({"class": np.uint8(label), "fname": fname})
        struct[0, i] = tuple(values[f] for f in fields)
    return struct


def write_cars(root: Path, test_in_devkit: bool = False) -> Path:
    """Official split layout: devkit/ with meta + train annos, labelled test annos at the top."""
    train = [("00001.jpg", 1), ("00002.jpg", 2), ("00003.jpg", 3), ("00004.jpg", 4), ("00005.jpg", 4)]
    test = [("00001.jpg", 4), ("00002.jpg", 1)]
    for fname, _ in train:
        _image(root / "cars_train" / fname)
    for fname, _ in test:
        _image(root / "cars_test" / fname)
    (root / "devkit").mkdir(parents=True, exist_ok=True)
    savemat(root / "devkit" / "cars_meta.mat", {"class_names": _cell(CAR_CLASSES)})
    savemat(root / "devkit" / "cars_train_annos.mat", {"annotations": car_annotations(train)})
    test_dir = root / "devkit" if test_in_devkit else root
    savemat(test_dir / "cars_test_annos_withlabels.mat", {"annotations": car_annotations(test)})
    return root


DOG_FOLDERS = ["n02085620-Chihuahua", "n02086240-Shih-Tzu", "n02089078-black-and-tan_coonhound", "n02108000-EntleBucher"]


def write_dogs(root: Path, class_labels: tuple[int, ...] = (1, 2, 3, 4), train_labels: list[int] | None = None) -> Path:
    """lists/*.mat with Nx1 file_list / annotation_list cells and Nx1 uint8 labels."""
    def entries(numbers: range) -> list[tuple[str, int]]:
        return [(f"{folder}/{folder.split('-')[0]}_{n}.jpg", label)
                for label, folder in zip(class_labels, DOG_FOLDERS) for n in numbers]

    for split, rows in (("train", entries(range(1, 4))), ("test", entries(range(10, 12)))):
        labels = [label for _, label in rows] if split == "test" or train_labels is None else train_labels
        for relative, _ in rows:
            _image(root / "Images" / relative)
        (root / "lists").mkdir(parents=True, exist_ok=True)
        savemat(root / "lists" / f"{split}_list.mat", {
            "file_list": _cell([r for r, _ in rows], column=True),
            "annotation_list": _cell([r.removesuffix(".jpg") for r, _ in rows], column=True),
            "labels": np.array(labels, dtype=np.uint8).reshape(-1, 1),
        })
    return root


# image ids 1..8: labels 1 1 2 2 2 60 60 93; trn {1,3,6}, val {2,7}, tst {4,5,8}
FLOWER_LABELS = [1, 1, 2, 2, 2, 60, 60, 93]
FLOWER_SETS = {"trnid": [1, 3, 6], "valid": [2, 7], "tstid": [4, 5, 8]}


def write_flowers(root: Path, labels: list[int] = FLOWER_LABELS, sets: dict | None = None) -> Path:
    sets = FLOWER_SETS if sets is None else sets
    for image_id in range(1, len(labels) + 1):
        _image(root / "jpg" / f"image_{image_id:05d}.jpg")
    savemat(root / "imagelabels.mat", {"labels": np.array([labels], dtype=np.uint8)})
    savemat(root / "setid.mat", {k: np.array([v], dtype=np.uint16) for k, v in sets.items()})
    return root


PET_TRAINVAL = ["Abyssinian_100 1 1 1", "Abyssinian_101 1 1 1", "american_bulldog_100 2 2 1",
                "american_pit_bull_terrier_1 3 2 2", "Egyptian_Mau_12 4 1 2"]
PET_TEST = ["#Image CLASS-ID SPECIES BREED ID", "#ID: 1:37 Class ids", "Abyssinian_201 1 1 1",
            "american_bulldog_203 2 2 1", "american_pit_bull_terrier_5 3 2 2", "Egyptian_Mau_2 4 1 2",
            "Egyptian_Mau_3 4 1 2"]


def write_pets(root: Path, trainval: list[str] = PET_TRAINVAL, test: list[str] = PET_TEST) -> Path:
    for line in trainval + test:
        if not line.startswith("#"):
            _image(root / "images" / f"{line.split()[0]}.jpg")
    _write(root / "annotations" / "trainval.txt", trainval)
    _write(root / "annotations" / "test.txt", test)
    return root


AIRCRAFT_VARIANTS = ["707-320", "A330-200", "Boeing 717", "F/A-18"]


def write_aircraft(root: Path) -> Path:
    data = root / "data"
    splits = {
        "train": ["1025794 707-320", "1340192 A330-200", "0056978 Boeing 717"],
        "val": ["0062765 F/A-18", "1514522 707-320"],
        "test": ["0116175 A330-200", "0704269 Boeing 717", "1234567 F/A-18"],
    }
    _write(data / "variants.txt", AIRCRAFT_VARIANTS)
    for split, lines in splits.items():
        _write(data / f"images_variant_{split}.txt", lines)
        for line in lines:
            _image(data / "images" / f"{line.split()[0]}.jpg")
    return root


WRITERS = {"cub": write_cub, "cars": write_cars, "dogs": write_dogs, "flowers": write_flowers,
           "pets": write_pets, "aircraft": write_aircraft}


def _counts(manifest: Manifest) -> tuple[int, int]:
    splits = [r.split for r in manifest.records]
    return splits.count("train"), splits.count("test")


# ---------------------------------------------------------------- happy paths


def test_cub(tmp_path):
    m = read_official("cub", write_cub(tmp_path / "CUB_200_2011"))
    assert m.dataset == "cub"
    assert m.classes == ("Black Footed Albatross", "Groove Billed Ani", "Chuck Will Widow", "Black And White Warbler")
    assert _counts(m) == (8, 4)
    first = m.records[0]
    assert first.image_path == "bird_200/images/001.Black_footed_Albatross/Black_Footed_Albatross_0000_1.jpg"
    assert (first.class_name, first.split) == ("Black Footed Albatross", "train")
    assert m.records[1].split == "test"
    assert [r.class_name for r in m.records if r.split == "test"] == list(m.classes)


def test_cars(tmp_path):
    m = read_official("cars", write_cars(tmp_path / "stanford_cars"))
    assert m.classes == tuple(CAR_CLASSES)
    assert _counts(m) == (5, 2)
    assert m.records[0].image_path == "stanford-cars/cars_train/00001.jpg"
    tests = [r for r in m.records if r.split == "test"]
    assert [(r.image_path, r.class_name) for r in tests] == [
        ("stanford-cars/cars_test/00001.jpg", "smart fortwo Convertible 2012"),
        ("stanford-cars/cars_test/00002.jpg", "AM General Hummer SUV 2000"),
    ]


def test_cars_test_annotations_may_sit_in_devkit(tmp_path):
    m = read_official("cars", write_cars(tmp_path / "cars", test_in_devkit=True))
    assert _counts(m) == (5, 2)


def test_cars_reader_tolerates_double_labels_and_extra_fields(tmp_path):
    root = write_cars(tmp_path / "cars")
    struct = car_annotations([("00009.jpg", 2)], fields=("fname", "class", "test"))
    struct[0, 0] = ("00009.jpg", np.array([[3.0]]), np.uint8(1))  # MATLAB double label
    savemat(root / "devkit" / "cars_train_annos.mat", {"annotations": struct})
    m = read_official("cars", root)
    assert [(r.image_path, r.class_name) for r in m.records if r.split == "train"] == [
        ("stanford-cars/cars_train/00009.jpg", "Ram C/V Cargo Van Minivan 2012")
    ]


def test_dogs(tmp_path):
    m = read_official("dogs", write_dogs(tmp_path / "stanford_dogs"))
    assert m.classes == ("Chihuahua", "Shih Tzu", "Black And Tan Coonhound", "Entlebucher")
    assert _counts(m) == (12, 8)
    assert m.records[0].image_path == "dogs_120/Images/n02085620-Chihuahua/n02085620_1.jpg"
    assert {r.class_name for r in m.records if "n02086240-Shih-Tzu/" in r.image_path} == {"Shih Tzu"}


def test_flowers_train_is_trnid_plus_valid(tmp_path):
    m = read_official("flowers", write_flowers(tmp_path / "flowers102"))
    assert m.classes == flowers.FLOWER_CLASSES
    assert [(r.image_path, r.class_name, r.split) for r in m.records] == [
        ("flower102/jpg/image_00001.jpg", "pink primrose", "train"),
        ("flower102/jpg/image_00002.jpg", "pink primrose", "train"),
        ("flower102/jpg/image_00003.jpg", "hard-leaved pocket orchid", "train"),
        ("flower102/jpg/image_00004.jpg", "hard-leaved pocket orchid", "test"),
        ("flower102/jpg/image_00005.jpg", "hard-leaved pocket orchid", "test"),
        ("flower102/jpg/image_00006.jpg", "pink and yellow dahlia", "train"),
        ("flower102/jpg/image_00007.jpg", "pink and yellow dahlia", "train"),
        ("flower102/jpg/image_00008.jpg", "air plant", "test"),
    ]


def test_flowers_leaves_out_images_in_no_set(tmp_path):
    sets = {"trnid": [1], "valid": [2], "tstid": [8]}
    m = read_official("flowers", write_flowers(tmp_path / "f", sets=sets))
    assert [r.image_path[-9:] for r in m.records] == ["00001.jpg", "00002.jpg", "00008.jpg"]


def test_pets(tmp_path):
    m = read_official("pets", write_pets(tmp_path / "oxford-iiit-pet"))
    assert m.classes == ("Abyssinian", "American Bulldog", "American Pit Bull Terrier", "Egyptian Mau")
    assert _counts(m) == (5, 5)
    assert m.records[0].image_path == "oxford-pet/images/Abyssinian_100.jpg"
    assert m.records[-1].image_path == "oxford-pet/images/Egyptian_Mau_3.jpg"
    assert m.records[-1].split == "test"


def test_aircraft_train_is_train_plus_val_and_names_gain_manufacturer(tmp_path):
    m = read_official("aircraft", write_aircraft(tmp_path / "fgvc-aircraft-2013b"))
    assert m.classes == ("Boeing 707-320", "Airbus A330-200", "Boeing 717", "F/A-18")
    assert _counts(m) == (5, 3)
    assert m.records[0].image_path == "fgvc_aircraft/data/images/1025794.jpg"
    assert m.records[3].image_path == "fgvc_aircraft/data/images/0062765.jpg"
    assert m.records[3].split == "train"  # from images_variant_val.txt


def test_listed_but_absent_images_are_still_read(tmp_path):
    root = write_cub(tmp_path / "cub")
    for jpg in (root / "images").rglob("*.jpg"):
        jpg.unlink()
    assert len(read_official("cub", root).records) == 12


@pytest.mark.parametrize("dataset", sorted(WRITERS))
def test_every_reader_feeds_build_benchmark(tmp_path, dataset, tiny_clip_dir):
    root = WRITERS[dataset](tmp_path / dataset)
    hard = {"encoder": str(tiny_clip_dir)}
    if dataset == "flowers":  # 102 classes named, train images of 3: too few look-alikes for 4 options
        with pytest.raises(ValueError, match="3 distractors needed, its ranked neighbours give 2"):
            build_benchmark(dataset, root, tmp_path / "out", seed=0, shots=1, **hard)
        hard = {"distractors": "random"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        counts = build_benchmark(dataset, root, tmp_path / "out", seed=0, shots=1, **hard)
    if dataset != "flowers":
        assert counts["distractors"] == f"image:hf:{tiny_clip_dir}"  # every layout's images were found
    prefix = RELEASE_PREFIX[dataset]
    items = [*load_items(tmp_path / "out" / f"{prefix}_seen.jsonl"),
             *load_items(tmp_path / "out" / f"{prefix}_unseen.jsonl")]
    manifest = read_official(dataset, root)
    assert sorted(i.image_path for i in items) == sorted(r.image_path for r in manifest.records if r.split == "test")
    assert counts["seen_items"] + counts["unseen_items"] == len(items)


# ---------------------------------------------------------------- dispatch


def test_readers_resolve_and_match_prefixes():
    import importlib

    assert set(READERS) == set(RELEASE_PREFIX) == {"cub", "cars", "dogs", "flowers", "pets", "aircraft"}
    assert sorted(RELEASE_PREFIX.values()) == ["aircraft", "bird", "car", "dog", "flower", "pet"]
    for target in READERS.values():
        module, _, function = target.partition(":")
        assert callable(getattr(importlib.import_module(module), function))


def test_unknown_dataset_suggests_a_name(tmp_path):
    with pytest.raises(UnknownNameError, match="did you mean 'cub'"):
        read_official("cubb", tmp_path)


def test_source_dir_must_be_a_directory(tmp_path):
    with pytest.raises(DataLayoutError, match="not a directory"):
        read_official("cub", tmp_path / "nowhere")


def test_importing_the_data_package_stays_cheap():
    code = ("import sys, finebench.data, finebench.data.manifest, finebench.data.official; "
            "print(sorted(m for m in ('scipy', 'numpy', 'PIL') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------- missing files

MISSING = [
    ("cub", "classes.txt"), ("cub", "images.txt"), ("cub", "image_class_labels.txt"),
    ("cub", "train_test_split.txt"),
    ("cars", "devkit/cars_meta.mat"), ("cars", "devkit/cars_train_annos.mat"),
    ("cars", "cars_test_annos_withlabels.mat"),
    ("dogs", "lists/train_list.mat"), ("dogs", "lists/test_list.mat"),
    ("flowers", "imagelabels.mat"), ("flowers", "setid.mat"),
    ("pets", "annotations/trainval.txt"), ("pets", "annotations/test.txt"),
    ("aircraft", "data/variants.txt"), ("aircraft", "data/images_variant_train.txt"),
    ("aircraft", "data/images_variant_val.txt"), ("aircraft", "data/images_variant_test.txt"),
]


@pytest.mark.parametrize(("dataset", "relative"), MISSING)
def test_missing_file_is_named(tmp_path, dataset, relative):
    root = WRITERS[dataset](tmp_path / dataset)
    (root / relative).unlink()
    with pytest.raises(DataLayoutError, match="missing") as err:
        read_official(dataset, root)
    assert Path(relative).name in str(err.value)


def test_missing_labelled_cars_test_file_explains_the_separate_download(tmp_path):
    root = write_cars(tmp_path / "cars")
    (root / "cars_test_annos_withlabels.mat").unlink()
    with pytest.raises(DataLayoutError, match="separate download"):
        read_official("cars", root)


@pytest.mark.parametrize(("dataset", "relative"), [("cars", "devkit/cars_meta.mat"), ("flowers", "setid.mat"),
                                                   ("dogs", "lists/test_list.mat")])
def test_unreadable_mat_file_is_named(tmp_path, dataset, relative):
    root = WRITERS[dataset](tmp_path / dataset)
    (root / relative).write_bytes(b"this is not a MATLAB file" * 8)
    with pytest.raises(DataLayoutError, match="not a readable MATLAB") as err:
        read_official(dataset, root)
    assert Path(relative).name in str(err.value)


@pytest.mark.parametrize(("dataset", "relative", "variable"), [
    ("cars", "devkit/cars_meta.mat", "class_names"), ("cars", "devkit/cars_train_annos.mat", "annotations"),
    ("dogs", "lists/train_list.mat", "labels"), ("flowers", "imagelabels.mat", "labels"),
    ("flowers", "setid.mat", "tstid"),
])
def test_missing_mat_variable_is_named(tmp_path, dataset, relative, variable):
    root = WRITERS[dataset](tmp_path / dataset)
    savemat(root / relative, {"something_else": np.zeros((1, 1))})
    with pytest.raises(DataLayoutError, match=f"missing variable.*{variable}") as err:
        read_official(dataset, root)
    assert Path(relative).name in str(err.value)


def test_cars_annotations_without_class_field(tmp_path):
    root = write_cars(tmp_path / "cars")
    savemat(root / "devkit" / "cars_train_annos.mat",
            {"annotations": car_annotations([("00001.jpg", 1)], fields=("bbox_x1", "fname"))})
    with pytest.raises(DataLayoutError, match=r"cars_train_annos\.mat: 'annotations' has no field\(s\) class"):
        read_official("cars", root)


# ---------------------------------------------------------------- malformed lines

MALFORMED = [
    ("cub", "images.txt", 2, "7"),  # path missing
    ("cub", "classes.txt", 3, "three 159.Black_and_white_Warbler"),
    ("cub", "image_class_labels.txt", 4, "4 1 extra"),
    ("cub", "train_test_split.txt", 1, "1 yes"),
    ("pets", "annotations/trainval.txt", 2, "Abyssinian_101 1 1"),
    ("pets", "annotations/test.txt", 4, "american_bulldog_203 2 dog 1"),
    ("pets", "annotations/trainval.txt", 3, "bulldog 2 2 1"),  # no _<number>
    ("aircraft", "data/images_variant_test.txt", 2, "0704269"),
    ("aircraft", "data/images_variant_train.txt", 1, "img42 707-320"),
]


@pytest.mark.parametrize(("dataset", "relative", "line_no", "bad_line"), MALFORMED)
def test_malformed_line_is_named(tmp_path, dataset, relative, line_no, bad_line):
    root = WRITERS[dataset](tmp_path / dataset)
    path = root / relative
    lines = path.read_text().splitlines()
    lines[line_no - 1] = bad_line
    _write(path, lines)
    with pytest.raises(DataLayoutError) as err:
        read_official(dataset, root)
    assert f"{Path(relative).name}:{line_no}:" in str(err.value)


def test_cub_duplicate_image_id(tmp_path):
    root = write_cub(tmp_path / "cub")
    lines = (root / "images.txt").read_text().splitlines()
    _write(root / "images.txt", lines + [lines[0].replace(".jpg", "_copy.jpg")])
    with pytest.raises(DataLayoutError, match=r"images\.txt:13: image id 1 is listed twice"):
        read_official("cub", root)


def test_cub_image_without_label(tmp_path):
    root = write_cub(tmp_path / "cub")
    lines = (root / "image_class_labels.txt").read_text().splitlines()
    _write(root / "image_class_labels.txt", lines[:-1])
    with pytest.raises(DataLayoutError, match=r"image_class_labels\.txt: no class for image id 12 \(.*images\.txt:12\)"):
        read_official("cub", root)


def test_non_utf8_table_is_named(tmp_path):
    root = write_aircraft(tmp_path / "aircraft")
    (root / "data" / "variants.txt").write_bytes(b"707-320\n\xff\xfe\n")
    with pytest.raises(DataLayoutError, match=r"variants\.txt: not UTF-8"):
        read_official("aircraft", root)


# ---------------------------------------------------------------- labels out of range


def test_cub_label_not_in_classes(tmp_path):
    root = write_cub(tmp_path / "cub")
    lines = (root / "image_class_labels.txt").read_text().splitlines()
    lines[4] = "5 7"
    _write(root / "image_class_labels.txt", lines)
    with pytest.raises(DataLayoutError, match=r"image_class_labels\.txt:5: class id 7 is not in classes\.txt"):
        read_official("cub", root)


def test_cub_split_flag_must_be_0_or_1(tmp_path):
    root = write_cub(tmp_path / "cub")
    lines = (root / "train_test_split.txt").read_text().splitlines()
    lines[2] = "3 2"
    _write(root / "train_test_split.txt", lines)
    with pytest.raises(DataLayoutError, match=r"train_test_split\.txt:3: is_training_image must be 0 or 1"):
        read_official("cub", root)


@pytest.mark.parametrize("label", [0, 5])
def test_cars_class_out_of_range(tmp_path, label):
    root = write_cars(tmp_path / "cars")
    rows = [("00001.jpg", 1), ("00002.jpg", label)]
    savemat(root / "cars_test_annos_withlabels.mat", {"annotations": car_annotations(rows)})
    with pytest.raises(DataLayoutError,
                       match=rf"cars_test_annos_withlabels\.mat: annotations\[2\]\.class = {label} is outside 1\.\.4"):
        read_official("cars", root)


def test_cars_class_name_must_be_a_string(tmp_path):
    root = write_cars(tmp_path / "cars")
    cell = _cell(CAR_CLASSES)
    cell[0, 1] = np.array([[7]])
    savemat(root / "devkit" / "cars_meta.mat", {"class_names": cell})
    with pytest.raises(DataLayoutError, match=r"cars_meta\.mat: class_names\[2\]: expected a non-empty string"):
        read_official("cars", root)


def test_dogs_label_zero(tmp_path):
    labels = [0, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    with pytest.raises(DataLayoutError, match=r"train_list\.mat: labels\[1\] = 0 is out of range"):
        read_official("dogs", write_dogs(tmp_path / "dogs", train_labels=labels))


def test_dogs_label_beyond_class_count(tmp_path):
    with pytest.raises(DataLayoutError, match=r"train_list\.mat: labels\[7\]: label 5 is outside 1\.\.4"):
        read_official("dogs", write_dogs(tmp_path / "dogs", class_labels=(1, 2, 5, 4)))


def test_dogs_label_disagrees_with_folder(tmp_path):
    labels = [1, 1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4]  # 6th image is in the Shih-Tzu folder but labelled 3
    with pytest.raises(DataLayoutError, match=r"train_list\.mat: labels\[6\]: 'n02086240-Shih-Tzu' has label 2 elsewhere, here 3"):
        read_official("dogs", write_dogs(tmp_path / "dogs", train_labels=labels))


def test_dogs_one_label_two_folders(tmp_path):
    labels = [1, 1, 1, 1, 1, 1, 3, 3, 3, 4, 4, 4]  # Shih-Tzu images first appear with Chihuahua's label
    with pytest.raises(DataLayoutError, match=r"labels\[4\]: label 1 is 'n02085620-Chihuahua' at .*labels\[1\], here 'n02086240"):
        read_official("dogs", write_dogs(tmp_path / "dogs", train_labels=labels))


def test_dogs_list_lengths_must_agree(tmp_path):
    root = write_dogs(tmp_path / "dogs")
    savemat(root / "lists" / "test_list.mat", {"file_list": _cell(["a/b.jpg", "a/c.jpg"], column=True),
                                               "labels": np.array([[1]], dtype=np.uint8)})
    with pytest.raises(DataLayoutError, match=r"test_list\.mat: file_list has 2 entries but labels has 1"):
        read_official("dogs", root)


def test_flowers_label_out_of_range(tmp_path):
    with pytest.raises(DataLayoutError, match=r"imagelabels\.mat: labels\[3\] = 103 is outside 1\.\.102"):
        read_official("flowers", write_flowers(tmp_path / "f", labels=[1, 1, 103, 2, 2, 60, 60, 93]))


def test_flowers_set_id_out_of_range(tmp_path):
    sets = {"trnid": [1, 3, 6], "valid": [2, 7], "tstid": [4, 5, 9]}
    with pytest.raises(DataLayoutError, match=r"setid\.mat: tstid\[3\] = 9 is outside 1\.\.8"):
        read_official("flowers", write_flowers(tmp_path / "f", sets=sets))


def test_flowers_image_in_two_sets(tmp_path):
    sets = {"trnid": [1, 3, 6], "valid": [2, 7], "tstid": [4, 3, 8]}
    with pytest.raises(DataLayoutError, match=r"setid\.mat: tstid\[2\]: image 3 is already in trnid"):
        read_official("flowers", write_flowers(tmp_path / "f", sets=sets))


def test_pets_class_id_out_of_range(tmp_path):
    trainval = [*PET_TRAINVAL[:-1], "Egyptian_Mau_12 9 1 2"]
    test = [line.replace(" 4 1 2", " 9 1 2") for line in PET_TEST]
    with pytest.raises(DataLayoutError, match=r"trainval\.txt:5: class id 9 is outside 1\.\.4"):
        read_official("pets", write_pets(tmp_path / "p", trainval=trainval, test=test))


def test_pets_class_id_disagrees_with_breed(tmp_path):
    test = [*PET_TEST[:-1], "Egyptian_Mau_3 2 1 2"]
    with pytest.raises(DataLayoutError, match=r"test\.txt:7: class id 2 is 'american_bulldog' at .*trainval\.txt:3"):
        read_official("pets", write_pets(tmp_path / "p", test=test))


def test_pets_breed_under_two_class_ids(tmp_path):
    test = [*PET_TEST[:2], "Abyssinian_201 5 1 1", *PET_TEST[3:]]
    with pytest.raises(DataLayoutError, match=r"test\.txt:3: 'Abyssinian' has class id 1 elsewhere, here 5"):
        read_official("pets", write_pets(tmp_path / "p", test=test))


def test_pets_species_must_be_cat_or_dog(tmp_path):
    trainval = [*PET_TRAINVAL[:-1], "Egyptian_Mau_12 4 3 2"]
    with pytest.raises(DataLayoutError, match=r"trainval\.txt:5: species must be 1 \(cat\) or 2 \(dog\)"):
        read_official("pets", write_pets(tmp_path / "p", trainval=trainval))


def test_aircraft_unknown_variant(tmp_path):
    root = write_aircraft(tmp_path / "a")
    _write(root / "data" / "images_variant_test.txt", ["0116175 A330-200", "0704269 Boeing 747"])
    with pytest.raises(DataLayoutError, match=r"images_variant_test\.txt:2: variant 'Boeing 747' is not in variants"):
        read_official("aircraft", root)


def test_aircraft_duplicate_variant(tmp_path):
    root = write_aircraft(tmp_path / "a")
    _write(root / "data" / "variants.txt", [*AIRCRAFT_VARIANTS, "707-320"])
    with pytest.raises(DataLayoutError, match=r"variants\.txt:5: variant '707-320' is listed twice"):
        read_official("aircraft", root)


# ---------------------------------------------------------------- spelling against the release


def _release_rows(prefix: str) -> list[dict]:
    return [json.loads(line) for split in ("seen", "unseen")
            for line in (RELEASE_EVAL / f"{prefix}_{split}.jsonl").read_text().splitlines()]


@needs_release
@pytest.mark.parametrize(("prefix", "name_of"), [
    ("bird", lambda path: cub.class_name(path.split("/")[2])),
    ("dog", lambda path: dogs.class_name(path.split("/")[2])),
    ("pet", lambda path: pets.class_name(path.rsplit("/", 1)[1].rsplit("_", 1)[0])),
])
def test_folder_names_map_to_release_spelling(prefix, name_of):
    """The official folder/file name is in every release image path: map it, compare with the gt."""
    rows = _release_rows(prefix)
    mismatches = {(r["image_path"], r["ground_truth"]) for r in rows if name_of(r["image_path"]) != r["ground_truth"]}
    assert not mismatches
    assert len({r["ground_truth"] for r in rows}) == {"bird": 200, "dog": 120, "pet": 37}[prefix]


@needs_release
def test_flower_class_list_is_the_release_spelling():
    names = {o for r in _release_rows("flower") for o in r["options"]}
    assert len(set(flowers.FLOWER_CLASSES)) == 102
    assert set(flowers.FLOWER_CLASSES) == names


# data/variants.txt of fgvc-aircraft-2013b, in its order
OFFICIAL_AIRCRAFT_VARIANTS = (
    "707-320|727-200|737-200|737-300|737-400|737-500|737-600|737-700|737-800|737-900|747-100|747-200|747-300|"
    "747-400|757-200|757-300|767-200|767-300|767-400|777-200|777-300|A300B4|A310|A318|A319|A320|A321|A330-200|"
    "A330-300|A340-200|A340-300|A340-500|A340-600|A380|ATR-42|ATR-72|An-12|BAE 146-200|BAE 146-300|BAE-125|"
    "Beechcraft 1900|Boeing 717|C-130|C-47|CRJ-200|CRJ-700|CRJ-900|Cessna 172|Cessna 208|Cessna 525|Cessna 560|"
    "Challenger 600|DC-10|DC-3|DC-6|DC-8|DC-9-30|DH-82|DHC-1|DHC-6|DHC-8-100|DHC-8-300|DR-400|Dornier 328|E-170|"
    "E-190|E-195|EMB-120|ERJ 135|ERJ 145|Embraer Legacy 600|Eurofighter Typhoon|F-16A/B|F/A-18|Falcon 2000|"
    "Falcon 900|Fokker 100|Fokker 50|Fokker 70|Global Express|Gulfstream IV|Gulfstream V|Hawk T1|Il-76|L-1011|"
    "MD-11|MD-80|MD-87|MD-90|Metroliner|Model B200|PA-28|SR-20|Saab 2000|Saab 340|Spitfire|Tornado|Tu-134|"
    "Tu-154|Yak-42"
).split("|")


@needs_release
def test_aircraft_variants_map_to_release_spelling():
    names = {o for r in _release_rows("aircraft") for o in r["options"]}
    mapped = [aircraft.class_name(v) for v in OFFICIAL_AIRCRAFT_VARIANTS]
    assert len(set(mapped)) == 100
    assert set(mapped) == names


@needs_release
@pytest.mark.parametrize("dataset", sorted(RELEASE_PREFIX))
def test_release_questions_match(dataset):
    prefix = RELEASE_PREFIX[dataset]
    assert {r["question"] for r in _release_rows(prefix)} == set(release_questions(prefix))
