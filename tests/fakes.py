"""Fake adapters with known behaviour, for harness tests and benchmarks (no model involved)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from finebench.adapters.base import Adapter
from finebench.adapters.instance import Request


def first_shown_option(request: Request) -> str:
    """Answers the first option as shown: right under fine-r1 (ground truth first), ~25% when shuffled."""
    return f"<think>looks like {request.options[1]}</think> <answer>{request.options[0]}</answer>"


class ScriptedAdapter(Adapter):
    """Answers every request with ``rule(request)``; records what it was asked."""

    def __init__(self, rule: Callable[[Request], str] = first_shown_option, latency_s: float = 0.0,
                 fail_on: Callable[[Request], bool] | None = None, name: str = "scripted") -> None:
        self.rule = rule
        self.latency_s = latency_s
        self.fail_on = fail_on
        self.name = name
        self.calls: list[list[tuple[int, int]]] = []

    def fingerprint(self) -> str:
        return f"fake:{self.name}"

    def generate(self, requests: Sequence[Request]) -> list[str]:
        self.calls.append([(r.doc_id, r.trial) for r in requests])
        if self.latency_s:
            time.sleep(self.latency_s)
        if self.fail_on is not None and any(self.fail_on(r) for r in requests):
            raise RuntimeError("scripted failure")
        return [self.rule(r) for r in requests]

    @property
    def n_generated(self) -> int:
        return sum(len(c) for c in self.calls)


class OptionScorer(Adapter):
    """A contrastive-style adapter that scores the option whose text is longest highest."""

    output = "option_scores"
    supports_open_world = False

    def fingerprint(self) -> str:
        return "fake:option-scorer"

    def score_options(self, requests: Sequence[Request]) -> list[list[float]]:
        return [[float(len(o)) for o in r.options] for r in requests]


class CharGramEncoder:
    """A deterministic text encoder (hashed character trigrams): similar strings get similar
    vectors, which is all SS_relative needs to be exercised without model weights."""

    name = "fake:char-trigrams"

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.encoded: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.encoded.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            padded = f"  {text.lower()} "
            for i in range(len(padded) - 2):
                out[row, sum(map(ord, padded[i : i + 3])) % self.dim] += 1.0
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


def write_tapo_triplets(root: Path) -> Path:
    """Four Stage-2 triplets (released JSON format, relative image paths) over generated images.
    Anchor, positive and negative differ in size, hence in image-token count, so every re-encoding
    and re-padding path of TAPO is exercised."""
    from finebench.data.demo import demo_image
    from finebench.data.formats import Stage2Sample, write_stage2

    names = ("Laysan Albatross", "Sooty Albatross", "Crested Auklet", "Least Auklet")
    samples = []
    for c, name in enumerate(names):
        paths = []
        odd = c % 2
        for role, cls, size in (("anchor", c, (56, 84) if odd else (56, 42)), ("positive", c, (84, 84)),
                                ("negative", (c + 1) % 4, (84, 56) if odd else (42, 70))):
            demo_image(cls, len(paths), size).save(root / f"{c}_{role}.png")
            paths.append(f"{c}_{role}.png")
        samples.append(Stage2Sample("<image>What is the species of the bird in this image?", name, *paths))
    write_stage2(root / "stage2.json", samples)
    return root / "stage2.json"
