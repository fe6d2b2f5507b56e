"""``finebench data fetch``: the Fine-R1 items and the six datasets' images, checked and in place.

Downloads go through pooch (retries with back-off, a temporary file renamed into the cache only
once complete, progress reporting) with a downloader that continues an interrupted transfer from
its ``.part`` file with an HTTP Range request. Every file is checked against the sha256 pins of
``finebench.data.sources`` before anything is extracted; a mismatching download is deleted.

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
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from finebench.data.sources import Archive, DatasetSource, ItemSource, ReleaseFile
from finebench.errors import DataLayoutError, FinebenchError

MARKER = ".finebench-fetch.json"
"""Written into every folder a fetch places; a re-fetch replaces only folders holding it."""
DOWNLOADS = ".downloads"
"""The download cache, inside the data root (same filesystem, so placing is a rename)."""
RETRIES = 3
CHUNK_SIZE = 1 << 16
"""Bytes per write; an interrupted transfer loses at most its last chunk."""


class FetchError(FinebenchError):
    """A file could not be obtained, failed its checksum, or does not form the expected layout."""


class UnsafeArchiveError(FetchError):
    """An archive member would be written (or point) outside the extraction folder."""


Log = Callable[[str], None]


@dataclass(frozen=True)
class FetchOptions:
    data_root: Path
    from_dir: Path | None = None
    """Files the user already downloaded, found by name (or by repository path for fine-r1)."""
    keep_archives: bool = False
    """Keep downloaded archives in DATA_ROOT/.downloads after they are placed."""
    progress: bool = False
    """Show a progress bar per download (on stderr)."""
    retries: int = RETRIES
    log: Log = print


@dataclass
class FetchResult:
    name: str
    skipped: bool = False
    """Already in place from an earlier fetch of the same files."""
    placed: list[Path] = field(default_factory=list)
    train_images: int = 0
    copied: int = 0
    """Train images copied because hard links were refused (another filesystem)."""


# ---- downloading ---------------------------------------------------------------------------------


class ResumableDownloader:
    """A pooch downloader that appends to ``partial`` with an HTTP Range request when a previous
    attempt (this run's or an earlier one's) left part of the file there."""

    def __init__(self, partial: Path, progress: bool = False, timeout: float = 60.0) -> None:
        self.partial = partial
        self.progress = progress
        self.timeout = timeout

    def __call__(self, url: str, output_file: str, pooch: object, check_only: bool = False) -> bool | None:
        import requests

        if check_only:
            return requests.head(url, timeout=self.timeout, allow_redirects=True).status_code == 200
        offset = self.partial.stat().st_size if self.partial.is_file() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with requests.get(url, headers=headers, stream=True, timeout=self.timeout) as response:
            if not (offset and response.status_code == 416):  # 416: the partial file is already whole
                response.raise_for_status()
                resumed = offset > 0 and response.status_code == 206
                if resumed and not response.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
                    self.partial.unlink()
                    raise requests.exceptions.RequestException(f"{url}: the server resumed at another byte")
                start = offset if resumed else 0
                total = start + int(response.headers.get("Content-Length", 0) or 0)
                self._stream(response, "ab" if resumed else "wb", start, total)
        os.replace(self.partial, output_file)
        return None

    def _stream(self, response, mode: str, start: int, total: int) -> None:
        with open(self.partial, mode) as out, _DownloadBar(self.partial.name.removesuffix(".part"), start, total,
                                                  self.progress) as advance:
            for chunk in response.iter_content(chunk_size=CHUNK_SIZE):
                out.write(chunk)
                advance(len(chunk))


class _DownloadBar:
    """A rich download bar on stderr, or nothing."""

    def __init__(self, name: str, start: int, total: int, enabled: bool) -> None:
        self._progress = None
        if enabled:
            from rich.console import Console
            from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

            self._progress = Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(),
                                      console=Console(stderr=True), transient=True)
            self._task = self._progress.add_task(name, total=total or None, completed=start)

    def __enter__(self) -> Callable[[int], None]:
        if self._progress is None:
            return lambda n: None
        self._progress.start()
        return lambda n: self._progress.advance(self._task, n)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def download(name: str, urls: Sequence[str], cache_dir: Path, options: FetchOptions) -> Path:
    """``cache_dir/name`` from the first URL that works (each retried ``options.retries`` times)."""
    import pooch
    import requests

    failures = []
    for url in urls:
        store = pooch.create(path=cache_dir, base_url="", registry={name: None}, urls={name: url},
                             retry_if_failed=options.retries)
        downloader = ResumableDownloader(cache_dir / f"{name}.part", progress=options.progress)
        try:
            return Path(store.fetch(name, downloader=downloader))
        except (requests.exceptions.RequestException, OSError, ValueError) as exc:
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
    raise FetchError(f"could not download {name}:\n  " + "\n  ".join(failures)
                     + f"\n  (download it yourself and pass --from DIR; a partial download in {cache_dir} is resumed next time)")


# ---- checksums -----------------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    import pooch

    return pooch.file_hash(str(path), alg="sha256")


def verify(path: Path, accepted: Sequence[str], *, downloaded: bool) -> str:
    """The file's sha256 if it is one of ``accepted``; a mismatching download is deleted."""
    digest = sha256_of(path)
    if digest in accepted:
        return digest
    if downloaded:
        path.unlink()
    what = "deleted it; run again to download it afresh" if downloaded else "not using it"
    raise FetchError(f"{path}: sha256 {digest} does not match the pinned {' or '.join(accepted)} ({what})")


# ---- safe extraction -----------------------------------------------------------------------------


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


def place_contents(extracted: Path, strip: str, dest: Path, archive: str) -> None:
    """Move the contents of ``extracted/strip`` into ``dest`` (which may already hold other
    archives' contents; the same name from two archives is an error)."""
    root = extracted / strip if strip else extracted
    if not root.is_dir():
        raise FetchError(f"{archive}: no top folder {strip!r} (is this the official archive?)")
    dest.mkdir(parents=True, exist_ok=True)
    for child in sorted(root.iterdir()):
        target = dest / child.name
        if target.exists():
            raise FetchError(f"{archive}: {child.name!r} is also in another archive of the dataset")
        os.replace(child, target)


# ---- the Stage-1 train layout --------------------------------------------------------------------


def link_or_copy(source: Path, target: Path) -> bool:
    """Hard-link ``source`` at ``target`` (no second copy of the bytes); copy where links are
    refused. True if it had to copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
        return False
    except OSError:
        shutil.copy2(source, target)
        return True


def lay_out_train(source: DatasetSource, root: Path, result: FetchResult) -> None:
    """Every official TRAIN image of the dataset (in ``root``) also under the Stage-1 path."""
    from finebench.data.official import read_official

    try:
        manifest = read_official(source.name, root / source.folder)
    except DataLayoutError as exc:
        raise FetchError(f"{source.name}: the archives do not form the official layout: {exc}") from exc
    layout, missing = source.train, []
    for record in manifest.records:
        if record.split != "train":
            continue
        if not record.image_path.startswith(layout.official):
            raise FetchError(f"{source.name}: train image {record.image_path} is not under {layout.official}")
        image = root / record.image_path
        if not image.is_file():
            missing.append(record.image_path)
            continue
        result.copied += link_or_copy(image, root / (layout.stage1 + record.image_path[len(layout.official):]))
        result.train_images += 1
    if missing:
        raise FetchError(f"{source.name}: {len(missing)} train image(s) named by the annotations are not in the "
                         f"archives, e.g. {missing[0]}")


# ---- placing folders -----------------------------------------------------------------------------


def read_marker(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def marker_for(name: str, digests: dict[str, str]) -> dict:
    return {"fetched_by": "finebench data fetch", "name": name, "files": digests}


def is_current(marker: dict | None, name: str, pins: dict[str, Sequence[str]]) -> bool:
    """The marker records the same files, each with an accepted digest."""
    if not marker or marker.get("name") != name or set(marker.get("files", {})) != set(pins):
        return False
    return all(marker["files"][f] in accepted for f, accepted in pins.items())


def blocking_folders(folders: Sequence[str], data_root: Path) -> list[Path]:
    """Existing folders in the way that no fetch wrote (never replaced)."""
    return [data_root / f for f in folders if (data_root / f).exists() and read_marker(data_root / f) is None]


def swap_in(staged: Path, target: Path) -> None:
    """Rename ``staged`` to ``target``; a previous fetch's ``target`` is retired, then deleted."""
    if not target.exists():
        os.replace(staged, target)
        return
    retired = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.replace(target, retired)
    os.replace(staged, target)
    shutil.rmtree(retired)


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
    return download(archive.name, archive.urls, cache_dir, options), True


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
        raise FetchError(f"{source.name}: {names} have no public download ({source.homepage}); put the original "
                         "file(s) in a folder and pass --from DIR (their sha256 are checked)")
    obtained = []
    for archive in source.archives:
        path, downloaded = _obtain(archive, cache_dir, options)
        log(f"{source.name}: verifying {archive.name}")
        obtained.append((archive, path, downloaded, verify(path, archive.sha256, downloaded=downloaded)))
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
    from finebench.data.release import import_release
    from finebench.fsutil import atomic_write_bytes
    from finebench.training.formats import load_stage1

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
            path = download(name, [source.base_url + release_file.path], cache_dir, options)
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
