"""Step time of TAPO vs plain DAPO on the tiny random Qwen2.5-VL, on the same rollouts.

Both steps share one generation batch (forced to full length, so token counts are equal); plain
DAPO is the same trainer with gamma = eta1 = eta2 = 0, which is exactly TRL's DAPO loss (tested).
TAPO adds the negative-image prompt encoding, a second forward pass over the completions on the
negative image and its share of the backward pass. Target: TAPO / DAPO <= 1.5 on CPU.

    python benchmarks/bench_tapo_step.py [--repeats 5] [--completion-length 32] [--conditioning own]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from trl import GRPOTrainer  # noqa: E402

from finebench.models.builtin import build_tiny_qwen25vl
from finebench.training.tapo.config import config_from_mapping  # noqa: E402
from finebench.training.tapo.loss import ClipSettings, TapoWeights, tapo_loss  # noqa: E402
from finebench.training.tapo.run import build_trainer
from finebench.training.tapo.trainer import TapoTrainer
from tests.fakes import write_tapo_triplets  # noqa: E402


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def one_step(trainer: TapoTrainer, batch: dict, weights: TapoWeights, rows: list[dict]) -> dict[str, float]:
    """Prep, forward, loss, backward and optimizer step of one update, each timed, as the trainer
    runs them (with neg_grad the policy and negative passes are one forward over 2B rows)."""
    trainer.weights, times = weights, {}
    if weights.needs_negative:
        negative_inputs, times["negative encoding"] = timed(lambda: trainer._negative_inputs(rows))
        batch = {**batch, **negative_inputs}
    (logps, negative_logps), times["forward"] = timed(lambda: trainer._policy_and_negative_logps(trainer.model, batch))
    mask = batch["completion_mask"]
    terms, times["loss terms"] = timed(lambda: tapo_loss(
        logps, logps.detach(), batch["advantages"], mask, negative_logps=negative_logps, weights=weights,
        clip=ClipSettings(0.2, 0.28), normalizer=mask.sum(),
    ))
    _, times["backward"] = timed(terms.loss.backward)
    _, times["optimizer step"] = timed(lambda: (trainer.optimizer.step(), trainer.optimizer.zero_grad()))
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--completion-length", type=int, default=32)
    parser.add_argument("--groups", type=int, default=2)
    parser.add_argument("--conditioning", default="own", choices=("own", "anchor"))
    parser.add_argument("--no-neg-grad", action="store_true", help="the released code's detached negative branch")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = build_tiny_qwen25vl(tmp / "tiny")
        data = write_tapo_triplets(tmp)
        config = config_from_mapping({
            "model": str(model_dir), "train_data": str(data), "output_dir": str(tmp / "out"),
            "n_anchor": 4, "n_positive": 4, "per_device_train_batch_size": 8 * args.groups,
            "max_completion_length": args.completion_length, "dynamic_sampling": False,
            "conditioning": args.conditioning, "learning_rate": 1e-5, "neg_grad": not args.no_neg_grad,
            "trl": {"generation_kwargs": {"min_new_tokens": args.completion_length}},
        }, "benchmark")
        trainer = build_trainer(config)
        trainer.create_optimizer()
        trainer.model.train()
        tapo_weights = trainer.weights
        dapo_weights = TapoWeights(gamma=0.0, eta_policy=0.0, eta_negative=0.0)
        inputs = [trainer.train_dataset[i % len(trainer.train_dataset)] for i in range(args.groups) for _ in range(8)]

        samples: dict[str, dict[str, list[float]]] = {"TAPO": {}, "DAPO": {}}
        for repeat in range(args.repeats + 1):  # the first round warms up allocators and kernels
            torch.manual_seed(repeat)
            rows = trainer._rollout_rows(inputs)
            batch, generation = timed(lambda: GRPOTrainer._generate_and_score_completions(trainer, rows))
            batch["advantages"] = torch.linspace(-1.0, 1.0, len(rows))
            for name, weights in (("TAPO", tapo_weights), ("DAPO", dapo_weights)):
                times = {"generation + rewards": generation, **one_step(trainer, batch, weights, rows)}
                if repeat:
                    for part, seconds in times.items():
                        samples[name].setdefault(part, []).append(seconds)

    medians = {name: {part: statistics.median(v) for part, v in parts.items()} for name, parts in samples.items()}
    totals = {name: sum(parts.values()) for name, parts in medians.items()}
    updates = {name: totals[name] - parts["generation + rewards"] for name, parts in medians.items()}
    print(f"tiny Qwen2.5-VL on CPU ({torch.get_num_threads()} threads): {args.groups} groups x 8 rollouts "
          f"(4 anchor + 4 positive), {args.completion_length} completion tokens each, conditioning "
          f"{args.conditioning}, neg_grad {not args.no_neg_grad}; median of {args.repeats} steps")
    print(f"{'part':<26}{'DAPO ms':>10}{'TAPO ms':>10}")
    for part in medians["TAPO"]:
        dapo = medians["DAPO"].get(part)
        print(f"{part:<26}{'-' if dapo is None else f'{1000 * dapo:.1f}':>10}{1000 * medians['TAPO'][part]:>10.1f}")
    print(f"{'step':<26}{1000 * totals['DAPO']:>10.1f}{1000 * totals['TAPO']:>10.1f}")
    forward = medians["TAPO"]["forward"] - medians["DAPO"]["forward"]
    backward = medians["TAPO"]["backward"] - medians["DAPO"]["backward"]
    print(f"of which the negative image costs: encoding {1000 * medians['TAPO'].get('negative encoding', 0.0):.1f} ms, "
          f"forward {1000 * forward:.1f} ms, backward {1000 * backward:.1f} ms")
    print(f"TAPO / DAPO step time: {totals['TAPO'] / totals['DAPO']:.2f}x (target <= 1.5x); "
          f"update only (no generation): {updates['TAPO'] / updates['DAPO']:.2f}x")


if __name__ == "__main__":
    main()
