"""``finebench data fetch``: the Fine-R1 items and the six datasets' images, checked and in place.

Downloads go through pooch (retries with back-off, a temporary file renamed into the cache only
once complete, progress reporting) with a downloader that continues an interrupted transfer from
its ``.part`` file with an HTTP Range request. Every file is checked against the sha256 pins of
``finebench.data.fetch.sources`` before anything is extracted; a mismatching download is deleted.

Nothing is ever half-placed: a dataset is extracted, validated (its annotations read by the
official-layout reader), given its Stage-1 train layout (hard links) and marked in a staging
folder inside the data root, then renamed into place. A folder that a previous fetch wrote is
replaced; any other folder in the way is left alone and reported.

Archives are extracted member by member after checking each one: no absolute path, no ``..``,
no link whose target leaves the extraction folder, nothing but files, folders and links (the
tarfile ``data`` filter is applied on top).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from finebench.data.fetch.download import download, sha256_of, verify
from finebench.data.fetch.extract import safe_extract
from finebench.data.fetch.options import (
    DEFAULT_DOWNLOAD_CAP,
    DOWNLOADS,
    MARKER,
    RELEASE_FILE_CAP,
    FetchError,
    FetchOptions,
    FetchResult,
)
from finebench.data.fetch.place import (
    blocking_folders,
    is_current,
    lay_out_train,
    marker_for,
    place_contents,
    read_marker,
    swap_in,
)
from finebench.data.fetch.sources import Archive, DatasetSource, ItemSource, ReleaseFile

# ---- a dataset -----------------------------------------------------------------------------------


def _pins(source: DatasetSource) -> dict[str, Sequence[str]]:
    return {a.name: a.sha256 for a in source.archives}


def dataset_state(source: DatasetSource, data_root: Path) -> str:
    """``current`` (in place, same files), ``blocked`` (a folder no fetch wrote is in the way),
    ``replace`` (an older fetch is there) or ``new``."""
    folders = [data_root / f for f in source.top_folders]
    if blocking_folders(source.top_folders, data_root):
        return "blocked"
    if all(f.is_dir() for f in folders) and all(is_current(read_marker(f), source.name, _pins(source)) for f in folders):
        return "current"
    return "replace" if any(f.exists() for f in folders) else "new"


def local_file(name: str, from_dir: Path | None, *relative: str) -> Path | None:
    """``from_dir/name``, or the first of ``from_dir/<relative path>`` that is a file."""
    if from_dir is None:
        return None
    for candidate in (*relative, name):
        if (Path(from_dir) / candidate).is_file():
            return Path(from_dir) / candidate
    return None


def _release_candidates(release_file: ReleaseFile) -> tuple[str, str]:
    """Where a release file sits in a clone of the repository, and in a copy of the folder a
    fetch writes (``eval/bird_seen.jsonl``, ``sft/Fine-R1-Stage1-data.json``)."""
    return release_file.path, release_file.dest.split("/", 1)[1]


def _obtain(archive: Archive, cache_dir: Path, options: FetchOptions) -> tuple[Path, bool]:
    """(path, downloaded?): from --from DIR, the cache, or the archive's URLs."""
    given = local_file(archive.name, options.from_dir)
    if given is not None:
        return given, False
    if (cache_dir / archive.name).is_file():  # a complete earlier download (checked like any other)
        return cache_dir / archive.name, True
    return download(archive.name, archive.urls, cache_dir, options, max_bytes=archive.size or DEFAULT_DOWNLOAD_CAP), True


def fetch_dataset(source: DatasetSource, options: FetchOptions) -> FetchResult:
    data_root, log = Path(options.data_root), options.log
    result = FetchResult(source.name)
    state = dataset_state(source, data_root)
    if state == "current":
        log(f"{source.name}: already in place ({', '.join(source.top_folders)})")
        return FetchResult(source.name, skipped=True)
    if state == "blocked":
        folders = ", ".join(str(p) for p in blocking_folders(source.top_folders, data_root))
        raise FetchError(f"{source.name}: {folders} exists and was not written by `finebench data fetch`; "
                         "move it away (or delete it) and run again")
    cache_dir = data_root / DOWNLOADS / source.name
    unavailable = [a for a in source.archives
                   if not a.urls and local_file(a.name, options.from_dir) is None and not (cache_dir / a.name).is_file()]
    if unavailable:
        names = ", ".join(a.name for a in unavailable)
        where = (f"and are not in --from {options.from_dir}" if options.from_dir is not None
                 else "; put the original file(s) in a folder and pass --from DIR")
        raise FetchError(f"{source.name}: {names} have no public download ({source.homepage}) {where} "
                         "(their sha256 are checked)")
    obtained = []
    for archive in source.archives:
        path, downloaded = _obtain(archive, cache_dir, options)
        log(f"{source.name}: verifying {archive.name}")
        digest = verify(path, archive.sha256, downloaded=downloaded, size=archive.size)
        obtained.append((archive, path, downloaded, digest))
    staging = data_root / f".fetch-{source.name}-{os.getpid()}"
    try:
        for archive, path, _, _ in obtained:
            if archive.is_tar:
                log(f"{source.name}: extracting {archive.name}")
                raw = staging / ".raw" / archive.name
                safe_extract(path, raw, archive.name)
                place_contents(raw, archive.strip, staging / archive.into, archive.name)
                shutil.rmtree(raw)
            else:
                (staging / archive.into).mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, staging / archive.into / archive.name)
        lay_out_train(source, staging, result)
        marker = marker_for(source.name, {a.name: digest for a, _, _, digest in obtained})
        for folder in source.top_folders:
            (staging / folder).mkdir(parents=True, exist_ok=True)
            (staging / folder / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        for folder in source.top_folders:
            swap_in(staging / folder, data_root / folder)
            result.placed.append(data_root / folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not options.keep_archives:
        for _, path, downloaded, _ in obtained:
            if downloaded:
                path.unlink(missing_ok=True)
    how = f", {result.copied} copied (no hard links)" if result.copied else ""
    log(f"{source.name}: placed {', '.join(source.top_folders)}; {result.train_images} train images in the "
        f"Stage-1 layout ({source.train.stage1}){how}")
    return result


# ---- the Fine-R1 items ---------------------------------------------------------------------------


def _release_files(source: ItemSource) -> tuple[ReleaseFile, ...]:
    return (*source.eval_files, source.sft_file)


def items_current(source: ItemSource, data_root: Path) -> bool:
    return all((data_root / f.dest).is_file() and sha256_of(data_root / f.dest) == f.sha256
               for f in _release_files(source))


def fetch_items(source: ItemSource, options: FetchOptions) -> FetchResult:
    """The 12 item files, validated row by row and imported as ``data import-fine-r1`` does,
    and the Stage-1 SFT file, all checked against their sha256 pins first."""
    from finebench.data.formats import load_stage1
    from finebench.data.release import import_release
    from finebench.util.fsutil import atomic_write_bytes

    data_root, log = Path(options.data_root), options.log
    if items_current(source, data_root):
        log(f"{source.name}: already in place")
        return FetchResult(source.name, skipped=True)
    cache_dir = data_root / DOWNLOADS / source.name
    verified: dict[ReleaseFile, tuple[Path, bool]] = {}
    for release_file in _release_files(source):
        name = PurePosixPath(release_file.path).name
        path = local_file(name, options.from_dir, *_release_candidates(release_file))
        downloaded = path is None
        if downloaded:
            cap = getattr(release_file, "size", None) or RELEASE_FILE_CAP
            path = download(name, [source.base_url + release_file.path], cache_dir, options, max_bytes=cap)
        verify(path, (release_file.sha256,), downloaded=downloaded)
        verified[release_file] = (path, downloaded)
    staging = data_root / f".fetch-{source.name}-{os.getpid()}"
    try:
        (staging / "eval").mkdir(parents=True, exist_ok=True)
        for release_file in source.eval_files:
            shutil.copyfile(verified[release_file][0], staging / "eval" / PurePosixPath(release_file.dest).name)
        sft_path = verified[source.sft_file][0]
        load_stage1(sft_path)  # structurally valid before anything is placed
        report = import_release(staging / "eval", data_root)
        atomic_write_bytes(data_root / source.sft_file.dest, sft_path.read_bytes())
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not options.keep_archives:
        for path, downloaded in verified.values():
            if downloaded:
                path.unlink(missing_ok=True)
    log(f"{source.name}: {sum(report.rows.values())} items in {len(report.rows)} files into {report.destination}; "
        f"Stage-1 SFT file at {data_root / source.sft_file.dest}")
    return FetchResult(source.name, placed=[report.destination, data_root / source.sft_file.dest])


# ---- the plan (--dry-run) ------------------------------------------------------------------------


def _size(n: int | None) -> str:
    if n is None:
        return "size unknown"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def _origin(name: str, urls: Sequence[str], cache_dir: Path, options: FetchOptions, relative: Sequence[str] = ()) -> str:
    given = local_file(name, options.from_dir, *relative)
    if given is not None:
        return f"from {given}"
    if (cache_dir / name).is_file():
        return f"cached at {cache_dir / name}"
    if not urls:
        return "NO PUBLIC DOWNLOAD: needs --from DIR"
    resume = " (resuming a partial download)" if (cache_dir / f"{name}.part").is_file() else ""
    return f"download {urls[0]}{resume}" + (f" (+{len(urls) - 1} mirror(s))" if len(urls) > 1 else "")


def describe_items(source: ItemSource, options: FetchOptions) -> list[str]:
    data_root = Path(options.data_root)
    state = "already in place" if items_current(source, data_root) else "will be fetched"
    lines = [f"{source.name}: {len(_release_files(source))} files, {state}"]
    for f in _release_files(source):
        name = PurePosixPath(f.path).name
        origin = _origin(name, [source.base_url + f.path], data_root / DOWNLOADS / source.name, options,
                         _release_candidates(f))
        lines.append(f"  {f.path} -> {data_root / f.dest}  sha256 {f.sha256[:12]}…  {origin}")
    return lines


def describe_dataset(source: DatasetSource, options: FetchOptions) -> list[str]:
    data_root = Path(options.data_root)
    state = {
        "current": "already in place",
        "blocked": "BLOCKED: a folder not written by `data fetch` is in the way",
        "replace": "will replace an earlier fetch",
        "new": "will be fetched",
    }[dataset_state(source, data_root)]
    lines = [f"{source.name}: {state}; images under {data_root / source.folder}, train images linked under "
             f"{data_root / source.train.stage1}"]
    for a in source.archives:
        origin = _origin(a.name, a.urls, data_root / DOWNLOADS / source.name, options)
        unpack = f"contents of {a.strip}/ " if a.strip else ""
        lines.append(f"  {a.name} ({_size(a.size)}, sha256 {a.sha256[0][:12]}…) {origin}; {unpack}-> "
                     f"{data_root / a.into}")
    return lines
