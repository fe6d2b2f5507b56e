"""`finebench data ...`: import the release items, fetch the datasets, build and check benchmark data,
write the demo and the synthetic benchmark."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from finebench.cli.options import DataRoot, split_names
from finebench.util.errors import FinebenchError

data_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Import, build and check benchmark data.")


@data_app.command("import-fine-r1")
def import_fine_r1(
    src: Annotated[Path, typer.Argument(metavar="SRC", help="The release's eval/ folder with the 12 *.jsonl files.")],
    data_root: DataRoot = None,
    unpinned: Annotated[bool, typer.Option("--unpinned", help="Import files that differ from the pinned Fine-R1 release (your own variant).")] = False,
) -> None:
    """Check the released item files against their pinned sha256 and validate every row, then copy
    them into the data root."""
    from finebench.data.release import import_release, pinned_release_hashes
    from finebench.util.resources import default_data_root

    report = import_release(src, Path(data_root or default_data_root()).expanduser(),
                            None if unpinned else pinned_release_hashes())
    typer.echo(f"imported {sum(report.rows.values())} items in {len(report.rows)} files into {report.destination}")


@data_app.command("fetch")
def fetch(
    names: Annotated[Optional[list[str]], typer.Argument(metavar="NAMES", show_default=False, help="fine-r1, cub, cars, dogs, flowers, pets, aircraft or all [default: all].")] = None,
    data_root: DataRoot = None,
    from_dir: Annotated[Optional[Path], typer.Option("--from", help="Folder with files you already downloaded (archives by name, or a clone of the Fine-R1 repository).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would be fetched and where; fetch nothing.")] = False,
    keep_archives: Annotated[bool, typer.Option("--keep-archives", help="Keep downloads in DATA_ROOT/.downloads after placing them.")] = False,
) -> None:
    """Download, verify (sha256) and place the Fine-R1 items and the datasets' images (test and
    Stage-1 train layouts) under the data root, then check them (exit 1 if anything is missing)."""
    from finebench.data.fetch.options import FetchOptions
    from finebench.data.fetch.run import run_fetch
    from finebench.data.fetch.sources import DATASETS, FINE_R1
    from finebench.util.resources import default_data_root

    options = FetchOptions(Path(data_root or default_data_root()).expanduser(), from_dir=from_dir,
                           keep_archives=keep_archives, progress=True, log=typer.echo)
    code = run_fetch(names or [], options, FINE_R1, DATASETS, dry_run=dry_run)
    if code:
        raise typer.Exit(code)


@data_app.command("check")
def check(
    tasks: Annotated[str, typer.Option("--tasks", "-t")] = "fgvr",
    data_root: DataRoot = None,
    sft: Annotated[Optional[Path], typer.Option("--sft", help="Check this Stage-1 training file's images instead of the tasks'.")] = None,
) -> None:
    """Count found, missing and corrupt images per task, or per dataset folder of a Stage-1
    training file with --sft (exit 1 if any is missing or corrupt)."""
    from finebench.data.check import check_stage1_images, check_task_images, format_check
    from finebench.tasks.index import TaskIndex
    from finebench.util.resources import default_data_root

    root = Path(data_root or default_data_root()).expanduser()
    if sft is not None:
        reports = check_stage1_images(sft, root)
    else:
        index = TaskIndex()
        reports = [check_task_images(index.load(name), root) for name in index.expand(split_names(tasks))]
    for report in reports:
        for line in format_check(report):
            typer.echo(line)
    if sft is not None and any(report.missing for report in reports):
        typer.echo("missing training images: `finebench data fetch cub cars dogs flowers pets aircraft "
                   f"--data-root {root}` lays out the released Stage-1 train images there")
    if not all(report.ok for report in reports):
        raise typer.Exit(1)


@data_app.command("build")
def build(
    dataset: Annotated[str, typer.Option("--dataset", help="cub, cars, dogs, flowers, pets or aircraft.")],
    src: Annotated[Path, typer.Option("--src", help="The dataset's official extracted folder.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the item files (e.g. DATA_ROOT/my-variant).")],
    seen_fraction: Annotated[float, typer.Option("--seen-fraction")] = 0.6,
    seed: Annotated[int, typer.Option()] = 0,
    shots: Annotated[int, typer.Option(help="Train images per seen class in the few-shot list.")] = 4,
    distractors: Annotated[str, typer.Option(help="hard: look-alike classes by CLIP image embeddings (class names without the images); random: uniform.")] = "hard",
    encoder: Annotated[Optional[str], typer.Option(help="CLIP-like model (HF id or folder) for hard distractors [default: openai/clip-vit-base-patch32].")] = None,
    device: Annotated[str, typer.Option(help="Device for the encoder: cpu, cuda...")] = "cpu",
) -> None:
    """Build a benchmark variant (seeded seen/unseen class split, look-alike distractors, few-shot
    train list) from an official dataset layout, in the release item format."""
    from finebench.data.variant import build_benchmark

    try:
        counts = build_benchmark(dataset, src, out, seen_fraction=seen_fraction, seed=seed, shots=shots,
                                 distractors=distractors, encoder=encoder, device=device)
    except ValueError as exc:
        raise FinebenchError(str(exc)) from exc
    typer.echo(json.dumps(counts, indent=2, default=str))


@data_app.command("demo")
def demo_data(
    data_root: Annotated[Path, typer.Option("--data-root")],
    items_per_file: Annotated[int, typer.Option("--items-per-file")] = 2,
) -> None:
    """Write the offline demo data (generated images in the release layout)."""
    from finebench.data.demo import write_demo_data_root

    typer.echo(str(write_demo_data_root(data_root, items_per_file)))


@data_app.command("synth")
def synth_data(
    data_root: DataRoot = None,
    variant: Annotated[str, typer.Option(help="base (tasks synth_*) or hard (synth_hard_*: intra-class nuisance, look-alikes that differ on a small badge).")] = "base",
    seed: Annotated[int, typer.Option(help="Seeds the class split, the images and every file.")] = 0,
    image_size: Annotated[Optional[int], typer.Option("--image-size", help="Side of the square images, in pixels [default: 84, the synth recipes' pixel bound].")] = None,
    test_per_class: Annotated[int, typer.Option("--test-per-class")] = 4,
    train_per_class: Annotated[int, typer.Option("--train-per-class")] = 16,
) -> None:
    """Write the synthetic compositional benchmark (tasks synth_*, group synth; or synth_hard_*,
    group synth_hard) with its Stage-1 CoT samples and Stage-2 triplets under DATA_ROOT/synth
    (DATA_ROOT/synth_hard)."""
    from finebench.data.synthetic import BASE, build_synthetic
    from finebench.data.synthetic_hard import HARD
    from finebench.util.resources import default_data_root

    variants = {"base": BASE, "hard": HARD}
    if variant not in variants:
        raise FinebenchError(f"--variant must be one of {', '.join(variants)}, got {variant!r}")
    try:
        report = build_synthetic(Path(data_root or default_data_root()).expanduser(), seed=seed,
                                 image_size=image_size, test_per_class=test_per_class,
                                 train_per_class=train_per_class, variant=variants[variant])
    except ValueError as exc:
        raise FinebenchError(str(exc)) from exc
    typer.echo(
        f"{report.name}: {report.seen_classes} seen / {report.unseen_classes} unseen classes, {report.seen_items} + "
        f"{report.unseen_items} items, {report.train_images} train images under {report.root / report.name}\n"
        f"stage 1: {report.stage1_file} ({report.stage1_samples} samples)\n"
        f"stage 2: {report.stage2_file} ({report.stage2_triplets} triplets)"
    )
