"""Counting missing and corrupt images per task before a long run."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from finebench.items import load_items
from finebench.taskconfig import TaskConfig


@dataclass
class ImageCheck:
    task: str
    n_images: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.corrupt


def image_status(path: Path) -> str:
    """``ok``, ``missing`` or ``corrupt`` (fully decoded: a truncated JPEG is caught here)."""
    if not path.is_file():
        return "missing"
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
    except Exception:
        return "corrupt"
    return "ok"


def check_task_images(task: TaskConfig, data_root: Path, workers: int = 8) -> ImageCheck:
    items = load_items(Path(data_root) / task.source)
    paths = sorted({item.image_path for item in items})
    report = ImageCheck(task.name, n_images=len(paths))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for rel, status in zip(paths, pool.map(lambda p: image_status(Path(data_root) / p), paths)):
            if status == "missing":
                report.missing.append(rel)
            elif status == "corrupt":
                report.corrupt.append(rel)
    return report
