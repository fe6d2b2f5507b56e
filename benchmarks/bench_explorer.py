"""How fast is the explorer on a full-size benchmark? (35,566 items, two runs, headless Chromium)

Generates two runs over 12 tasks with 35,566 items in all (the size of the Fine-R1 evaluation set),
one trial each, with a <think> of a few hundred characters and 300 distinct generated images;
builds the explorer with ``finebench view``'s builder and opens it from file:// in headless
Chromium over the DevTools protocol. Reports the build time, the folder's size, and the times
until the first page is rendered (cold load), until a filter over all items is applied, and
until a far page is shown. Each browser time is the median of ``--repeats``.

    python benchmarks/bench_explorer.py --out finebench-out/bench-explorer
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TOTAL_ITEMS = 35_566
N_TASKS = 12
N_IMAGES = 300


def generate(out: Path, seed: int = 0) -> list[Path]:
    from PIL import Image

    rng = random.Random(seed)
    data = out / "data"
    (data / "img").mkdir(parents=True, exist_ok=True)
    for i in range(N_IMAGES):
        Image.new("RGB", (448, 448), (rng.randrange(256), rng.randrange(256), rng.randrange(256))).save(data / "img" / f"{i}.jpg")
    classes = [f"Class {c:03d} {rng.choice(['Warbler', 'Sparrow', 'Tern', 'Gull'])}" for c in range(200)]
    sizes = [TOTAL_ITEMS // N_TASKS + (t < TOTAL_ITEMS % N_TASKS) for t in range(N_TASKS)]
    runs = []
    for r, level in enumerate((0.55, 0.62)):
        folder = out / f"run{r}"
        folder.mkdir(parents=True, exist_ok=True)
        results = {"model": {"name": f"model-{r}"}, "config": {"data_root": str(data)}, "results": {}, "tasks": {}}
        for t, size in enumerate(sizes):
            task = f"task{t:02d}_{'closed' if t % 2 == 0 else 'open'}"
            rows = []
            for doc in range(size):
                item_rng = random.Random(f"{t}:{doc}")
                truth = item_rng.choice(classes)
                options = [truth] + item_rng.sample([c for c in classes if c != truth], 3) if t % 2 == 0 else []
                right = random.Random(f"{r}:{t}:{doc}").random() < level
                answer = truth if right else item_rng.choice(classes)
                think = " ".join(item_rng.choice(["the wing bars", "its bill", "the crown", "a pale eye-ring",
                                                  "the tail pattern", "compared with"]) for _ in range(60))
                rows.append({"doc_id": doc, "trial": 0, "image_path": f"img/{(t * 7919 + doc) % N_IMAGES}.jpg",
                             "options": options, "target": truth, "answer": answer, "no_answer": False,
                             "response": f"<think>{think}</think><answer>{answer}</answer>",
                             "scores": {"accuracy" if t % 2 == 0 else "inclusion": float(answer == truth)}, "error": None})
            (folder / f"samples_{task}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
            metric = "accuracy" if t % 2 == 0 else "inclusion"
            results["results"][task] = {metric: 100 * level, "n": size}
            results["tasks"][task] = {"world": "closed" if t % 2 == 0 else "open", "metrics": [metric]}
        (folder / "results.json").write_text(json.dumps(results))
        runs.append(folder)
    return runs


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def timed_view(browser, url: str) -> tuple[float, int]:
    """Seconds until the page at ``url`` is rendered, and how many items the filter kept."""
    browser.evaluate("document.body && (document.body.dataset.state = 'stale')")
    start = time.perf_counter()
    browser.navigate(url)
    browser.wait_for("document.body && document.body.dataset.state === 'ready'", timeout=120)
    return time.perf_counter() - start, browser.evaluate("+document.getElementById('summary').dataset.count")


def run(out: Path, repeats: int) -> dict:
    from finebench.leaderboard.explorer.write import write_explorer
    from tests.chromium import Chromium

    start = time.perf_counter()
    runs = generate(out)
    generated = time.perf_counter() - start
    start = time.perf_counter()
    report = write_explorer(runs, out / "explorer")
    built = time.perf_counter() - start
    page = (out / "explorer" / "index.html").as_uri()
    cold, in_page, filtered, far = [], [], [], []
    for attempt in range(repeats):
        with Chromium(out / f"profile{attempt}") as browser:
            seconds, count = timed_view(browser, page)
            cold.append(seconds)
            in_page.append(browser.evaluate("+document.body.dataset.readyMs") / 1000)
            assert count == TOTAL_ITEMS, count
            seconds, wrong = timed_view(browser, page + "#a=0&b=1&status=fixed")
            filtered.append(seconds)
            seconds, _ = timed_view(browser, page + "#a=0&b=1&page=1000")
            far.append(seconds)
            if attempt == 0:
                browser.screenshot(out / "explorer-35k.png")
    return {
        "items": report.n_items, "runs": report.n_runs, "chunks": report.n_chunks,
        "generate_s": generated, "build_s": built,
        "folder_mb": folder_size(out / "explorer") / 1e6,
        "index_mb": (out / "explorer" / "data" / "index.js").stat().st_size / 1e6,
        "cold_load_s": statistics.median(cold), "cold_load_in_page_s": statistics.median(in_page),
        "filter_fixed_s": statistics.median(filtered), "fixed_items": wrong, "far_page_s": statistics.median(far),
        "repeats": repeats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "finebench-out" / "bench-explorer")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    result = run(args.out.resolve(), args.repeats)
    (args.out / "bench_explorer.json").write_text(json.dumps(result, indent=2) + "\n")
    for key, value in result.items():
        print(f"{key}\t{value:.3f}" if isinstance(value, float) else f"{key}\t{value}")


if __name__ == "__main__":
    main()
