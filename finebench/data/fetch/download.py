"""Downloading and checking archives: pooch (retries with back-off, a temporary file renamed into the
cache only once complete) with a downloader that resumes an interrupted transfer from its .part file
with an HTTP Range request and stops (deleting it) once it passes its cap, the pinned size where
known, so an endless or oversized response cannot fill the disk; every file is checked against its
sha256 pins before use, and a mismatching download is deleted."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from finebench.data.fetch.options import CHUNK_SIZE, DEFAULT_DOWNLOAD_CAP, FetchError, FetchOptions


class ResumableDownloader:
    """A pooch downloader that appends to ``partial`` with an HTTP Range request when a previous
    attempt (this run's or an earlier one's) left part of the file there."""

    def __init__(self, partial: Path, progress: bool = False, timeout: float = 60.0,
                 max_bytes: int = DEFAULT_DOWNLOAD_CAP) -> None:
        self.partial = partial
        self.progress = progress
        self.timeout = timeout
        self.max_bytes = max_bytes

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
                try:
                    total = start + int(response.headers.get("Content-Length", 0) or 0)
                except ValueError:
                    total = start
                if total > self.max_bytes:
                    self.partial.unlink(missing_ok=True)
                    raise self._too_large(url)
                self._stream(response, "ab" if resumed else "wb", start, total, url)
        os.replace(self.partial, output_file)
        return None

    def _too_large(self, url: str) -> FetchError:
        return FetchError(f"{url}: the server sends more than the expected {self.max_bytes} bytes; "
                          "refused (a wrong or hostile file), nothing kept")

    def _stream(self, response, mode: str, start: int, total: int, url: str) -> None:
        written = start
        with open(self.partial, mode) as out, _DownloadBar(self.partial.name.removesuffix(".part"), start, total,
                                                  self.progress) as advance:
            for chunk in response.iter_content(chunk_size=CHUNK_SIZE):
                written += len(chunk)
                if written > self.max_bytes:  # an endless or oversized response stops here
                    out.close()
                    self.partial.unlink(missing_ok=True)
                    raise self._too_large(url)
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


def download(name: str, urls: Sequence[str], cache_dir: Path, options: FetchOptions,
             max_bytes: int = DEFAULT_DOWNLOAD_CAP) -> Path:
    """``cache_dir/name`` from the first URL that works (each retried ``options.retries`` times)."""
    import pooch
    import requests

    failures = []
    for url in urls:
        store = pooch.create(path=cache_dir, base_url="", registry={name: None}, urls={name: url},
                             retry_if_failed=options.retries)
        downloader = ResumableDownloader(cache_dir / f"{name}.part", progress=options.progress, max_bytes=max_bytes)
        try:
            return Path(store.fetch(name, downloader=downloader))
        except (requests.exceptions.RequestException, OSError, ValueError) as exc:
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
    raise FetchError(f"could not download {name}:\n  " + "\n  ".join(failures)
                     + f"\n  (download it yourself and pass --from DIR; a partial download in {cache_dir} is resumed next time)")


def sha256_of(path: Path) -> str:
    import pooch

    return pooch.file_hash(str(path), alg="sha256")


def verify(path: Path, accepted: Sequence[str], *, downloaded: bool, size: int | None = None) -> str:
    """The file's sha256 if it is one of ``accepted`` (and, when ``size`` is given, the file has
    that many bytes: checked first, so a truncated or wrong file is not hashed); a mismatching
    download is deleted."""
    what = "deleted it; run again to download it afresh" if downloaded else "not using it"
    actual = path.stat().st_size
    if size is not None and actual != size:
        if downloaded:
            path.unlink()
        raise FetchError(f"{path}: {actual} bytes, not the pinned {size} ({what})")
    digest = sha256_of(path)
    if digest in accepted:
        return digest
    if downloaded:
        path.unlink()
    raise FetchError(f"{path}: sha256 {digest} does not match the pinned {' or '.join(accepted)} ({what})")
