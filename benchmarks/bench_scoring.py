"""Score all 35,566 release items x 2 protocols x both worlds' string metrics with synthetic
responses (correct tag, wrong option, untagged text, think + answer). Target: < 5 s in all.

    python benchmarks/bench_scoring.py [--release ../shared/fine-r1-release/eval]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from finebench.scoring import ScoringContext, ScoringInput, aggregate, score_samples  # noqa: E402

RESPONSES = (
    "<think>The beak and wing pattern match.</think> <answer>{gt}</answer>",
    "<think>Looks like the second option.</think><answer>{wrong}</answer>",
    "I think this is a {gt}, but I am not sure.",
    "<think>Either {wrong} or {gt}.</think>\n\n<answer>{gt}</answer>",
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--release", type=Path, default=ROOT.parent / "shared" / "fine-r1-release" / "eval")
    args = parser.parse_args()
    rows = [json.loads(line) for path in sorted(args.release.glob("*.jsonl")) for line in path.read_text().splitlines()]
    inputs = [
        ScoringInput(i, RESPONSES[i % 4].format(gt=r["ground_truth"], wrong=r["options"][1]), r["ground_truth"],
                     tuple(r["options"]), r["image_path"])
        for i, r in enumerate(rows)
    ]
    total = 0.0
    for protocol in ("fine-r1", "finebench"):
        for world, metric in (("closed", "accuracy"), ("open", "inclusion")):
            start = time.perf_counter()
            scores = score_samples(ScoringContext(protocol, world, "bird", "full"), inputs, [metric])
            seconds = time.perf_counter() - start
            total += seconds
            value = aggregate(scores, [metric])[metric]
            print(f"{protocol:9s} {world:6s} {metric:9s} {len(inputs)} items in {seconds:.3f} s "
                  f"({len(inputs) / seconds:,.0f} items/s) -> {value:.2f}%")
    print(f"total: {4 * len(inputs)} scorings in {total:.2f} s")


if __name__ == "__main__":
    main()
