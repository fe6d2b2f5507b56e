"""Where ``finebench data fetch`` gets each piece of data, how it checks it, and where it goes.

Everything here is data: adding a mirror or a checksum is an edit to this file, never a code
branch in ``finebench.data.fetch.fetch``.

Checksums. The Fine-R1 item files are pinned by sha256 computed on the authors' repository at
the commit below (and equal to the copies the benchmark was built from). For the six datasets no
archive could be downloaded while this was written (no network), so the pins are the publicly
documented ones, NOT re-computed here: sha256 and size from tensorflow/datasets'
``url_checksums/<dataset>.txt``, every archive listed there with both (a file of another size or
digest is refused). The md5 that torchvision's dataset code (or the common CUB loaders) documents
for the same file is noted in ``pin`` for reference; it is not checked. A second FGVC-Aircraft
sha256 (e4e323d4...), taken from an unofficial pipeline script, was once accepted too: no
published source lists it, and the size pinned with it was TFDS's, i.e. another file's, so it is
gone.

Stanford Cars. Its host (ai.stanford.edu/~jkrause) is gone; only the devkit has a well-known
public mirror (the copy attached to pytorch/vision issue #7545). ``cars_train.tgz``,
``cars_test.tgz`` and ``cars_test_annos_withlabels.mat`` have no stable public URL (Kaggle's
copies need an account and are re-packed), so they are taken from ``--from DIR`` and checked
against the original archives' checksums.

Placement. Each dataset's archives are extracted into its official folder under the data root
(``bird_200`` is ``CUB_200_2011``), so every release ``image_path`` resolves and
``finebench.data.official`` reads the annotations from the same place. The released Stage-1 SFT
file names the TRAIN images under paths of its own; ``TrainLayout`` maps the official path of
each train image to that path, where it is hard-linked.
"""

from __future__ import annotations

from dataclasses import dataclass

FINE_R1_REPOSITORY = "PKU-ICST-MIPL/FineR1_ICLR2026"
FINE_R1_COMMIT = "84cdc5cbdf7fc232d44e9f5d2713bf95d3ecdd7a"  # "update README", 2026-03-20


@dataclass(frozen=True)
class ReleaseFile:
    """One file of the authors' repository."""

    path: str
    """In the repository; also looked for under ``--from DIR`` (a clone) and by name in it."""
    sha256: str
    dest: str
    """Relative to the data root."""


@dataclass(frozen=True)
class ItemSource:
    """The Fine-R1 release: the 12 benchmark item files and the Stage-1 CoT SFT file."""

    name: str
    base_url: str
    """The repository's raw-file URL at the pinned commit; a file's URL is base_url + path."""
    eval_files: tuple[ReleaseFile, ...]
    sft_file: ReleaseFile


@dataclass(frozen=True)
class Archive:
    """One downloadable file of a dataset."""

    name: str
    """File name in the download cache and under ``--from DIR``."""
    sha256: tuple[str, ...]
    """Accepted digests; more than one only where published pins disagree."""
    size: int
    """Bytes, as published with the digest; a file of another size is refused before hashing."""
    into: str
    """Folder, relative to the data root, that receives the archive's contents (or the file)."""
    urls: tuple[str, ...] = ()
    """Tried in order; empty when there is no public download (then ``--from DIR`` supplies it)."""
    strip: str = ""
    """The archive's top folder whose contents are placed; "" places everything."""
    pin: str = ""
    """Where the checksum comes from."""

    @property
    def is_tar(self) -> bool:
        return self.name.endswith((".tar", ".tgz", ".tar.gz"))


@dataclass(frozen=True)
class TrainLayout:
    """Official path prefix of the train images -> the prefix the released Stage-1 file uses."""

    official: str
    stage1: str


@dataclass(frozen=True)
class DatasetSource:
    name: str
    """cub, cars, dogs, flowers, pets, aircraft (the names of ``finebench.data.official``)."""
    folder: str
    """The official folder under the data root: the release's image paths start with it."""
    archives: tuple[Archive, ...]
    train: TrainLayout
    homepage: str

    @property
    def top_folders(self) -> tuple[str, ...]:
        """The folders of the data root this dataset writes (replaced together on a re-fetch)."""
        train_top = self.train.stage1.split("/", 1)[0]
        return (self.folder,) if train_top == self.folder else (self.folder, train_top)


_EVAL_NAMES = tuple(
    f"{prefix}_{split}.jsonl"
    for prefix in ("aircraft", "bird", "car", "dog", "flower", "pet")
    for split in ("seen", "unseen")
)
_EVAL_SHA256 = dict(zip(_EVAL_NAMES, (
    "92b5478c7674881ea051eae1e7c3cfcfef93a48a9fd7c5e55834f53c494647a0",
    "b243f1e3e443b1b166d1bf2afc371a50695c520c403a71b4953268eaf0ddc316",
    "7c7c933e3698b435d7daba920223192de48f06d5769fde102d8d8aa547850f37",
    "84238be465c2b00001c5c4425d8c6e1a2bf1b39c0f7ba08f19eafc7105129509",
    "795404c49930521b7ed740baf9850f54be86d5a72dc94a5623e8d3533447d4d0",
    "a5eff1928f6f97571ba4ba3d5735630d49735e1f5d587efb60fb0178fa395818",
    "73015d36fdd29b82e4bd30c5ec2de7d4580de980e1c21f7fc30fda0b1cf62bac",
    "8585686911b82895bc6cb51e21062eec4306688e2ed1c74051814abc12540719",
    "69e43e6cc57098e2e6cbc062d483fc22fe8b1ef816c082d99b435f71eac5d191",
    "2fb62036194e0c9fe2cdec616f7ce9040c79e2fb0c5a6f2a95b59cf23c6f1382",
    "5d9310149a67a4c24fa786ddab466d45933d46051b917e5a73cb33fcde56af21",
    "bfcfd0a0def278ca588d419cd795c336e1e36270f9b675f34d51ab687c2d7967",
), strict=True))

STAGE1_FILE = "fine-r1/sft/Fine-R1-Stage1-data.json"
"""Where the released Stage-1 SFT file goes; its image paths are relative to the data root."""

FINE_R1 = ItemSource(
    name="fine-r1",
    base_url=f"https://raw.githubusercontent.com/{FINE_R1_REPOSITORY}/{FINE_R1_COMMIT}/",
    eval_files=tuple(ReleaseFile(f"eval/data/{n}", _EVAL_SHA256[n], f"fine-r1/eval/{n}") for n in _EVAL_NAMES),
    sft_file=ReleaseFile(
        "LLaMA-Factory/data/Fine-R1-Stage1-data.json",
        "1233e5c6c7a9e448316a359933347a524503e4209aa870dc3a0733ac819bf1f8",
        STAGE1_FILE,
    ),
)

_TFDS = "sha256/size: tensorflow/datasets url_checksums/{}.txt"
_VGG = "https://www.robots.ox.ac.uk/~vgg/data"

DATASETS: dict[str, DatasetSource] = {
    "cub": DatasetSource(
        name="cub",
        folder="bird_200",
        archives=(
            Archive("CUB_200_2011.tgz",
                    ("0c685df5597a8b24909f6a7c9db6d11e008733779a671760afef78feb49bf081",),
                    into="bird_200", strip="CUB_200_2011",
                    urls=("https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz",),
                    size=1150585339, pin=_TFDS.format("caltech_birds2011") + "; md5 97eceeb196236b17998738112f37df78"),
        ),
        train=TrainLayout("bird_200/images/", "bird_200/images_train/"),
        homepage="https://www.vision.caltech.edu/datasets/cub_200_2011/",
    ),
    "cars": DatasetSource(
        name="cars",
        folder="stanford-cars",
        archives=(
            Archive("cars_train.tgz", ("512b227b30e2f0a8aab9e09485786ab4479582073a144998da74d64b801fd288",),
                    into="stanford-cars", size=979269282,
                    pin=_TFDS.format("cars196") + "; md5 065e5b463ae28d29e77c1b4b166cfe61 (torchvision 0.15)"),
            Archive("cars_test.tgz", ("bffea656d6f425cba3c91c6d83336e4c5f86c6cffd8975b0f375d3a10da8e243",),
                    into="stanford-cars", size=977350468,
                    pin=_TFDS.format("cars196") + "; md5 4ce7ebf6a94d07f1952d94dd34c4d501 (torchvision 0.15)"),
            Archive("car_devkit.tgz", ("b97deb463af7d58b6bfaa18b2a4de9829f0f79e8ce663dfa9261bf7810e9accd",),
                    into="stanford-cars", size=330960,
                    urls=("https://github.com/pytorch/vision/files/11644847/car_devkit.tgz",),
                    pin=_TFDS.format("cars196") + "; md5 c3b158d763b6e2245038c8ad08e45376 (torchvision 0.15)"),
            Archive("cars_test_annos_withlabels.mat",
                    ("790f75be8ea34eeded134cc559332baf23e30e91367e9ddca97d26ed9b895f05",),
                    into="stanford-cars", size=185758,
                    pin=_TFDS.format("cars196") + "; md5 b0a2b23655a3edd16d84508592a98d10 (torchvision 0.15)"),
        ),
        train=TrainLayout("stanford-cars/cars_train/", "stanford_cars_train/images/"),
        homepage="https://ai.stanford.edu/~jkrause/cars/car_dataset.html (offline)",
    ),
    "dogs": DatasetSource(
        name="dogs",
        folder="dogs_120",
        archives=(
            Archive("images.tar", ("a443fc2f9a851aa1a7b8e4fa4af94b8459fce2c9f5a2f4dd4669cf9673a4ec58",),
                    into="dogs_120", urls=("http://vision.stanford.edu/aditya86/ImageNetDogs/images.tar",),
                    size=793579520, pin=_TFDS.format("stanford_dogs")),
            Archive("lists.tar", ("34b47cacd9a98b5d150e084f24d29391c084c55272295ec65c85651bc35f4d6c",),
                    into="dogs_120/lists", urls=("http://vision.stanford.edu/aditya86/ImageNetDogs/lists.tar",),
                    size=481280, pin=_TFDS.format("stanford_dogs")),
        ),
        train=TrainLayout("dogs_120/Images/", "dogs_120/image_train/train/"),
        homepage="http://vision.stanford.edu/aditya86/ImageNetDogs/",
    ),
    "flowers": DatasetSource(
        name="flowers",
        folder="flower102",
        archives=(
            Archive("102flowers.tgz", ("2d01ecc807db462958cfe3d92f57a8c252b4abd240eb955770201e45f783b246",),
                    into="flower102", urls=(f"{_VGG}/flowers/102/102flowers.tgz",), size=344862509,
                    pin=_TFDS.format("oxford_flowers102") + "; md5 52808999861908f626f3c1f4e79d11fa (torchvision)"),
            Archive("imagelabels.mat", ("4903e94206bac23bf772aadf06451916df56b58fc483a62db32a97b82656651d",),
                    into="flower102", urls=(f"{_VGG}/flowers/102/imagelabels.mat",), size=502,
                    pin=_TFDS.format("oxford_flowers102") + "; md5 e0620be6f572b9609742df49c70aed4d (torchvision)"),
            Archive("setid.mat", ("46b8678f91fd95d3c8f4feab80d271a6c834a1dd896fe29fd3e6ad9ce5c8dccd",),
                    into="flower102", urls=(f"{_VGG}/flowers/102/setid.mat",), size=14989,
                    pin=_TFDS.format("oxford_flowers102") + "; md5 a5357ecc9cb78c4bef273ce3793fc85c (torchvision)"),
        ),
        train=TrainLayout("flower102/jpg/", "flower102_train/image/train/"),
        homepage=f"{_VGG}/flowers/102/",
    ),
    "pets": DatasetSource(
        name="pets",
        folder="oxford-pet",
        archives=(
            Archive("images.tar.gz", ("67195c5e1c01f1ab5f9b6a5d22b8c27a580d896ece458917e61d459337fa318d",),
                    into="oxford-pet", urls=(f"{_VGG}/pets/data/images.tar.gz",), size=791918971,
                    pin=_TFDS.format("oxford_iiit_pet") + "; md5 5c4f3ee8e5d25df40f4fd59a7f44e54c (torchvision)"),
            Archive("annotations.tar.gz", ("52425fb6de5c424942b7626b428656fcbd798db970a937df61750c0f1d358e91",),
                    into="oxford-pet", urls=(f"{_VGG}/pets/data/annotations.tar.gz",), size=19173078,
                    pin=_TFDS.format("oxford_iiit_pet") + "; md5 95a8c909bbe2e81eed6a22bccdf3f68f (torchvision)"),
        ),
        train=TrainLayout("oxford-pet/images/", "oxford-pet-train/train/"),
        homepage=f"{_VGG}/pets/",
    ),
    "aircraft": DatasetSource(
        name="aircraft",
        folder="fgvc_aircraft",
        archives=(
            Archive("fgvc-aircraft-2013b.tar.gz",
                    ("d5f68b1b81d6d7831eb9d5c5517074176b5dfbce6bcb43dc14ed1c66a87b8d75",),
                    into="fgvc_aircraft", strip="fgvc-aircraft-2013b",
                    urls=(f"{_VGG}/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz",), size=2770575360,
                    pin=_TFDS.format("fgvc")),
        ),
        train=TrainLayout("fgvc_aircraft/data/images/", "fgvc-aircraft-2013b-train/images/"),
        homepage=f"{_VGG}/fgvc-aircraft/",
    ),
}
