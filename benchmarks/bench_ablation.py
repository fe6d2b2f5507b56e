"""The paper's TAPO ablation where the truth is known: DAPO vs +intra vs +inter vs TAPO (both).

On the hard synthetic variant (``finebench data synth --variant hard``: intra-class nuisance, and
look-alike classes that differ only on a small central badge), through the real commands: one
CoT SFT checkpoint (``training/synth-sft.yaml``), then four stage-2 runs from it, each with
``--seeds`` seeds (the TAPO seed: rollout sampling and prompt order), all with the recipe
``training/synth-tapo.yaml`` and nothing changed but the two augmentations:

| variant | n_anchor : n_positive | gamma, eta_policy, eta_negative |
| ------- | --------------------- | ------------------------------- |
| dapo    | 8 : 0                 | 0, 0, 0                         |
| +intra  | 4 : 4 (pooled group)  | 0, 0, 0                         |
| +inter  | 8 : 0                 | the recipe's (paper's) weights  |
| tapo    | 4 : 4                 | the recipe's (paper's) weights  |

Every checkpoint is scored by ``finebench run`` on the four ``synth_hard_*`` tasks, and every
variant is compared with DAPO of the same seed by ``finebench compare`` (paired bootstrap on the
shared items). The table gives each variant's mean over seeds with a 95% t-interval over seeds,
and per task the mean difference to DAPO with its t-interval over seeds and the per-seed paired
p-values. Independent runs go ``--jobs`` at a time, one thread each. Every finished step is kept
and skipped when the benchmark is run again on the same ``--out`` (it resumes).

Writes ``OUT/ablation.json`` (every number), ``OUT/ablation.md`` (the tables), ``OUT/ablation.png``.
Measured on 16 cores with ``--jobs 12``: 6.5 minutes (SFT 78 s, each stage-2 run about 4 minutes
on one core), so about 30 minutes on 2 quiet cores with ``--jobs 2``.

    python benchmarks/bench_ablation.py --out finebench-out/ablation --jobs 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TASKS = ("synth_hard_closed_seen", "synth_hard_closed_unseen", "synth_hard_open_seen", "synth_hard_open_unseen")
NO_INTER = ("gamma=0", "eta_policy=0", "eta_negative=0")
VARIANTS: dict[str, tuple[str, ...]] = {
    "dapo": ("n_anchor=8", "n_positive=0", *NO_INTER),
    "+intra": ("n_anchor=4", "n_positive=4", *NO_INTER),
    "+inter": ("n_anchor=8", "n_positive=0"),
    "tapo": ("n_anchor=4", "n_positive=4"),
}
"""Recipe overrides of each stage-2 variant: the two augmentations switched on and off, nothing else."""
BASELINE = "dapo"
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
"""Two-sided 95% quantiles of Student's t by degrees of freedom (seeds - 1)."""


def finebench(*args: str, threads: int = 1, log: Path | None = None) -> float:
    """Run one finebench command as a user would; returns its wall time in seconds."""
    start = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    result = subprocess.run([sys.executable, "-m", "finebench", *args], cwd=REPO, capture_output=True, text=True,
                            env=env)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(result.stdout[-20000:] + result.stderr[-20000:])
    if result.returncode:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"finebench {' '.join(args[:3])} ... failed with exit code {result.returncode}")
    return time.perf_counter() - start


def variant_dir(out: Path, variant: str, seed: int) -> Path:
    return out / "stage2" / f"{variant.lstrip('+')}-s{seed}"


def train_stage2(out: Path, variant: str, seed: int, steps: int | None) -> float:
    checkpoint = variant_dir(out, variant, seed)
    if (checkpoint / "finebench_tapo.json").is_file():
        return 0.0
    data_root = out / "data"
    extra = [f"max_steps={steps}"] if steps else []
    return finebench("train", "tapo", "--config", "training/synth-tapo.yaml", f"model={out / 'sft'}",
                     f"train_data={data_root / 'synth_hard' / 'tapo' / 'synth-hard-stage2.json'}",
                     f"image_root={data_root}", f"output_dir={checkpoint}",
                     f"seed={seed}", *VARIANTS[variant], *extra, log=checkpoint.with_suffix(".log"))


def evaluate(checkpoint: Path, data_root: Path, results: Path) -> float:
    if (results / "results.json").is_file():
        return 0.0
    return finebench("run", "--model", f"hf:{checkpoint}", "--tasks", ",".join(TASKS), "--data-root", str(data_root),
                     "--metrics", "accuracy,inclusion", "--output-path", str(results))


def scores_of(results: Path) -> dict[str, float]:
    """Closed-world accuracy, open-world inclusion (%), per task."""
    tasks = json.loads((results / "results.json").read_text())["results"]
    return {task: tasks[task].get("accuracy", tasks[task].get("inclusion")) for task in TASKS}


def compare(a: Path, b: Path, out: Path) -> dict[str, dict[str, float]]:
    """``finebench compare A B --json``: per task, A - B in points and the paired bootstrap p-value."""
    if not out.is_file():
        finebench("compare", str(a), str(b), "--json", str(out))
    rows = json.loads(out.read_text())["results"]
    return {r["task"]: {"delta": 100 * r["difference"]["delta"], "p": r["difference"]["p_bootstrap"]}
            for r in rows if r["task"] in TASKS}


def mean_interval(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval over seeds (0 for one seed)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    sd = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5
    return mean, T_975.get(n - 1, 1.96) * sd / n ** 0.5


def curve(checkpoint: Path, key: str) -> list[float]:
    history = json.loads((checkpoint / "finebench_tapo.json").read_text())["log_history"]
    return [float(entry[key]) for entry in history if key in entry]


def parallel(jobs: int, calls: list) -> list:
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(lambda call: call(), calls))


def run(out: Path, seeds: list[int], jobs: int, steps: int | None = None, sft_threads: int = 2,
        sft_epochs: int | None = None, variants: tuple[str, ...] = tuple(VARIANTS)) -> dict:
    """Data, SFT, every (variant, seed) stage-2 run, their scores and comparisons with DAPO.

    ``steps`` (stage 2) and ``sft_epochs`` shorten the recipes for quick checks; ``variants`` must
    include DAPO, the baseline of every comparison."""
    if BASELINE not in variants or not set(variants) <= set(VARIANTS):
        raise SystemExit(f"variants must be among {', '.join(VARIANTS)} and include {BASELINE}")
    data_root, times = out / "data", {}
    if not (data_root / "synth_hard" / "meta.json").is_file():
        times["data"] = finebench("data", "synth", "--variant", "hard", "--data-root", str(data_root))
    if not (out / "sft" / "finebench_sft.json").is_file():
        times["sft"] = finebench("train", "sft", "--config", "training/synth-sft.yaml",
                                 f"data_files={data_root / 'synth_hard' / 'sft' / 'synth-hard-stage1.json'}",
                                 f"image_root={data_root}", f"output_dir={out / 'sft'}",
                                 *([f"num_train_epochs={sft_epochs}"] if sft_epochs else []),
                                 threads=sft_threads, log=out / "sft.log")
    runs = [(variant, seed) for seed in seeds for variant in variants]
    start = time.perf_counter()
    parallel(jobs, [lambda v=v, s=s: train_stage2(out, v, s, steps) for v, s in runs])
    times["stage2 (all runs)"] = time.perf_counter() - start
    start = time.perf_counter()
    evals = [(out / "sft", out / "eval" / "sft")] + [
        (variant_dir(out, v, s), out / "eval" / variant_dir(out, v, s).name) for v, s in runs]
    parallel(jobs, [lambda c=c, r=r: evaluate(c, data_root, r) for c, r in evals])
    times["eval (all checkpoints)"] = time.perf_counter() - start

    scores = {"sft": scores_of(out / "eval" / "sft")}
    comparisons: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for variant, seed in runs:
        name = variant_dir(out, variant, seed).name
        scores[name] = scores_of(out / "eval" / name)
        if variant != BASELINE:
            baseline = out / "eval" / variant_dir(out, BASELINE, seed).name
            comparisons.setdefault(variant, {})[str(seed)] = compare(
                out / "eval" / name, baseline, out / "compare" / f"{name}.json")
    summary = summarise(scores, comparisons, seeds, variants)
    curves = {variant: {str(s): curve(variant_dir(out, variant, s), "reward") for s in seeds} for variant in variants}
    return {"tasks": list(TASKS), "seeds": seeds, "variants": {v: list(VARIANTS[v]) for v in variants},
            "max_steps": steps, "sft_epochs": sft_epochs, "scores": scores, "comparisons": comparisons, "summary": summary,
            "reward_curves": curves, "times_s": times}


def summarise(scores: dict, comparisons: dict, seeds: list[int], variants: tuple[str, ...] = tuple(VARIANTS)) -> dict:
    summary: dict[str, dict] = {}
    for variant in variants:
        per_task = {}
        for task in TASKS:
            values = [scores[variant_dir(Path(), variant, s).name][task] for s in seeds]
            mean, half = mean_interval(values)
            entry = {"mean": mean, "ci95": half, "per_seed": values}
            if variant != BASELINE:
                deltas = [comparisons[variant][str(s)][task]["delta"] for s in seeds]
                d_mean, d_half = mean_interval(deltas)
                entry.update(delta=d_mean, delta_ci95=d_half, deltas=deltas,
                             p_per_seed=[comparisons[variant][str(s)][task]["p"] for s in seeds])
            per_task[task] = entry
        summary[variant] = per_task
    return summary


def short(task: str) -> str:
    return task.removeprefix("synth_hard_").replace("_", " ")


def table(report: dict) -> str:
    summary, sft = report["summary"], report["scores"]["sft"]
    lines = ["| stage 2 | " + " | ".join(short(t) for t in TASKS) + " |", "|---|" + "---:|" * len(TASKS),
             "| (SFT only) | " + " | ".join(f"{sft[t]:.2f}" for t in TASKS) + " |"]
    for variant, per_task in summary.items():
        lines.append(f"| {variant} | " + " | ".join(
            f"{per_task[t]['mean']:.2f} ± {per_task[t]['ci95']:.2f}" for t in TASKS) + " |")
    lines += ["", f"Means over seeds {report['seeds']} ± the half-width of the 95% t-interval over seeds.", "",
              "| vs DAPO | " + " | ".join(short(t) for t in TASKS) + " |", "|---|" + "---|" * len(TASKS)]
    for variant, per_task in summary.items():
        if variant == BASELINE:
            continue
        cells = []
        for t in TASKS:
            e = per_task[t]
            significant = sum(p < 0.05 for p in e["p_per_seed"])
            cells.append(f"{e['delta']:+.2f} [{e['delta'] - e['delta_ci95']:+.2f}, {e['delta'] + e['delta_ci95']:+.2f}]"
                         f" p={'/'.join(f'{p:.2f}' for p in e['p_per_seed'])} ({significant} sig.)")
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    lines += ["", "Difference to DAPO of the same seed in points (finebench compare, paired on items): mean over "
              "seeds [95% t-interval over seeds], the paired-bootstrap p-value of each seed, and how many are < 0.05."]
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (score_axis, reward_axis) = plt.subplots(1, 2, figsize=(15, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    width = 0.8 / len(report["summary"])
    for k, (variant, per_task) in enumerate(report["summary"].items()):
        xs = [i + (k - (len(report["summary"]) - 1) / 2) * width for i in range(len(TASKS))]
        score_axis.bar(xs, [per_task[t]["mean"] for t in TASKS], width, yerr=[per_task[t]["ci95"] for t in TASKS],
                       capsize=3, label=variant)
        for x, t in zip(xs, TASKS, strict=True):
            score_axis.scatter([x] * len(per_task[t]["per_seed"]), per_task[t]["per_seed"], color="black", s=6, zorder=3)
    sft = report["scores"]["sft"]
    for i, t in enumerate(TASKS):
        score_axis.hlines(sft[t], i - 0.45, i + 0.45, colors="grey", linestyles="--", label="SFT" if i == 0 else None)
    score_axis.set(title="synth_hard: score by stage-2 variant (mean, 95% t-interval, seeds as dots)",
                   xticks=range(len(TASKS)), xticklabels=[short(t) for t in TASKS], ylabel="% (accuracy / inclusion)")
    score_axis.legend(fontsize=8)
    for variant, by_seed in report["reward_curves"].items():
        curves = [c for c in by_seed.values() if c]
        if not curves:
            continue
        length = min(map(len, curves))
        mean = [sum(c[i] for c in curves) / len(curves) for i in range(length)]
        smooth = [sum(mean[max(0, i - 9): i + 1]) / len(mean[max(0, i - 9): i + 1]) for i in range(length)]
        reward_axis.plot(smooth, label=variant)
    reward_axis.set(title="training reward per step (mean over seeds, moving mean of 10)", xlabel="step",
                    ylabel="reward")
    reward_axis.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "finebench-out" / "ablation")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--jobs", type=int, default=2, help="Runs at a time, one thread each.")
    parser.add_argument("--max-steps", type=int, default=None, help="Stage-2 steps [default: the recipe's].")
    parser.add_argument("--sft-epochs", type=int, default=None, help="SFT epochs [default: the recipe's].")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    start = time.perf_counter()
    report = run(args.out.resolve(), args.seeds, args.jobs, args.max_steps, sft_threads=min(args.jobs, 4),
                 sft_epochs=args.sft_epochs, variants=tuple(args.variants))
    report["total_s"] = time.perf_counter() - start
    from finebench.util.fsutil import atomic_write_json, atomic_write_text

    atomic_write_json(args.out / "ablation.json", report)
    atomic_write_text(args.out / "ablation.md", table(report))
    plot(report, args.out / "ablation.png")
    print(table(report))
    print(" ".join(f"{name} {seconds:.0f}s" for name, seconds in report["times_s"].items()),
          f"| total {report['total_s']:.0f}s")


if __name__ == "__main__":
    main()
