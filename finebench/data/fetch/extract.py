"""Extracting archives safely: member by member, after checking each one (no absolute path, no ..,
nothing but files, folders and links), and confined by the filesystem, not by names: only folders
and regular files are ever created (a link member becomes a copy of the file it names), each
through folders checked with ``lstat`` and created ``O_EXCL | O_NOFOLLOW``; the bytes written are
capped (``extract_cap``). So no symlink trick, the CVE-2025-4517 chain longer than PATH_MAX that
fools Python 3.11's ``data`` filter included, can write outside the extraction folder."""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zlib
from pathlib import Path, PurePosixPath

from finebench.data.fetch.options import CHUNK_SIZE, FetchError, UnsafeArchiveError


def check_member(member: tarfile.TarInfo, archive: str) -> None:
    """Refuse a member that would escape the extraction folder, or is not a file, folder or link."""
    name = member.name
    where = f"{archive}: member {name!r}"
    path = PurePosixPath(name)
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"{where} has an absolute path")
    if ".." in path.parts:
        raise UnsafeArchiveError(f"{where} climbs out of the extraction folder with '..'")
    if member.issym() or member.islnk():
        target = member.linkname
        if target.startswith(("/", "\\")):
            raise UnsafeArchiveError(f"{where} links to the absolute path {target!r}")
        base = path.parent if member.issym() else PurePosixPath()  # hard link targets are archive paths
        depth = 0
        for part in (base / target).parts:
            depth += -1 if part == ".." else 0 if part == "." else 1
            if depth < 0:
                raise UnsafeArchiveError(f"{where} links to {target!r}, outside the extraction folder")
    elif not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(f"{where} is a device, FIFO or other special file")


EXTRACT_RATIO = 4
"""Extracted bytes allowed per archive byte: the official archives hold JPEGs and small text files
(about 1:1); a bomb-like member (gigabytes of zeros in a few megabytes) is refused."""
EXTRACT_FLOOR = 256 << 20
"""Small archives (annotation lists) may always expand to this many bytes."""
MAX_MEMBERS = 2_000_000
MAX_LINK_HOPS = 40


def extract_cap(archive_bytes: int) -> int:
    return max(EXTRACT_FLOOR, EXTRACT_RATIO * archive_bytes)


class _Confined:
    """Writes under ``root`` that the filesystem itself keeps there: only folders and regular files
    are created (links in the archive become copies of files it extracted before), every folder on
    the way is checked with ``lstat`` to be a real folder, and files are created with ``O_EXCL |
    O_NOFOLLOW``. Nothing is resolved by name, so no symlink trick (the CVE-2025-4517 chain longer
    than PATH_MAX included) can point a write elsewhere."""

    def __init__(self, root: Path, archive: str, max_bytes: int) -> None:
        self.root = root
        self.archive = archive
        self.remaining = max_bytes
        self.max_bytes = max_bytes
        self.files: dict[tuple[str, ...], Path] = {}
        self.links: dict[tuple[str, ...], tuple[str, ...]] = {}

    def _refuse(self, name: str, why: str) -> UnsafeArchiveError:
        return UnsafeArchiveError(f"{self.archive}: member {name!r} {why}")

    def folder(self, parts: tuple[str, ...], name: str) -> Path:
        current = self.root
        for part in parts:
            current = current / part
            try:
                os.mkdir(current, 0o755)
            except FileExistsError:
                pass
            if not stat.S_ISDIR(os.lstat(current).st_mode):
                raise self._refuse(name, f"needs {part!r} to be a folder, but the archive made it a file or link")
        return current

    def _charge(self, size: int, name: str) -> None:
        if size > self.remaining:
            raise self._refuse(name, f"would expand the archive past {self.max_bytes} bytes (a decompression bomb?)")
        self.remaining -= size

    def _create(self, parts: tuple[str, ...], name: str):
        target = self.folder(parts[:-1], name) / parts[-1]
        if parts in self.files:  # a later member of the same name replaces the earlier one
            target.unlink()
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
        except FileExistsError as exc:
            raise self._refuse(name, "collides with a folder or link of the archive") from exc
        return target, os.fdopen(fd, "wb")

    def file(self, parts: tuple[str, ...], source, size: int, name: str) -> None:
        self._charge(size, name)
        target, out = self._create(parts, name)
        with out:
            shutil.copyfileobj(source, out, CHUNK_SIZE)
        if os.stat(target).st_size != size:
            raise FetchError(f"{self.archive}: member {name!r} is truncated")
        self.files[parts] = target
        self.links.pop(parts, None)

    def link(self, parts: tuple[str, ...], target: tuple[str, ...], name: str) -> None:
        """A link member: a copy of the regular file it names (found by following earlier links
        through the archive's own names, never through the filesystem)."""
        seen = 0
        while target in self.links:
            target = self.links[target]
            seen += 1
            if seen > MAX_LINK_HOPS:
                raise self._refuse(name, "is a chain of links too long to follow")
        if target not in self.files:
            raise self._refuse(name, "links to something that is not a file extracted before it (a folder, a "
                                     "missing member, or a path through links); refused")
        source = self.files[target]
        with open(source, "rb") as handle:
            self.file(parts, handle, os.fstat(handle.fileno()).st_size, name)
        self.links[parts] = target


def _parts(name: str) -> tuple[str, ...]:
    return tuple(p for p in PurePosixPath(name).parts if p not in ("", "."))


def _link_target(member: tarfile.TarInfo) -> tuple[str, ...] | None:
    """The archive name a link member points to, resolved lexically; None if it climbs out."""
    base = PurePosixPath(member.name).parent if member.issym() else PurePosixPath()
    parts: list[str] = []
    for part in (base / member.linkname).parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part not in ("", ".", "/"):
            parts.append(part)
    return tuple(parts)


def safe_extract(tar_path: Path, dest: Path, archive: str, max_bytes: int | None = None) -> int:
    """Extract every member of ``tar_path`` into ``dest`` (see ``_Confined``); the member count.
    ``max_bytes`` caps the bytes written (default: ``extract_cap`` of the archive's size)."""
    dest.mkdir(parents=True, exist_ok=True)
    cap = extract_cap(Path(tar_path).stat().st_size) if max_bytes is None else max_bytes
    writer = _Confined(dest, archive, cap)
    count = 0
    try:
        with tarfile.open(tar_path) as tar:
            for member in tar:
                check_member(member, archive)
                count += 1
                if count > MAX_MEMBERS:
                    raise UnsafeArchiveError(f"{archive}: more than {MAX_MEMBERS} members")
                parts = _parts(member.name)
                if not parts:
                    continue
                if member.isdir():
                    writer.folder(parts, member.name)
                elif member.isfile():
                    writer.file(parts, tar.extractfile(member), member.size, member.name)
                else:
                    target = _link_target(member)
                    if target is None:
                        raise UnsafeArchiveError(f"{archive}: member {member.name!r} links outside the extraction folder")
                    writer.link(parts, target, member.name)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise FetchError(f"{archive}: not a readable tar archive ({type(exc).__name__}: {exc})") from exc
    return count
