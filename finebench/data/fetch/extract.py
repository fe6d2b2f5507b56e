"""Extracting archives safely: member by member, after checking each one (no absolute path, no ..,
no link whose target leaves the extraction folder, nothing but files, folders and links), with the
tarfile data filter on top."""

from __future__ import annotations

import tarfile
from pathlib import Path, PurePosixPath

from finebench.data.fetch.options import FetchError, UnsafeArchiveError


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


def safe_extract(tar_path: Path, dest: Path, archive: str) -> int:
    """Extract every member of ``tar_path`` into ``dest`` after checking it; the member count."""
    dest.mkdir(parents=True, exist_ok=True)
    count = 0
    try:
        with tarfile.open(tar_path) as tar:
            for member in tar:
                check_member(member, archive)
                try:
                    tar.extract(member, dest, filter="data")
                except tarfile.FilterError as exc:
                    raise UnsafeArchiveError(f"{archive}: member {member.name!r} refused ({exc})") from exc
                count += 1
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, FetchError):
            raise
        raise FetchError(f"{archive}: not a readable tar archive ({type(exc).__name__}: {exc})") from exc
    return count
