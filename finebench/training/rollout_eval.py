"""The TAPO objective measured on a fixed set of prompts: mean reward of sampled rollouts.

TAPO's logged reward is a mean over the few prompts of each step, so from step to step it moves
with which prompts were drawn more than with what the policy learnt (measured on the synthetic
benchmark: a run with a zero learning rate shows the same drift as a real one). Scoring every
checkpoint on the same prompts, with the same sampling settings and seed, takes that noise out:
the difference between two checkpoints is then what training did to the reward it optimises.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch

from finebench.data.formats import Stage2Sample
from finebench.training.rewards import score_response
from finebench.training.tapo.data import build_prompt
from finebench.util.imaging import load_rgb


@dataclass(frozen=True)
class RolloutScore:
    reward: float
    accuracy: float
    format: float
    rollouts: int


def fixed_prompts(samples: list[Stage2Sample], n: int, seed: int = 0) -> list[Stage2Sample]:
    """``n`` samples drawn once by ``seed`` (all of them when there are fewer)."""
    if n >= len(samples):
        return list(samples)
    return [samples[i] for i in sorted(random.Random(seed).sample(range(len(samples)), n))]


def sampled_reward(model_dir: Path, prompts: list[Stage2Sample], *, format_prompt: str = "", rollouts: int = 8,
                   temperature: float = 1.0, max_new_tokens: int = 80, batch_size: int = 8, seed: int = 0
                   ) -> RolloutScore:
    """Mean TAPO reward (0.9 accuracy + 0.1 format) of ``rollouts`` samples per prompt, anchor images."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32).eval()
    scores = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start : start + batch_size]
            texts = [processor.apply_chat_template(build_prompt(s.problem, format_prompt), add_generation_prompt=True,
                                                   tokenize=False) for s in chunk]
            inputs = processor(text=texts, images=[[load_rgb(s.image)] for s in chunk], return_tensors="pt",
                               padding=True)
            with torch.no_grad():
                output = model.generate(**inputs, do_sample=True, temperature=temperature, top_p=1.0,
                                        max_new_tokens=max_new_tokens, num_return_sequences=rollouts)
            texts = processor.batch_decode(output[:, inputs["input_ids"].size(1):], skip_special_tokens=True)
            scores += [score_response(text, chunk[i // rollouts].answer) for i, text in enumerate(texts)]
    n = len(scores)
    return RolloutScore(sum(s.reward for s in scores) / n, sum(s.accuracy for s in scores) / n,
                        sum(s.format for s in scores) / n, n)
