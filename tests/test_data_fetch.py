"""`finebench data fetch` against a local HTTP server serving the six datasets' official archives
in miniature: download, verify, extract, place (test and Stage-1 train layouts), check; checksum
mismatch, interrupted and resumed downloads, a server error retried, unsafe archive members,
--from, re-fetches, --dry-run, `data check --sft`, and the real release pins."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from finebench.data.check import check_stage1_images
from finebench.data.fetch.download import download
from finebench.data.fetch.extract import check_member, safe_extract
from finebench.data.fetch.fetch import fetch_dataset, fetch_items
from finebench.data.fetch.options import CHUNK_SIZE, DOWNLOADS, MARKER, FetchError, FetchOptions, UnsafeArchiveError
from finebench.data.fetch.run import run_fetch, select
from finebench.data.fetch.sources import DATASETS, FINE_R1, STAGE1_FILE
from finebench.data.formats import check_stage1, load_stage1
from finebench.data.official import read_official
from finebench.tasks.items import load_items
from finebench.util.errors import UnknownNameError
from tests.fetch_fixtures import FixtureServer, build_archives, fixture_items, served_sources, sha256, stage1_row

ROOT = Path(__file__).resolve().parents[1]
RELEASE = ROOT.parent / "shared" / "fine-r1-release"
needs_release = pytest.mark.skipif(not (RELEASE / "eval").is_dir(), reason="shared Fine-R1 release not present")


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> tuple[Path, dict]:
    work = tmp_path_factory.mktemp("fetch-fixtures")
    return work, build_archives(work)


@pytest.fixture
def server():
    with FixtureServer().running() as running:
        yield running


def options(root: Path, log: list[str] | None = None, **changes) -> FetchOptions:
    return FetchOptions(root, log=(log.append if log is not None else lambda line: None), **changes)


def test_everything_is_fetched_verified_placed_and_checked(tmp_path, archives, server):
    work, files = archives
    datasets, items = served_sources(server, files), fixture_items(work, server)
    log: list[str] = []
    assert run_fetch([], options(tmp_path, log), items, datasets) == 0, "\n".join(log)

    for name, source in datasets.items():
        # every release-style image path resolves, and the reader reads the placed folder
        manifest = read_official(name, tmp_path / source.folder)
        tests = [r for r in manifest.records if r.split == "test"]
        assert tests and all((tmp_path / r.image_path).is_file() for r in tests)
        for folder in source.top_folders:
            assert json.loads((tmp_path / folder / MARKER).read_text())["name"] == name
        # every official train image is hard-linked (one copy of the bytes) under the Stage-1 path
        layout = source.train
        for record in (r for r in manifest.records if r.split == "train"):
            linked = tmp_path / (layout.stage1 + record.image_path[len(layout.official):])
            assert linked.stat().st_ino == (tmp_path / record.image_path).stat().st_ino
    assert not (tmp_path / "bird_200" / "attributes.txt").exists()  # outside CUB_200_2011/ in the tgz
    assert (tmp_path / "dogs_120" / "lists" / "train_list.mat").is_file()
    assert (tmp_path / "stanford-cars" / "cars_test_annos_withlabels.mat").is_file()
    # items imported; data check ran: every task and the Stage-1 file's folders found everything
    assert len(load_items(tmp_path / "fine-r1/eval/bird_seen.jsonl")) == 4
    assert any(line.startswith("cub_closed_seen\t") and "\t0 missing\t" in line for line in log)
    stage1_lines = [line for line in log if line.startswith("stage1 ")]
    assert len(stage1_lines) == 6 and all("\t0 missing\t0 corrupt" in line for line in stage1_lines)
    samples = load_stage1(tmp_path / STAGE1_FILE)
    assert check_stage1(samples, tmp_path) == []
    # downloads removed once placed; no staging folders left behind
    assert not any((tmp_path / DOWNLOADS).rglob("*.*"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".fetch-")]

    # a second fetch finds everything in place and asks the server nothing
    before = len(server.requests)
    again: list[str] = []
    assert run_fetch([], options(tmp_path, again), items, datasets) == 0
    assert len(server.requests) == before and "cub: already in place (bird_200)" in again


def test_a_checksum_mismatch_is_refused_and_nothing_is_placed(tmp_path, archives, server):
    _, files = archives
    source = served_sources(server, files)["cub"]
    original = files["cub"]["CUB_200_2011.tgz"].read_bytes()  # same size, one byte changed
    server.files["/cub/CUB_200_2011.tgz"] = original[:-1] + bytes([original[-1] ^ 1])
    with pytest.raises(FetchError, match=r"CUB_200_2011\.tgz: sha256 [0-9a-f]{64} does not match the pinned .*deleted it"):
        fetch_dataset(source, options(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == [DOWNLOADS]
    assert not list((tmp_path / DOWNLOADS).rglob("*.*"))  # neither the file nor a .part
    server.files["/cub/CUB_200_2011.tgz"] = files["cars"]["car_devkit.tgz"].read_bytes()  # another size
    with pytest.raises(FetchError, match=r"CUB_200_2011\.tgz: \d+ bytes, not the pinned \d+ \(deleted it"):
        fetch_dataset(source, options(tmp_path))


def test_an_interrupted_download_resumes_where_it_stopped(tmp_path, server):
    blob = os.urandom(10 * CHUNK_SIZE + 123)
    url = server.add("/big.bin", blob)
    cut = 6 * CHUNK_SIZE + 500  # the connection drops inside the 7th chunk
    server.truncate["/big.bin"] = cut
    path = download("big.bin", [url], tmp_path, options(tmp_path))
    assert path.read_bytes() == blob and not (tmp_path / "big.bin.part").exists()
    assert server.requests == [("/big.bin", None), ("/big.bin", f"bytes={6 * CHUNK_SIZE}-")]


def test_a_partial_download_from_an_earlier_run_is_continued(tmp_path, archives, server):
    _, files = archives
    source = served_sources(server, files)["pets"]
    data = files["pets"]["images.tar.gz"].read_bytes()
    cache = tmp_path / DOWNLOADS / "pets"
    cache.mkdir(parents=True)
    (cache / "images.tar.gz.part").write_bytes(data[:100])
    fetch_dataset(source, options(tmp_path))
    assert ("/pets/images.tar.gz", "bytes=100-") in server.requests
    assert ("/pets/images.tar.gz", None) not in server.requests
    assert (tmp_path / "oxford-pet-train" / "train").is_dir()


def test_a_server_error_is_retried_and_a_dead_mirror_skipped(tmp_path, archives, server):
    _, files = archives
    source = served_sources(server, files)["flowers"]
    server.fail["/flowers/setid.mat"] = 1
    labels = source.archives[1]
    moved = dataclasses.replace(labels, urls=(server.url + "/gone/imagelabels.mat", *labels.urls))
    source = dataclasses.replace(source, archives=(source.archives[0], moved, source.archives[2]))
    fetch_dataset(source, options(tmp_path, retries=1))
    assert server.paths_requested().count("/flowers/setid.mat") == 2  # a 500, then the file
    assert server.paths_requested().count("/gone/imagelabels.mat") == 2  # 404 twice, then the mirror
    assert (tmp_path / "flower102" / "setid.mat").is_file()


def test_a_download_that_keeps_failing_names_every_url(tmp_path, archives, server):
    _, files = archives
    source = served_sources(server, files)["dogs"]
    server.fail["/dogs/lists.tar"] = 10
    with pytest.raises(FetchError, match=r"could not download lists\.tar:\n  http://127\.0\.0\.1:\d+/dogs/lists\.tar: "
                                         r"HTTPError: 500(?s:.*)pass --from DIR"):
        fetch_dataset(source, options(tmp_path, retries=0))
    assert not (tmp_path / "dogs_120").exists()


def _tar_with(tmp_path: Path, name: str, add) -> Path:
    path = tmp_path / name
    with tarfile.open(path, "w") as tar:
        add(tar)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "", data: bytes = b"x") -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, io.BytesIO(data) if kind == tarfile.REGTYPE else None


@pytest.mark.parametrize(("member", "message"), [
    (_member("../evil.txt"), "climbs out of the extraction folder"),
    (_member("ok/../../evil.txt"), "climbs out of the extraction folder"),
    (_member("/etc/evil.txt"), "has an absolute path"),
    (_member("ok/link", tarfile.SYMTYPE, "../../outside"), "links to '../../outside', outside the extraction folder"),
    (_member("ok/link", tarfile.SYMTYPE, "/etc/passwd"), "links to the absolute path '/etc/passwd'"),
    (_member("ok/hard", tarfile.LNKTYPE, "../outside"), "links to '../outside', outside the extraction folder"),
    (_member("ok/dev", tarfile.CHRTYPE), "is a device, FIFO or other special file"),
])
def test_unsafe_members_are_refused_and_nothing_escapes(tmp_path, member, message):
    info, data = member
    archive = _tar_with(tmp_path, "bad.tar", lambda tar: tar.addfile(info, data))
    with pytest.raises(UnsafeArchiveError, match=re.escape(f"bad.tar: member {info.name!r} {message}")):
        safe_extract(archive, tmp_path / "out" / "deep", "bad.tar")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "evil.txt").exists()


def test_links_that_stay_inside_are_extracted():
    info, _ = _member("a/b/link", tarfile.SYMTYPE, "../c.txt")
    check_member(info, "ok.tar")  # resolves to a/c.txt
    info, _ = _member("a/hard", tarfile.LNKTYPE, "a/c.txt")
    check_member(info, "ok.tar")


def test_a_dataset_archive_with_a_traversal_member_places_nothing(tmp_path, archives, server):
    _, files = archives
    source = served_sources(server, files)["cub"]
    evil = _tar_with(tmp_path, "evil.tgz", lambda tar: tar.addfile(*_member("../../escaped.txt")))
    server.files["/cub/CUB_200_2011.tgz"] = evil.read_bytes()
    archive = dataclasses.replace(source.archives[0], sha256=(sha256(evil),), size=evil.stat().st_size)
    root = tmp_path / "root"
    with pytest.raises(UnsafeArchiveError, match="'../../escaped.txt' climbs out"):
        fetch_dataset(dataclasses.replace(source, archives=(archive,)), options(root))
    assert not (tmp_path / "escaped.txt").exists() and not (root / "bird_200").exists()
    assert not [p for p in root.iterdir() if p.name.startswith(".fetch-")]


def test_archives_without_a_public_url_come_from_the_from_folder(tmp_path, archives, server):
    _, files = archives
    cars = served_sources(server, files)["cars"]
    real = {a.name: a for a in DATASETS["cars"].archives}
    cars = dataclasses.replace(cars, archives=tuple(
        dataclasses.replace(a, urls=a.urls if real[a.name].urls else ()) for a in cars.archives))
    with pytest.raises(FetchError, match=r"cars_train\.tgz, cars_test\.tgz, cars_test_annos_withlabels\.mat have no "
                                         r"public download .*--from DIR"):
        fetch_dataset(cars, options(tmp_path))
    assert server.requests == []  # refused before downloading the devkit
    fetch_dataset(cars, options(tmp_path, from_dir=files["cars"]["cars_train.tgz"].parent))
    assert server.requests == []  # the devkit was in the folder too
    assert (tmp_path / "stanford_cars_train" / "images" / "00001.jpg").is_file()
    assert files["cars"]["cars_train.tgz"].is_file()  # the user's own files are never deleted


def test_a_wrong_file_in_the_from_folder_is_not_used(tmp_path, archives, server):
    _, files = archives
    source = served_sources(server, files)["flowers"]
    given = tmp_path / "given"
    given.mkdir()
    (given / "setid.mat").write_bytes(b"not the file")
    with pytest.raises(FetchError, match=r"given/setid\.mat: 12 bytes, not the pinned \d+ \(not using it\)"):
        fetch_dataset(source, options(tmp_path / "root", from_dir=given))
    assert (given / "setid.mat").read_bytes() == b"not the file"


def test_a_folder_no_fetch_wrote_is_left_alone(tmp_path, archives, server):
    _, files = archives
    source = served_sources(server, files)["pets"]
    (tmp_path / "oxford-pet").mkdir()
    (tmp_path / "oxford-pet" / "mine.txt").write_text("my own copy")
    with pytest.raises(FetchError, match="oxford-pet exists and was not written by `finebench data fetch`"):
        fetch_dataset(source, options(tmp_path))
    assert (tmp_path / "oxford-pet" / "mine.txt").read_text() == "my own copy" and server.requests == []


def test_an_earlier_fetch_with_other_pins_is_replaced(tmp_path, archives, server):
    _, files = archives
    source = served_sources(server, files)["dogs"]
    fetch_dataset(source, options(tmp_path))
    marker = tmp_path / "dogs_120" / MARKER
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "files": {"images.tar": "0" * 64,
                                                                               "lists.tar": "0" * 64}}))
    (tmp_path / "dogs_120" / "stale.txt").write_text("old")
    result = fetch_dataset(source, options(tmp_path))
    assert not result.skipped and not (tmp_path / "dogs_120" / "stale.txt").exists()
    assert result.train_images == 12


def test_dry_run_fetches_and_writes_nothing(tmp_path, archives, server):
    _, files = archives
    log: list[str] = []
    datasets = served_sources(server, files)
    assert run_fetch(["cub", "cars"], options(tmp_path / "root", log), FINE_R1, datasets, dry_run=True) == 0
    assert server.requests == [] and not (tmp_path / "root").exists()
    assert log[0] == f"cub: will be fetched; images under {tmp_path / 'root' / 'bird_200'}, train images linked " \
                     f"under {tmp_path / 'root' / 'bird_200/images_train/'}"
    assert "contents of CUB_200_2011/ ->" in log[1] and "download http://127.0.0.1" in log[1]
    log.clear()
    real = FetchOptions(tmp_path / "root", from_dir=files["cars"]["cars_train.tgz"].parent, log=log.append)
    run_fetch(["cars"], real, FINE_R1, DATASETS, dry_run=True)
    assert f"from {files['cars']['cars_train.tgz']}" in log[1]


def test_names_are_selected_in_fetch_order_and_typos_suggested():
    assert select([], FINE_R1, DATASETS) == ["fine-r1", *DATASETS]
    assert select(["all"], FINE_R1, DATASETS) == ["fine-r1", *DATASETS]
    assert select(["pets", "fine-r1", "cub"], FINE_R1, DATASETS) == ["fine-r1", "cub", "pets"]
    with pytest.raises(UnknownNameError, match="did you mean 'cars'"):
        select(["cras"], FINE_R1, DATASETS)


def test_a_failed_dataset_does_not_stop_the_others(tmp_path, archives, server):
    _, files = archives
    datasets = served_sources(server, files)
    server.files["/pets/images.tar.gz"] = b"garbage"
    log: list[str] = []
    assert run_fetch(["pets", "flowers"], options(tmp_path, log), FINE_R1, datasets) == 1
    assert (tmp_path / "flower102").is_dir() and not (tmp_path / "oxford-pet").exists()
    assert any(line.startswith("error: ") and "images.tar.gz" in line for line in log)
    assert log[-1] == "not fetched: pets"


# ---------------------------------------------------------------- the real release


@needs_release
def test_the_pinned_item_files_are_the_shared_release():
    for release_file in FINE_R1.eval_files:
        assert sha256(RELEASE / "eval" / Path(release_file.path).name) == release_file.sha256
    assert sha256(RELEASE / "sft" / "Fine-R1-Stage1-data.json") == FINE_R1.sft_file.sha256


@needs_release
def test_the_release_items_are_fetched_from_the_pinned_commit_layout(tmp_path, server):
    """The real pins and repository paths, served locally; then imported row by row."""
    for release_file in (*FINE_R1.eval_files, FINE_R1.sft_file):
        local = RELEASE / release_file.dest.split("/", 1)[1]
        server.add(f"/{release_file.path}", local.read_bytes())
    fetch_items(dataclasses.replace(FINE_R1, base_url=server.url + "/"), options(tmp_path))
    assert sum(len(load_items(tmp_path / f.dest)) for f in FINE_R1.eval_files) == 35566
    assert len(load_stage1(tmp_path / STAGE1_FILE)) == 404
    assert {p for p, _ in server.requests} == {f"/{f.path}" for f in (*FINE_R1.eval_files, FINE_R1.sft_file)}
    assert FINE_R1.base_url.endswith("/FineR1_ICLR2026/84cdc5cbdf7fc232d44e9f5d2713bf95d3ecdd7a/")


@needs_release
def test_every_stage1_image_path_maps_onto_one_datasets_train_layout():
    samples = load_stage1(RELEASE / "sft" / "Fine-R1-Stage1-data.json")
    used = {}
    for image in (i for s in samples for i in s.images):
        owners = [n for n, s in DATASETS.items() if image.startswith(s.train.stage1)]
        assert len(owners) == 1, image
        used[owners[0]] = used.get(owners[0], 0) + 1
        official = DATASETS[owners[0]].train.official + image[len(DATASETS[owners[0]].train.stage1):]
        assert official.split("/", 1)[0] == DATASETS[owners[0]].folder
    assert used == {"aircraft": 60, "cars": 117, "cub": 86, "dogs": 70, "flowers": 59, "pets": 12}


@needs_release
def test_the_eval_image_roots_are_the_dataset_folders():
    for source in DATASETS.values():
        assert source.train.official.split("/", 1)[0] == source.folder
    roots = {row.image_path.split("/", 1)[0] for f in (RELEASE / "eval").glob("*.jsonl") for row in load_items(f)}
    assert roots == {s.folder for s in DATASETS.values()}


# ---------------------------------------------------------------- data check --sft


def test_data_check_sft_reports_found_and_missing_per_folder(tmp_path):
    from PIL import Image

    image = tmp_path / "bird_200" / "images_train" / "001.A" / "a.jpg"
    image.parent.mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(image)
    rows = [stage1_row("bird_200/images_train/001.A/a.jpg", "A"), stage1_row("flower102_train/image/train/x.jpg", "B")]
    sft = tmp_path / "stage1.json"
    sft.write_text(json.dumps(rows))
    reports = {r.task: r for r in check_stage1_images(sft, tmp_path)}
    assert (reports["bird_200"].n_images, reports["bird_200"].ok) == (1, True)
    assert reports["flower102_train"].missing == ["flower102_train/image/train/x.jpg"]

    out = subprocess.run([sys.executable, "-m", "finebench", "data", "check", "--sft", str(sft), "--data-root",
                          str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 1
    assert "bird_200\t1 images\t1 found\t0 missing\t0 corrupt" in out.stdout
    assert "flower102_train\t1 images\t0 found\t1 missing" in out.stdout
    assert f"finebench data fetch cub cars dogs flowers pets aircraft --data-root {tmp_path}" in out.stdout
    os.remove(sft)
    bad = subprocess.run([sys.executable, "-m", "finebench", "data", "check", "--sft", str(sft)],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and f"{sft}: cannot read" in bad.stderr


def test_data_fetch_cli_refuses_unknown_names_before_anything():
    out = subprocess.run([sys.executable, "-m", "finebench", "data", "fetch", "birds", "--dry-run"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and "unknown data 'birds'" in out.stderr


def test_the_missing_training_image_error_names_the_fetch_command(tmp_path):
    sft = tmp_path / "stage1.json"
    sft.write_text(json.dumps([stage1_row("bird_200/images_train/001.A/a.jpg", "A")]))
    problems = check_stage1(load_stage1(sft), tmp_path)
    assert len(problems) == 1 and problems[0].reason.startswith("image not found: ")
    assert "finebench data fetch" in problems[0].reason and str(tmp_path) in problems[0].reason
