"""A transcription (our own code) of the Fine-R1 authors' scoring loops without SigLIP, as bare
functions: the reference that ``bench_rescore.py`` times ``finebench score`` against.

From PKU-ICST-MIPL/FineR1_ICLR2026 ``eval/evaluation.py``: items and responses read with one
``json.loads`` per line; ``re.search(r'<answer>(.*)</answer>', DOTALL)``; closed world: the
lower-cased, underscore-free ground truth inside the lower-cased answer; open world: inside the
answer or, without one, the whole output, car names cut by their last two words (found by the image
path). No validation, no results file: the floor any harness pays.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

_ANSWER = re.compile(r"<answer>(.*)</answer>", re.DOTALL)


def extract_answer(output: str) -> str | None:
    match = _ANSWER.search(output)
    return match.group(1).strip() if match else None


def read_jsonl(path: Path) -> list[dict]:
    with open(path) as handle:
        return [json.loads(line) for line in handle]


def closed_world_accuracy(items: list[dict], outputs: list[str]) -> float:
    correct = 0
    for item, output in zip(items, outputs):
        answer = extract_answer(output)
        truth = str(item["ground_truth"]).lower().replace("_", " ")
        if answer and truth in answer.lower().replace("_", " "):
            correct += 1
    return correct / len(items) * 100


def open_world_inclusion(items: list[dict], outputs: list[str]) -> float:
    correct = 0
    for item, output in zip(items, outputs):
        truth = item["ground_truth"]
        answer = extract_answer(output)
        text = answer if answer else output
        if "cars" in item["image_path"]:
            correct += " ".join(truth.lower().split()[:-2]) in text.lower()
        else:
            correct += truth.lower().replace("_", " ") in text.lower()
    return correct / len(items) * 100


def score_task(items_file: Path, predictions_file: Path, world: str) -> float:
    items = read_jsonl(items_file)
    outputs = [row["response"] for row in read_jsonl(predictions_file)]
    return (closed_world_accuracy if world == "closed" else open_world_inclusion)(items, outputs)
