"""``finebench analyze``: the per-run report, and the paper's representation studies (§5.4).

``report`` reads a results directory; ``probe``, ``taxonomy`` and ``pca`` load one or more models
(``--model`` repeated, so two models are compared side by side) and write ``STUDY.json`` and
``STUDY.md`` into ``--out``, with extracted features cached in ``OUT/features``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from finebench.cli.leaderboard import DEFAULT_RESAMPLES, analyze_command

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Run report and representation analyses (probe, taxonomy, pca).")

Models = Annotated[list[str], typer.Option("--model", "-m", help="Model card or hf:PATH; repeat to compare models.")]
Out = Annotated[Path, typer.Option("--out", "-o", help="Output folder (features are cached in OUT/features).")]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1...")]
BatchSize = Annotated[int, typer.Option("--batch-size", "-b", help="Inputs per forward pass during feature extraction.")]


@app.command("report")
def report_cli(
    run: Annotated[Path, typer.Argument(metavar="RUN", help="Results directory of one run.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="[default: RUN/analysis]")] = None,
    shuffled: Annotated[Optional[Path], typer.Option("--shuffled", help="A run of the same model with shuffled options (--protocol finebench): adds the paper-vs-shuffled gap.")] = None,
    resamples: Annotated[int, typer.Option("--resamples", help="Bootstrap resamples over items.")] = DEFAULT_RESAMPLES,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
    top_k: Annotated[int, typer.Option("--top-k", help="Confusion pairs listed per task.")] = 20,
) -> None:
    """Per-class accuracy, top confusions, format compliance, no-answer rate, response length, seen/unseen
    gap; CircularEval position bias for circular runs."""
    typer.echo(f"analysis: {analyze_command(run, out=out, shuffled=shuffled, resamples=resamples, seed=seed, top_k=top_k)}")


@app.command("probe")
def probe_cli(
    model: Models,
    src: Annotated[Path, typer.Option("--src", help="The dataset's official extracted folder (e.g. CUB_200_2011), for labels and splits.")],
    data_root: Annotated[Path, typer.Option("--data-root", help="Where the images are, in the release layout (bird_200/images/...).")],
    out: Out = Path("analysis/probe"),
    dataset: Annotated[str, typer.Option(help="cub (the paper's), cars, dogs, flowers, pets or aircraft.")] = "cub",
    epochs: Annotated[int, typer.Option()] = 500,
    lr: Annotated[float, typer.Option()] = 1e-4,
    probe_batch_size: Annotated[int, typer.Option("--probe-batch-size")] = 512,
    max_per_class: Annotated[Optional[int], typer.Option("--max-per-class", help="Seeded cap on images per class and split [default: no cap].")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    batch_size: BatchSize = 8,
    device: Device = "auto",
) -> None:
    """H1: linear probe on mean-pooled image-token states of the last LLM layer (train split -> test split)."""
    from finebench.adapters.checkpoints import resolve_device
    from finebench.analysis.studies import ProbeSettings, probe_study
    from finebench.data.official import read_official

    manifest = read_official(dataset, src)
    settings = ProbeSettings(epochs=epochs, lr=lr, batch_size=probe_batch_size, seed=seed, max_per_class=max_per_class)
    result = _with_models(model, device, out, lambda loaded, cache, progress: probe_study(
        loaded, manifest, data_root, cache, settings, batch_size=batch_size, progress=progress, device=resolve_device(device)))
    rows = [(name, f"{r['best_test_accuracy'] * 100:.2f}", str(r["best_epoch"]), f"{r['final_test_accuracy'] * 100:.2f}")
            for name, r in result["models"].items()]
    _write(out, "probe", result, ["Model", "Best test acc. (%)", "Best epoch", "Final test acc. (%)"], rows)


@app.command("taxonomy")
def taxonomy_cli(
    model: Models,
    taxonomy: Annotated[Path, typer.Option("--taxonomy", help="Species file: 'Common Name<TAB>Genus species' per line (see finebench.analysis.taxonomy).")],
    out: Out = Path("analysis/taxonomy"),
    n_inter: Annotated[int, typer.Option("--n-inter", help="Other-genus species per comparison.")] = 4,
    seed: Annotated[int, typer.Option()] = 0,
    batch_size: BatchSize = 32,
    device: Device = "auto",
) -> None:
    """H2: is a species name closer to a same-genus species than to other-genus ones? (t-test per model)"""
    from finebench.analysis.studies import taxonomy_study
    from finebench.analysis.taxonomy import load_taxonomy

    genus_of = load_taxonomy(taxonomy)
    result = _with_models(model, device, out, lambda loaded, cache, _progress: taxonomy_study(
        loaded, genus_of, cache, n_inter=n_inter, seed=seed, batch_size=batch_size))
    rows = [(name, f"{r['mean_intra']:.4f}", f"{r['mean_inter']:.4f}", f"{r['mean_difference']:.4f}",
             f"{r['t_statistic']:.3f}", f"{r['p_value']:.3g}") for name, r in result["models"].items()]
    _write(out, "taxonomy", result, ["Model", "Intra sim.", "Inter sim.", "Difference", "t", "p"], rows)


@app.command("pca")
def pca_cli(
    model: Models,
    items: Annotated[Path, typer.Option("--items", help="A release item file (e.g. DATA_ROOT/fine-r1/eval/bird_unseen.jsonl).")],
    data_root: Annotated[Path, typer.Option("--data-root", help="The data root the item image paths are relative to.")],
    out: Out = Path("analysis/pca"),
    question: Annotated[str, typer.Option(help="Question per option; {name} is the class name.")] = "Is the bird species {name}?",
    limit: Annotated[Optional[int], typer.Option(help="Seeded random sample of N items [default: every item].")] = None,
    folds: Annotated[int, typer.Option(help="Cross-validation folds of the separability score.")] = 5,
    seed: Annotated[int, typer.Option()] = 0,
    batch_size: BatchSize = 8,
    device: Device = "auto",
) -> None:
    """H3: 2-D PCA of the last hidden state for correct vs incorrect names, and a linear-separability score."""
    from finebench.analysis.studies import check_pca_items, pca_study
    from finebench.evaluation.plan import select_items
    from finebench.tasks.items import load_items

    chosen = select_items(load_items(items), limit, seed)
    check_pca_items(chosen, folds, f"--items {items}" + (f" --limit {limit}" if limit else ""))
    result = _with_models(model, device, out, lambda loaded, cache, progress: pca_study(
        loaded, chosen, data_root, cache, out, question=question, folds=folds, seed=seed, batch_size=batch_size,
        progress=progress))
    rows = [(name, f"{r['separability'] * 100:.2f}", f"[{r['plot']}]({r['plot']})") for name, r in result["models"].items()]
    _write(out, "pca", result, ["Model", "Separability (CV acc., %)", "Plot"], rows,
           note=f"Majority baseline: {result['majority_baseline'] * 100:.2f}% (one correct option per item).")


def _with_models(names: list[str], device: str, out: Path, study: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """Load every model, run the study with a rich progress bar, release the models."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from finebench.analysis.features import FeatureCache
    from finebench.analysis.studies import load_model

    loaded = [load_model(name, device) for name in dict.fromkeys(names)]
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as bar:
        def progress(description: str, total: int) -> Callable[[int], None]:
            task = bar.add_task(description, total=total)
            return lambda done: bar.update(task, completed=done)

        return study(loaded, FeatureCache(Path(out) / "features"), progress)


def _write(out: Path, study: str, result: dict[str, Any], header: list[str], rows: list[tuple[str, ...]], note: str = "") -> None:
    from finebench.util.fsutil import atomic_write_json, atomic_write_text

    lines = [f"# finebench analyze {study}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    if note:
        lines += ["", note]
    atomic_write_json(Path(out) / f"{study}.json", result)
    atomic_write_text(Path(out) / f"{study}.md", "\n".join(lines) + "\n")
    typer.echo("\n".join(lines[2:]))
    typer.echo(f"{study}: {Path(out) / f'{study}.json'}")
