"""``finebench data fetch [fine-r1] [cub cars dogs flowers pets aircraft | all]``.

Each named piece is fetched in turn (the items first, so the image check that follows can read
them); one that fails is reported and the others still run. Afterwards ``data check`` runs for
the fetched datasets' tasks and for the released Stage-1 file, and the exit status is 1 if
anything failed or an image is missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from finebench.data.check import check_stage1_images, check_task_images, format_check
from finebench.data.demo import RELEASE_ITEMS_DIR
from finebench.data.fetch.fetch import describe_dataset, describe_items, fetch_dataset, fetch_items
from finebench.data.fetch.options import FetchError, FetchOptions
from finebench.data.fetch.sources import STAGE1_FILE, DatasetSource, ItemSource
from finebench.util.suggest import unknown_name_error

ALL = "all"


def select(names: Sequence[str], items: ItemSource, datasets: Mapping[str, DatasetSource]) -> list[str]:
    """The requested pieces in fetch order (items first); none or ``all`` means everything."""
    known = [items.name, *datasets]
    wanted = set(names or [ALL])
    for name in sorted(wanted - {ALL, *known}):
        raise unknown_name_error("data", name, [*known, ALL], hint=f"one of {', '.join([*known, ALL])}")
    return known if ALL in wanted else [n for n in known if n in wanted]


def run_fetch(
    names: Sequence[str], options: FetchOptions, items: ItemSource, datasets: Mapping[str, DatasetSource],
    *, dry_run: bool = False,
) -> int:
    """Fetch (or, with ``dry_run``, describe) ``names``; the exit status."""
    selected = select(names, items, datasets)
    if options.from_dir is not None and not Path(options.from_dir).is_dir():
        raise FetchError(f"--from {options.from_dir}: no such folder (give the folder holding the files you downloaded)")
    log = options.log
    if dry_run:
        for name in selected:
            lines = describe_items(items, options) if name == items.name else describe_dataset(datasets[name], options)
            for line in lines:
                log(line)
        return 0
    failed = []
    for name in selected:
        try:
            if name == items.name:
                fetch_items(items, options)
            else:
                fetch_dataset(datasets[name], options)
        except FetchError as exc:
            failed.append(name)
            log(f"error: {exc}")
    images_ok = report_images([n for n in selected if n in datasets and n not in failed], options, datasets)
    if failed:
        log(f"not fetched: {', '.join(failed)}")
    return 0 if not failed and images_ok else 1


def report_images(names: Sequence[str], options: FetchOptions, datasets: Mapping[str, DatasetSource]) -> bool:
    """``data check`` for the tasks of ``names`` and the Stage-1 file's images of those datasets."""
    from finebench.tasks.index import TaskIndex

    root, log, ok = Path(options.data_root), options.log, True
    if not names:
        return True
    if not (root / RELEASE_ITEMS_DIR).is_dir():
        log(f"images not checked against the benchmark items: none in {root / RELEASE_ITEMS_DIR} "
            "(run `finebench data fetch fine-r1`)")
    else:
        index = TaskIndex()
        for task in index.expand(list(names)):
            report = check_task_images(index.load(task), root)
            ok &= report.ok
            for line in format_check(report):
                log(line)
    if (root / STAGE1_FILE).is_file():
        folders = {datasets[n].train.stage1.split("/", 1)[0] for n in names}
        for report in check_stage1_images(root / STAGE1_FILE, root):
            if report.task in folders:
                ok &= report.ok
                for line in format_check(report, prefix="stage1 "):
                    log(line)
    return ok
