"""Re-scoring all 24 Fine-R1 tasks (71,132 responses: every release item, both worlds) side by side
with the authors' bare scoring functions (benchmarks/authors_scoring.py), in one process each.
Target: finebench within 1.5x of the authors. Also the wall time of one ``finebench score`` call
for all 24 tasks (imports included) next to a bare interpreter running the authors' functions.

    python benchmarks/bench_rescore.py [--release ../shared/fine-r1-release/eval] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.authors_scoring import score_task  # noqa: E402
from benchmarks.bench_scoring import RESPONSES  # noqa: E402  (the same canned answers as the scorer benchmark)
from finebench.evaluation.rescore import rescore  # noqa: E402
from finebench.tasks.index import TaskIndex  # noqa: E402

FINE_R1_TASKS = "fgvr"


def write_inputs(release: Path, work: Path) -> tuple[Path, Path, list[tuple[str, Path, Path, str]]]:
    """A data root holding the release item files and a folder of samples_TASK.jsonl predictions."""
    data_root, predictions = work / "data", work / "predictions"
    (data_root / "fine-r1" / "eval").mkdir(parents=True)
    predictions.mkdir()
    for path in release.glob("*.jsonl"):
        (data_root / "fine-r1" / "eval" / path.name).symlink_to(path.resolve())
    index = TaskIndex()
    jobs = []
    for name in index.expand([FINE_R1_TASKS]):
        task = index.load(name)
        rows = [json.loads(line) for line in (data_root / task.source).read_text().splitlines()]
        out = predictions / f"samples_{name}.jsonl"
        out.write_text("".join(
            json.dumps({"doc_id": i, "response": RESPONSES[i % 4].format(gt=r["ground_truth"], wrong=r["options"][1])}) + "\n"
            for i, r in enumerate(rows)))
        jobs.append((name, data_root / task.source, out, task.world))
    return data_root, predictions, jobs


def time_authors(jobs) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    scores = {name: score_task(items, predictions, world) for name, items, predictions, world in jobs}
    return time.perf_counter() - start, scores


def time_finebench(data_root: Path, predictions: Path, out: Path) -> tuple[float, dict]:
    start = time.perf_counter()
    results = rescore(predictions, tasks=[FINE_R1_TASKS], data_root=data_root, output_path=out,
                      metrics=["accuracy", "inclusion"])
    return time.perf_counter() - start, results


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--release", type=Path, default=ROOT.parent / "shared" / "fine-r1-release" / "eval")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data_root, predictions, jobs = write_inputs(args.release, work)
        n = sum(1 for _, _, p, _ in jobs for _ in p.open())
        theirs, ours = [], []
        for _ in range(args.repeats):  # interleaved, so a busy machine slows both alike
            seconds, their_scores = time_authors(jobs)
            theirs.append(seconds)
            seconds, results = time_finebench(data_root, predictions, work / "out")
            ours.append(seconds)
        for name, value in their_scores.items():  # same numbers, or the timing means nothing
            metric = "accuracy" if name.split("_")[1] == "closed" else "inclusion"
            assert abs(results["results"][name][metric] - value) < 1e-9, (name, value, results["results"][name])
        a, f = statistics.median(theirs), statistics.median(ours)
        print(f"in one process, {len(jobs)} tasks, {n:,} responses (median of {args.repeats}):")
        print(f"  authors' bare functions  {a:.3f} s")
        print(f"  finebench rescore        {f:.3f} s   ratio {f / a:.2f}x (target <= 1.5x)")
        python = sys.executable
        bare = statistics.median(wall([python, "-c", "pass"]) for _ in range(args.repeats))
        authors_cli = statistics.median(wall([python, "-c", (
            f"import sys; sys.path.insert(0, {str(ROOT)!r}); from benchmarks.authors_scoring import score_task; "
            f"[score_task(*j) for j in {[(str(i), str(p), w) for _, i, p, w in jobs]!r}]")]) for _ in range(args.repeats))
        score_cli = statistics.median(wall([python, "-m", "finebench", "score", str(predictions), "--task", FINE_R1_TASKS,
                                            "--data-root", str(data_root), "-o", str(work / "cli"),
                                            "--metrics", "accuracy,inclusion"]) for _ in range(args.repeats))
        print(f"whole processes (median of {args.repeats}): bare interpreter {bare:.3f} s, authors' functions "
              f"{authors_cli:.3f} s, `finebench score --task fgvr` {score_cli:.3f} s ({score_cli / authors_cli:.2f}x)")


if __name__ == "__main__":
    main()
