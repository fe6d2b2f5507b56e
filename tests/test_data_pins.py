"""Every dataset archive pin is a published one: sha256 AND size as tensorflow-datasets lists them
(``tensorflow_datasets/url_checksums/<name>.txt``, transcribed below), one digest per archive; and a
file of another size is refused before it is hashed."""

from __future__ import annotations

from pathlib import Path

import pytest

from finebench.data.fetch.download import verify
from finebench.data.fetch.options import FetchError
from finebench.data.fetch.sources import DATASETS

TFDS_URL_CHECKSUMS = {
    # file name: (size, sha256), from tensorflow/datasets url_checksums/{caltech_birds2011, cars196,
    # stanford_dogs, oxford_flowers102, oxford_iiit_pet, fgvc}.txt
    "CUB_200_2011.tgz": (1150585339, "0c685df5597a8b24909f6a7c9db6d11e008733779a671760afef78feb49bf081"),
    "cars_test.tgz": (977350468, "bffea656d6f425cba3c91c6d83336e4c5f86c6cffd8975b0f375d3a10da8e243"),
    "cars_test_annos_withlabels.mat": (185758, "790f75be8ea34eeded134cc559332baf23e30e91367e9ddca97d26ed9b895f05"),
    "cars_train.tgz": (979269282, "512b227b30e2f0a8aab9e09485786ab4479582073a144998da74d64b801fd288"),
    "car_devkit.tgz": (330960, "b97deb463af7d58b6bfaa18b2a4de9829f0f79e8ce663dfa9261bf7810e9accd"),
    "images.tar": (793579520, "a443fc2f9a851aa1a7b8e4fa4af94b8459fce2c9f5a2f4dd4669cf9673a4ec58"),
    "lists.tar": (481280, "34b47cacd9a98b5d150e084f24d29391c084c55272295ec65c85651bc35f4d6c"),
    "102flowers.tgz": (344862509, "2d01ecc807db462958cfe3d92f57a8c252b4abd240eb955770201e45f783b246"),
    "imagelabels.mat": (502, "4903e94206bac23bf772aadf06451916df56b58fc483a62db32a97b82656651d"),
    "setid.mat": (14989, "46b8678f91fd95d3c8f4feab80d271a6c834a1dd896fe29fd3e6ad9ce5c8dccd"),
    "images.tar.gz": (791918971, "67195c5e1c01f1ab5f9b6a5d22b8c27a580d896ece458917e61d459337fa318d"),
    "annotations.tar.gz": (19173078, "52425fb6de5c424942b7626b428656fcbd798db970a937df61750c0f1d358e91"),
    "fgvc-aircraft-2013b.tar.gz": (2770575360, "d5f68b1b81d6d7831eb9d5c5517074176b5dfbce6bcb43dc14ed1c66a87b8d75"),
}


def test_every_archive_pin_is_the_published_size_and_sha256() -> None:
    pinned = {a.name: (a.size, a.sha256) for source in DATASETS.values() for a in source.archives}
    assert pinned == {name: (size, (digest,)) for name, (size, digest) in TFDS_URL_CHECKSUMS.items()}
    assert all(a.pin.startswith("sha256/size: tensorflow/datasets") for s in DATASETS.values() for a in s.archives)


def test_a_file_of_another_size_is_refused_before_hashing(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "setid.mat"
    path.write_bytes(b"x" * 10)
    monkeypatch.setattr("finebench.data.fetch.download.sha256_of", lambda p: pytest.fail("hashed a wrong-size file"))
    with pytest.raises(FetchError, match=r"setid.mat: 10 bytes, not the pinned 14989 \(not using it\)"):
        verify(path, ("0" * 64,), downloaded=False, size=14989)
    assert path.exists()  # a user's own file is never deleted
    with pytest.raises(FetchError, match=r"10 bytes, not the pinned 11 \(deleted it"):
        verify(path, ("0" * 64,), downloaded=True, size=11)
    assert not path.exists()


def test_the_right_size_goes_on_to_the_digest(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    digest = hashlib.sha256(b"abc").hexdigest()
    assert verify(path, (digest,), downloaded=False, size=3) == digest
    with pytest.raises(FetchError, match="does not match the pinned"):
        verify(path, ("0" * 64,), downloaded=False, size=3)
