"""Hostile archives and download servers: the CVE-2025-4517 symlink chain longer than PATH_MAX
(which fools Python 3.11's tarfile ``data`` filter), a decompression bomb, an endless response.
Extraction is confined by the filesystem and capped; downloads are capped at the pinned size."""

from __future__ import annotations

import dataclasses
import io
import os
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from finebench.data.fetch.extract import safe_extract
from finebench.data.fetch.fetch import fetch_dataset
from finebench.data.fetch.options import FetchError, FetchOptions, UnsafeArchiveError
from finebench.data.fetch.sources import DATASETS


def add(tar: tarfile.TarFile, name: str, *, kind: bytes = tarfile.REGTYPE, link: str = "", data: bytes = b"") -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def path_max_chain(archive: Path, dest: Path) -> None:
    """The published CVE-2025-4517 layout: folders with names so long that, once the symlinks
    a, a/b, ... are expanded, the path passes PATH_MAX, so ``os.path.realpath`` stops expanding
    and the filter believes a link that climbs out of ``dest`` stays inside."""
    steps = "abcdefghijklmnop"
    path_max = os.pathconf(dest.parent, "PC_PATH_MAX")
    component = "d" * ((path_max - len(str(dest)) - 1) // (len(steps) + 1))
    with tarfile.open(archive, "w") as tar:
        path = ""
        for step in steps:
            add(tar, os.path.join(path, component), kind=tarfile.DIRTYPE)
            add(tar, os.path.join(path, step), kind=tarfile.SYMTYPE, link=component)
            path = os.path.join(path, component)
        long_link = os.path.join(*steps, "l" * 254)
        add(tar, long_link, kind=tarfile.SYMTYPE, link=os.path.join(*[".."] * len(steps)))
        add(tar, "escape", kind=tarfile.SYMTYPE, link=os.path.join(long_link, ".."))
        add(tar, "flaglink", kind=tarfile.LNKTYPE, link="escape/flag")
        add(tar, "flaglink", data=b"overwritten")
        add(tar, "escape/newfile", data=b"new")


def test_the_path_max_symlink_chain_cannot_write_outside(tmp_path):
    outer = tmp_path / "outer"
    dest = outer / "dest"
    dest.mkdir(parents=True)
    (outer / "flag").write_bytes(b"original")
    archive = tmp_path / "chain.tar"
    path_max_chain(archive, dest)
    with pytest.raises(FetchError) as refused:
        safe_extract(archive, dest, "chain.tar")
    assert isinstance(refused.value, UnsafeArchiveError) and "\n" not in str(refused.value)
    assert (outer / "flag").read_bytes() == b"original"
    assert sorted(p.name for p in outer.iterdir()) == ["dest", "flag"]
    assert not [p for p in dest.rglob("*") if p.is_symlink()]  # no link is ever created on disk


def test_links_are_copies_of_files_and_never_links_on_disk(tmp_path):
    archive = tmp_path / "ok.tar"
    with tarfile.open(archive, "w") as tar:
        add(tar, "top/a.txt", data=b"A")
        add(tar, "top/sub/link", kind=tarfile.SYMTYPE, link="../a.txt")
        add(tar, "top/hard", kind=tarfile.LNKTYPE, link="top/a.txt")
        add(tar, "top/chain", kind=tarfile.SYMTYPE, link="sub/link")
    assert safe_extract(archive, tmp_path / "out", "ok.tar") == 4
    for name in ("sub/link", "hard", "chain"):
        path = tmp_path / "out" / "top" / name
        assert not path.is_symlink() and path.read_bytes() == b"A"
    dir_link = tmp_path / "dirlink.tar"
    with tarfile.open(dir_link, "w") as tar:
        add(tar, "top/sub", kind=tarfile.DIRTYPE)
        add(tar, "top/to-dir", kind=tarfile.SYMTYPE, link="sub")
    with pytest.raises(UnsafeArchiveError, match="not a file extracted before it"):
        safe_extract(dir_link, tmp_path / "out2", "dirlink.tar")


class Zeros(io.RawIOBase):
    def __init__(self, n: int) -> None:
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def test_a_decompression_bomb_is_refused_before_it_is_written(tmp_path):
    size = (256 << 20) + (16 << 20)  # just past what a small archive may expand to (EXTRACT_FLOOR)
    bomb = tmp_path / "bomb.tar.gz"
    with tarfile.open(bomb, "w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo("zeros.bin")
        info.size = size
        tar.addfile(info, io.BufferedReader(Zeros(size), 1 << 20))
    assert bomb.stat().st_size < (4 << 20)
    with pytest.raises(UnsafeArchiveError, match="would expand the archive past"):
        safe_extract(bomb, tmp_path / "out", "bomb.tar.gz")
    assert sum(p.stat().st_size for p in (tmp_path / "out").rglob("*") if p.is_file()) == 0


class EndlessServer:
    """Answers every GET with an endless body (no Content-Length), or with a Content-Length
    larger than the file should be, counting the bytes it sent."""

    def __init__(self, declare: int | None = None) -> None:
        self.sent = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                if declare is not None:
                    self.send_header("Content-Length", str(declare))
                self.end_headers()
                chunk = bytes(1 << 16)
                try:
                    while server.sent < (64 << 20):  # a guard for this test only: 64 MB, then hang up
                        self.wfile.write(chunk)
                        server.sent += len(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.mark.parametrize("declare", [None, 10 << 30])
def test_an_endless_or_oversized_download_stops_at_the_pinned_size(tmp_path, declare):
    server = EndlessServer(declare)
    pinned = 1 << 20
    archive = dataclasses.replace(DATASETS["flowers"].archives[1], urls=(f"{server.url}/imagelabels.mat",), size=pinned)
    source = dataclasses.replace(DATASETS["flowers"], archives=(archive,))
    try:
        with pytest.raises(FetchError, match="more than the expected 1048576 bytes"):
            fetch_dataset(source, FetchOptions(tmp_path, log=lambda line: None, retries=0))
    finally:
        server.httpd.shutdown()
    assert server.sent < (8 << 20)  # stopped near the pinned size, not at the server's guard
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # nothing kept, no .part
