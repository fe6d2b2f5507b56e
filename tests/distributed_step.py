"""One optimiser step of finebench's SFT or TAPO trainer, its loss and gradient saved: run by
tests/test_training_distributed.py as one process and under ``accelerate launch --num_processes 2``.

    python tests/distributed_step.py {sft,tapo} RECIPE OUT.pt [key=value ...]

The gradient is read just before the optimiser step (after the data-parallel reduction, before
clipping is applied by the recipe, which sets max_grad_norm out of reach). TAPO's completions and
accuracy rewards are scripted per position in the group, because sampling differs with the
number of processes; everything else (grouping, rewards, advantages, dynamic sampling, the
negative image, the loss and its normaliser) is the trainer's own.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from transformers import TrainerCallback

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CORRECT_POSITIONS = (0, 3)
"""Rollouts (by position in their group of 4) that the scripted accuracy reward calls right."""


class GradientProbe(TrainerCallback):
    """Keeps the flattened gradient of the first optimiser step."""

    def __init__(self) -> None:
        self.gradient: torch.Tensor | None = None

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        if self.gradient is None:
            self.gradient = torch.cat([
                (p.grad if p.grad is not None else torch.zeros_like(p)).detach().flatten().float()
                for p in model.parameters() if p.requires_grad
            ])


def scripted_tapo(trainer) -> None:
    """Completion k of each group of 4 is "<think>step k</think><answer>k</answer>"."""
    tokenizer = trainer._tokenizer
    group = trainer.tapo.group_size

    def generate(prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        texts = [f"<think>step {i % group}</think><answer>{i % group}</answer><|im_end|>" for i in range(len(prompt_ids))]
        return [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts], None

    def accuracy(completions, **_):
        from finebench.training.rewards import completion_text

        return [float(int(completion_text(c).split("<answer>")[1][0]) in CORRECT_POSITIONS) for c in completions]

    trainer._generate_single_turn = generate
    trainer.reward_funcs[0] = accuracy
    accuracy.__name__ = "accuracy_reward"


def main() -> None:
    kind, recipe, out, *overrides = sys.argv[1:]
    probe = GradientProbe()
    if kind == "sft":
        from finebench.training.sft.recipe import load_recipe
        from finebench.training.sft.trainer import build_trainer, load_training_samples

        config = load_recipe(Path(recipe), overrides)
        trainer = build_trainer(config, load_training_samples(config)[0])
    else:
        from finebench.training.tapo.config import load_tapo_config
        from finebench.training.tapo.run import build_trainer

        trainer = build_trainer(load_tapo_config(Path(recipe), overrides))
        scripted_tapo(trainer)
    trainer.add_callback(probe)
    trainer.train()
    if trainer.is_world_process_zero():
        loss = next(entry["loss"] for entry in trainer.state.log_history if "loss" in entry)
        torch.save({"loss": float(loss), "gradient": probe.gradient,
                    "processes": trainer.accelerator.num_processes}, out)


if __name__ == "__main__":
    main()
