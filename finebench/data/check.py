"""Counting missing and corrupt images per task (or per dataset folder of a Stage-1 training file)
before a long run."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from finebench.tasks.config import TaskConfig
from finebench.tasks.items import load_items


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


def format_check(report: ImageCheck, prefix: str = "", examples: int = 5) -> list[str]:
    """The lines `data check` prints for one task (or Stage-1 folder): counts, then a few examples."""
    found = report.n_images - len(report.missing) - len(report.corrupt)
    lines = [f"{prefix}{report.task}\t{report.n_images} images\t{found} found\t{len(report.missing)} missing\t"
             f"{len(report.corrupt)} corrupt"]
    return lines + [f"  e.g. {rel}" for rel in (report.missing + report.corrupt)[:examples]]


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


def check_stage1_images(path: Path, data_root: Path, workers: int = 8) -> list[ImageCheck]:
    """The images of a Stage-1 SFT file (released ShareGPT layout), grouped by their first path
    component (one dataset folder each in the release); relative paths resolve under ``data_root``."""
    from finebench.data.formats import load_stage1, resolve_image

    images = sorted({image for sample in load_stage1(path) for image in sample.images})
    groups: dict[str, list[str]] = {}
    for image in images:
        groups.setdefault(Path(image).parts[0] if not Path(image).is_absolute() else "(absolute)", []).append(image)
    reports = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for group, paths in groups.items():
            report = ImageCheck(group, n_images=len(paths))
            for rel, status in zip(paths, pool.map(lambda p: image_status(resolve_image(p, data_root)), paths)):
                if status != "ok":
                    getattr(report, status).append(rel)
            reports.append(report)
    return reports
