"""Fixtures for `data fetch` tests: the six datasets' official archives in miniature, a local
HTTP server that serves them (with Range support and injectable failures), and sources that
keep the real placement data of ``finebench.data.fetch.sources`` but point at that server.

Each archive holds exactly what the official one holds at the top level (``CUB_200_2011/`` and
``attributes.txt``; ``cars_train/``; ``devkit/``; ``Images/``; the three list files of
``lists.tar`` at its root; ``jpg/``; ``images/``; ``annotations/``; ``fgvc-aircraft-2013b/``), with
the small official layouts of tests/test_official_readers.py inside.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from finebench.data.fetch.sources import DATASETS, DatasetSource, ItemSource, ReleaseFile
from finebench.data.manifest import build_items, release_questions
from finebench.data.official import READERS, RELEASE_PREFIX, read_official
from finebench.tasks.items import item_to_row
from tests.test_official_readers import WRITERS

# dataset -> (folder the writer fills, {archive name: [(path in that folder, name in the archive)]});
# an entry with a single pair and no tar suffix is a plain file.
LAYOUT: dict[str, tuple[str, dict[str, list[tuple[str, str]]]]] = {
    "cub": ("CUB_200_2011", {"CUB_200_2011.tgz": [("", "CUB_200_2011"), ("../attributes.txt", "attributes.txt")]}),
    "cars": ("stanford_cars", {
        "cars_train.tgz": [("cars_train", "cars_train")],
        "cars_test.tgz": [("cars_test", "cars_test")],
        "car_devkit.tgz": [("devkit", "devkit")],
        "cars_test_annos_withlabels.mat": [("cars_test_annos_withlabels.mat", "")],
    }),
    "dogs": ("stanford_dogs", {
        "images.tar": [("Images", "Images")],
        "lists.tar": [("lists/train_list.mat", "train_list.mat"), ("lists/test_list.mat", "test_list.mat"),
                      ("lists/train_list.mat", "file_list.mat")],
    }),
    "flowers": ("flowers", {
        "102flowers.tgz": [("jpg", "jpg")],
        "imagelabels.mat": [("imagelabels.mat", "")],
        "setid.mat": [("setid.mat", "")],
    }),
    "pets": ("oxford_pets", {
        "images.tar.gz": [("images", "images")],
        "annotations.tar.gz": [("annotations", "annotations")],
    }),
    "aircraft": ("fgvc-aircraft-2013b", {"fgvc-aircraft-2013b.tar.gz": [("", "fgvc-aircraft-2013b")]}),
}


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_tar(path: Path, entries: list[tuple[Path, str]]) -> Path:
    mode = "w:gz" if path.name.endswith((".tgz", ".gz")) else "w"
    with tarfile.open(path, mode) as tar:
        for source, arcname in entries:
            tar.add(source, arcname=arcname)
    return path


def build_archives(work: Path) -> dict[str, dict[str, Path]]:
    """dataset -> {archive name: file}, in ``work/archives``; the folders they came from stay in
    ``work/src/<dataset>`` (their manifests are what the archives hold)."""
    out = work / "archives"
    out.mkdir(parents=True)
    archives: dict[str, dict[str, Path]] = {}
    for dataset, (folder, files) in LAYOUT.items():
        src = WRITERS[dataset](work / "src" / dataset / folder)
        (src.parent / "attributes.txt").write_text("1 has_bill_shape::dagger\n")
        archives[dataset] = {}
        (out / dataset).mkdir()
        for name, entries in files.items():
            target = out / dataset / name
            if name.endswith((".tar", ".tgz", ".tar.gz")):
                write_tar(target, [((src / rel).resolve(), arc) for rel, arc in entries])
            else:
                shutil.copyfile(src / entries[0][0], target)
            archives[dataset][name] = target
    return archives


def manifest_of(work: Path, dataset: str):
    return read_official(dataset, work / "src" / dataset / LAYOUT[dataset][0])


class FixtureServer:
    """Serves ``files`` (URL path -> bytes) on 127.0.0.1; honours ``Range: bytes=N-``.

    ``fail[path] = n``: the next n requests get a 500. ``truncate[path] = n``: the next request
    gets the full Content-Length but only n bytes, then the connection is dropped.
    ``requests`` records (path, Range header) of every request.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.fail: dict[str, int] = {}
        self.truncate: dict[str, int] = {}
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append((self.path, self.headers.get("Range")))
                if server.fail.get(self.path, 0) > 0:
                    server.fail[self.path] -= 1
                    self.send_error(500, "scripted failure")
                    return
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                ranged = self.headers.get("Range")
                if ranged and ranged.startswith("bytes=") and ranged.endswith("-"):
                    start = int(ranged[len("bytes="):-1])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut = server.truncate.pop(self.path, None)
                self.wfile.write(body if cut is None else body[:cut])
                if cut is not None:
                    self.wfile.flush()
                    self.close_connection = True

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def add(self, path: str, data: bytes) -> str:
        self.files[path] = data
        return self.url + path

    def paths_requested(self) -> list[str]:
        return [p for p, _ in self.requests]

    @contextmanager
    def running(self) -> Iterator[FixtureServer]:
        thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._httpd.shutdown()
            self._httpd.server_close()


def served_sources(server: FixtureServer, archives: dict[str, dict[str, Path]]) -> dict[str, DatasetSource]:
    """The real DATASETS placement data, each archive served by ``server`` and pinned to the
    fixture's sha256 (every archive gets a URL, Stanford Cars' too)."""
    sources = {}
    for name, source in DATASETS.items():
        served = []
        for archive in source.archives:
            path = archives[name][archive.name]
            url = server.add(f"/{name}/{archive.name}", path.read_bytes())
            served.append(dataclasses.replace(archive, urls=(url,), sha256=(sha256(path),), size=path.stat().st_size))
        sources[name] = dataclasses.replace(source, archives=tuple(served))
    return sources


def fixture_items(work: Path, server: FixtureServer) -> ItemSource:
    """Release-format item files over the fixtures' test images (all classes seen; the unseen
    files repeat them) and a Stage-1 file with one train image per class, served by ``server``."""
    eval_files, sft_rows = [], []
    for dataset in READERS:
        manifest = manifest_of(work, dataset)
        prefix = RELEASE_PREFIX[dataset]
        items = build_items(manifest, _classes_with_tests(manifest), release_questions(prefix))
        body = "".join(json.dumps(item_to_row(i)) + "\n" for i in items).encode()
        for split in ("seen", "unseen"):
            path = f"eval/data/{prefix}_{split}.jsonl"
            server.add(f"/repo/{path}", body)
            eval_files.append(ReleaseFile(path, hashlib.sha256(body).hexdigest(), f"fine-r1/eval/{prefix}_{split}.jsonl"))
        layout = DATASETS[dataset].train
        seen = set()
        for record in manifest.records:
            if record.split == "train" and record.class_name not in seen:
                seen.add(record.class_name)
                sft_rows.append(stage1_row(layout.stage1 + record.image_path[len(layout.official):], record.class_name))
    body = json.dumps(sft_rows).encode()
    server.add("/repo/sft/stage1.json", body)
    sft = ReleaseFile("sft/stage1.json", hashlib.sha256(body).hexdigest(), "fine-r1/sft/Fine-R1-Stage1-data.json")
    order = {f"{RELEASE_PREFIX[d]}_{s}.jsonl": i for i, (d, s) in enumerate(
        (d, s) for d in ("aircraft", "cub", "cars", "dogs", "flowers", "pets") for s in ("seen", "unseen"))}
    eval_files.sort(key=lambda f: order[f.dest.rsplit("/", 1)[1]])
    return ItemSource("fine-r1", server.url + "/repo/", tuple(eval_files), sft)


def _classes_with_tests(manifest) -> list[str]:
    with_tests = {r.class_name for r in manifest.records if r.split == "test"}
    return [c for c in manifest.classes if c in with_tests]


def stage1_row(image: str, label: str) -> dict:
    """One sample in the released Stage-1 ShareGPT layout."""
    return {
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "<image>What kind of object is this?"},
            {"role": "assistant", "content": f"<think>\nIt looks like one.\n</think>\n\n<answer>{label}</answer>"},
        ],
        "images": [image],
    }
