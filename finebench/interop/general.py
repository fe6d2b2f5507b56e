"""General capability (paper Appendix F): does FGVR training cost a model its general skills?

finebench does not re-implement general benchmarks; it hands the model card to lmms-eval, which
has MME, MMBench and SEED-Bench, runs it in a subprocess (lmms-eval configures logging and
accelerate for itself, and a crash there must not take finished FGVR results with it), reads the
score each benchmark is known by and stores it under ``general`` in the run's ``results.json``,
where the leaderboard shows it next to the FGVR averages.

ImageWikiQA is not shipped with lmms-eval 0.7: its entry names the task ``imagewikiqa`` that a
user-provided task folder (``--lmms-include-path``) must define, with an ``accuracy`` metric.

Which lmms-eval model runs a card: the card's ``lmms`` block (``{model: ID, model_args: {...}}``)
when it has one; for an ``lmms`` card its own model; otherwise lmms-eval's generic transformers
chat model (``huggingface``) on the card's checkpoint.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finebench.models.cards import ModelCard
from finebench.util.errors import ConfigError, FinebenchError
from finebench.util.suggest import unknown_name_error


@dataclass(frozen=True)
class GeneralBenchmark:
    name: str
    """finebench's name (``--general`` value and leaderboard column key)."""
    label: str
    lmms_task: str
    metrics: tuple[str, ...]
    """lmms-eval metric keys whose sum is the benchmark's score (MME: perception + cognition)."""
    unit: str
    """``score`` (MME's 0-2800 scale) or ``%``."""
    from_hub: bool = True
    """lmms-eval downloads its dataset from the Hugging Face Hub (not ImageWikiQA: the user's task folder)."""


GENERAL_BENCHMARKS: tuple[GeneralBenchmark, ...] = (
    GeneralBenchmark("mme", "MME", "mme", ("mme_perception_score", "mme_cognition_score"), "score"),
    GeneralBenchmark("mmbench", "MMBench", "mmbench_en_dev", ("gpt_eval_score",), "%"),
    GeneralBenchmark("seedbench", "SEED-Bench", "seedbench", ("seed_image",), "%"),
    GeneralBenchmark("imagewikiqa", "ImageWikiQA", "imagewikiqa", ("accuracy",), "%", from_hub=False),
)
BY_NAME = {b.name: b for b in GENERAL_BENCHMARKS}


def select_benchmarks(spec: str) -> list[GeneralBenchmark]:
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise ConfigError(f"--general names no benchmark; choose from {', '.join(BY_NAME)}")
    for name in names:
        if name not in BY_NAME:
            raise unknown_name_error("general benchmark", name, BY_NAME)
    return [BY_NAME[n] for n in names]


def lmms_model_for(card: ModelCard) -> tuple[str, dict[str, Any]]:
    """The lmms-eval model id and constructor arguments that run this card (module docstring)."""
    where = card.source_file or card.name
    if card.lmms:
        model, args = card.lmms.get("model"), card.lmms.get("model_args", {})
        if not isinstance(model, str) or not isinstance(args, dict) or set(card.lmms) - {"model", "model_args"}:
            raise ConfigError(f"{where}: key 'lmms' must be {{model: LMMS_EVAL_ID, model_args: {{...}}}}")
        return model, dict(args)
    if card.adapter == "lmms":
        return card.model, dict(card.adapter_options.get("model_args", {}))
    if card.adapter in ("hf", "vllm"):
        from finebench.adapters.checkpoints import BUILTIN_PREFIX, resolve_source
        from finebench.util.hub import local_or_hub_id

        # lmms-eval downloads a Hub id itself (check_datasets_reachable covers the Hub); a folder must exist
        source = resolve_source(card) if card.model.startswith(BUILTIN_PREFIX) else local_or_hub_id(card.model, f"model {card.name!r}")
        args: dict[str, Any] = {"pretrained": source}
        if card.trust_remote_code:
            args["trust_remote_code"] = True
        return "huggingface", args
    raise FinebenchError(f"model {card.name!r} ({card.adapter} adapter) has no lmms-eval equivalent; add an 'lmms' block to its card")


def check_datasets_reachable(benchmarks: Sequence[GeneralBenchmark]) -> None:
    """lmms-eval downloads each benchmark's dataset from the Hugging Face Hub; with the Hub out of
    reach (and ``HF_HUB_OFFLINE`` unset, i.e. no promise that the datasets are cached) it would
    retry for minutes and end in a traceback. One line instead, before any model loads."""
    from finebench.util.hub import hub_endpoint, hub_offline_requested, hub_unreachable_reason

    names = ", ".join(b.name for b in benchmarks if b.from_hub)
    if not names or hub_offline_requested():
        return
    reason = hub_unreachable_reason()
    if reason is not None:
        raise FinebenchError(
            f"--general {names}: lmms-eval downloads these benchmarks' datasets from the Hugging Face Hub, and "
            f"{hub_endpoint()} cannot be reached ({reason}); run where it can, or, with the datasets already in "
            "your Hugging Face cache, set HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1"
        )


def lmms_command(
    card: ModelCard, benchmarks: Sequence[GeneralBenchmark], output_dir: Path, *, batch_size: int,
    device: str, include_path: Path | None = None, limit: int | None = None,
) -> list[str]:
    """The lmms-eval command line for one card and a set of benchmarks."""
    from finebench.adapters.lmms import arg_string

    model, args = lmms_model_for(card)
    if device != "auto":
        args.setdefault("device", device)
        args.setdefault("device_map", device)
    command = [
        sys.executable, "-m", "lmms_eval", "--model", model, "--tasks", ",".join(b.lmms_task for b in benchmarks),
        "--batch_size", str(batch_size), "--output_path", str(output_dir),
    ]
    if args:
        command += ["--model_args", arg_string(args)]
    if include_path is not None:
        command += ["--include_path", str(include_path)]
    if limit is not None:
        command += ["--limit", str(limit)]
    return command


def parse_lmms_results(data: Mapping[str, Any], benchmarks: Sequence[GeneralBenchmark], source: str) -> dict[str, Any]:
    """``{name: {"score", "unit", "lmms_task", "metrics"}}`` from an lmms-eval results file, whose
    metric keys look like ``"seed_image,none"`` (metric, filter)."""
    results = data.get("results")
    if not isinstance(results, dict):
        raise FinebenchError(f"{source}: no 'results' mapping (not an lmms-eval results file?)")
    parsed = {}
    for benchmark in benchmarks:
        entry = results.get(benchmark.lmms_task)
        if not isinstance(entry, dict):
            raise FinebenchError(f"{source}: lmms-eval reported nothing for task {benchmark.lmms_task!r}")
        metrics = {}
        for key, value in entry.items():
            metric = key.split(",")[0]
            if isinstance(value, (int, float)) and not isinstance(value, bool) and "_stderr" not in metric:
                metrics[metric] = float(value)
        missing = [m for m in benchmark.metrics if m not in metrics]
        if missing:
            raise FinebenchError(f"{source}: task {benchmark.lmms_task!r} lacks metric(s) {', '.join(missing)}")
        parsed[benchmark.name] = {
            "score": sum(metrics[m] for m in benchmark.metrics),
            "unit": benchmark.unit,
            "lmms_task": benchmark.lmms_task,
            "metrics": metrics,
        }
    return parsed


def newest_results_file(output_dir: Path, since: float) -> Path | None:
    """The results file lmms-eval wrote (``OUTPUT/<model>/<date>_results.json``) during this run."""
    candidates = [p for p in Path(output_dir).rglob("*_results.json") if p.stat().st_mtime >= since]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def run_general(
    card: ModelCard, benchmarks: Sequence[GeneralBenchmark], output_path: Path, *, batch_size: int = 1,
    device: str = "auto", include_path: Path | None = None, limit: int | None = None,
) -> dict[str, Any]:
    """Run lmms-eval on the benchmarks and merge the scores into ``OUTPUT_PATH/results.json``."""
    import importlib.util
    import time

    if importlib.util.find_spec("lmms_eval") is None:
        raise FinebenchError("general-capability runs need lmms-eval: pip install 'finebench[lmms]'")
    check_datasets_reachable(benchmarks)
    lmms_dir = Path(output_path) / "lmms-eval"
    lmms_dir.mkdir(parents=True, exist_ok=True)
    command = lmms_command(card, benchmarks, lmms_dir, batch_size=batch_size, device=device,
                           include_path=include_path, limit=limit)
    started = time.time() - 1
    log_path = lmms_dir / "lmms-eval.log"
    with log_path.open("w", encoding="utf-8") as log:
        completed = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False)
    # lmms-eval logs some failures and still exits 0, so a missing results file is a failure too
    results_file = newest_results_file(lmms_dir, started)
    if completed.returncode != 0 or results_file is None:
        lines = [line.strip() for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        raise FinebenchError(
            f"lmms-eval failed (exit status {completed.returncode}, results file {'written' if results_file else 'missing'}): "
            f"{lines[-1] if lines else 'no output'} (full log: {log_path})"
        )
    general = parse_lmms_results(json.loads(results_file.read_text(encoding="utf-8")), benchmarks, str(results_file))
    for entry in general.values():
        entry["lmms_results"] = str(results_file.relative_to(output_path))
    merge_general(Path(output_path) / "results.json", card, general, limit=limit)
    return general


def merge_general(results_path: Path, card: ModelCard, general: Mapping[str, Any], *, limit: int | None) -> None:
    """Add (or replace) benchmarks under ``general``; a fresh file gets the run skeleton."""
    from finebench.evaluation.merge import read_existing, results_lock
    from finebench.evaluation.results import SCHEMA_VERSION, environment, now_iso
    from finebench.util.fsutil import atomic_write_json

    with results_lock(results_path.parent):  # a concurrent `run` into the folder keeps its tasks
        data = read_existing(results_path.parent)
        if data is not None:
            if data.get("model", {}).get("name") != card.name:
                raise FinebenchError(f"{results_path} holds results of model {data.get('model', {}).get('name')!r}, "
                                     f"not {card.name!r}")
        else:
            data = {
                "schema_version": SCHEMA_VERSION, "created": now_iso(),
                "model": {"name": card.name, "adapter": card.adapter, "model": card.model, "family": card.family},
                "config": {"tasks": []}, "results": {}, "groups": {}, "tasks": {}, "environment": environment(),
            }
        data.setdefault("general", {}).update({k: {**v, "limit": limit} for k, v in general.items()})
        atomic_write_json(results_path, data)
