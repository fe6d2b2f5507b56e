"""Wall time of the leaderboard's bootstrap intervals: 24 tasks x 20 models, 1,000 resamples, with
the release's item counts (1,331 to 5,276 per task). Target: < 10 s.

    python benchmarks/bench_bootstrap.py

Times the code the leaderboard runs after reading the samples files: replicates for every (model,
task, metric) cell, then the three paper tables with a 95% interval on every cell and average and
the best-vs-runner-up paired tests. Reading the JSONL samples files is not included.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from finebench.leaderboard.collect import Run, Setting, TaskRun
from finebench.leaderboard.intervals import (
    bootstrap_replicates,
    score_keys,
    with_uncertainty,
)
from finebench.leaderboard.samples import DocScores
from finebench.leaderboard.tables import build_tables

RELEASE_ITEMS = {  # items per split in the Fine-R1 release (eval/*_{seen,unseen}.jsonl)
    "aircraft": (2002, 1331), "cub": (3483, 2311), "cars": (4811, 3230),
    "dogs": (5276, 3304), "flowers": (4028, 2121), "pets": (2176, 1493),
}
METRICS = {"closed": ("accuracy",), "open": ("inclusion", "ss_relative")}
N_MODELS = 20
RESAMPLES = 1000


def synthetic(rng: np.random.Generator) -> tuple[list[Run], dict]:
    runs, scores = [], {}
    setting = Setting("fine-r1", "release")
    for m in range(N_MODELS):
        path = Path(f"/bench/model-{m}/results.json")
        tasks = {}
        for dataset, sizes in RELEASE_ITEMS.items():
            for split, n in zip(("seen", "unseen"), sizes):
                for world, metrics in METRICS.items():
                    task = f"{dataset}_{world}_{split}"
                    values = {}
                    for metric in metrics:
                        p = rng.uniform(0.3, 0.9)
                        per_item = rng.random(n) if metric == "ss_relative" else (rng.random(n) < p).astype(float)
                        scores[(path, task, metric)] = DocScores(np.arange(n), per_item)
                        values[metric] = float(per_item.mean() * 100)
                    tasks[task] = TaskRun(task, dataset, world, split, setting, 1, "cfg", "items", values, n, n, path)
        runs.append(Run(path, f"model-{m}", "general-mllm", "2026-11-24T00:00:00+00:00", tasks))
    return runs, scores


def main() -> None:
    runs, scores = synthetic(np.random.default_rng(0))
    tables = build_tables(runs, [], {})
    n_tasks = len({key[1] for key in score_keys(tables)})
    start = time.perf_counter()
    replicates = bootstrap_replicates(scores, RESAMPLES, seed=0)
    after_replicates = time.perf_counter()
    finished = [with_uncertainty(table, replicates) for table in tables]
    end = time.perf_counter()
    n_cells = sum(len(row.intervals) for table in finished for row in table.rows)
    print(f"{n_tasks} tasks x {N_MODELS} models ({len(scores)} task-metric score vectors, {RESAMPLES} resamples): "
          f"replicates {after_replicates - start:.2f} s, intervals and paired tests for {n_cells} cells "
          f"{end - after_replicates:.2f} s, total {end - start:.2f} s (target < 10 s)")


if __name__ == "__main__":
    main()
