"""One full TAPO step of the release preset (training/tapo-release.yaml) on the tiny Qwen2.5-VL:
three micro-batches of 4 rollouts accumulated into one update through Trainer.training_step,
off-policy (the second update of a rollout batch, the policy moved since generation, as for the
release's second and third update per rollout batch), after TRL's own buffering, shuffling and
splitting. The summed loss and the accumulated gradient
equal a reference computed with the release's arithmetic (dp_actor.py's per-micro-batch loss, see
tests/test_training_tapo_release.py) on the same rollouts and log-probs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from finebench.training.tapo.config import load_tapo_config
from finebench.training.tapo.run import build_trainer
from tests.test_training_tapo_release import release_micro_batch_loss
from tests.test_training_tapo_trainer import groups_of, scripted_accuracy, zero_format

PRESET = Path(__file__).resolve().parents[1] / "training" / "tapo-release.yaml"
ACCUMULATION = 3


@pytest.fixture
def release_trainer(tiny_model_dir: Path, tapo_stage2_file: Path, tmp_path: Path):
    # the preset as shipped, with only the scale changed for a CPU test (and float32, no vLLM)
    config = load_tapo_config(PRESET, [
        f"model={tiny_model_dir}", f"train_data={tapo_stage2_file}", f"output_dir={tmp_path / 'out'}",
        "n_anchor=2", "n_positive=2", "per_device_train_batch_size=4", f"gradient_accumulation_steps={ACCUMULATION}",
        f"steps_per_generation={2 * ACCUMULATION}", "max_completion_length=8", "min_pixels=3136", "max_pixels=50176",
        "use_vllm=false", "dtype=float32", "optimizer=adamw", "bf16=false", "gradient_checkpointing=false",
        "refill_prompts=2",
    ])
    trainer = build_trainer(config)
    trainer.model.train()
    return trainer


def test_one_step_of_the_release_preset_equals_the_release_arithmetic(release_trainer) -> None:
    trainer = release_trainer
    assert (trainer.tapo.token_mean, trainer.tapo.negative_policy, trainer.tapo.dual_clip) == ("micro_batch", "old", 3.0)
    accuracy = [1, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 0]  # every group mixed
    trainer.reward_funcs = [scripted_accuracy([accuracy]), zero_format]
    inputs = groups_of(trainer, [0, 1, 2, 3, 0, 1])  # 6 groups x 4 rollouts = 2 updates' worth
    trainer._step = 0
    trainer._prepare_inputs(inputs)  # generation: rollouts, old log-probs, negative scored once
    micro_batches = trainer._buffered_inputs[ACCUMULATION:]  # the SECOND update's micro-batches
    assert all(m["completion_ids"].size(0) == 4 for m in micro_batches)
    assert all("neg_old_per_token_logps" in m and "old_per_token_logps" in m for m in micro_batches)

    params = [p for p in trainer.model.parameters() if p.requires_grad]
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # the first update has moved the policy since generation
        for p in params:
            p.add_(0.3 * p.abs().mean() * torch.randn(p.shape, generator=generator))

    # Trainer's own accumulation path: training_step takes the buffered micro-batches 3, 4, 5
    trainer.current_gradient_accumulation_steps = ACCUMULATION
    trainer.model.zero_grad()
    trainer._step = ACCUMULATION
    ours = sum(trainer.training_step(trainer.model, inputs, None).item() for _ in range(ACCUMULATION))
    assert trainer._step == 2 * ACCUMULATION
    ours_grads = [p.grad.clone() for p in params]

    trainer.model.zero_grad()
    theirs, clipped, tokens = 0.0, 0, 0
    for micro in micro_batches:
        mask = micro["completion_mask"].float()
        logps = trainer._completion_logps(trainer.model, micro, micro)
        loss = release_micro_batch_loss(
            logps, micro["old_per_token_logps"], micro["neg_old_per_token_logps"],
            micro["advantages"][:, None] * mask, mask, ACCUMULATION,
        )
        loss.backward()
        theirs += loss.item()
        ratio = torch.exp(logps.detach() - micro["old_per_token_logps"])
        clipped += int((((ratio < 0.8) | (ratio > 1.28)) * mask).sum())
        tokens += int(mask.sum())
    their_grads = [p.grad.clone() for p in params]

    scale = max(g.abs().max().item() for g in their_grads)
    worst = max((a - b).abs().max().item() for a, b in zip(ours_grads, their_grads, strict=True))
    print(f"one step: loss {ours:.6f} vs release {theirs:.6f}; gradient max abs diff {worst:.2e} "
          f"(max |grad| {scale:.2e}); {clipped}/{tokens} tokens outside the clip range")
    assert clipped > 0  # the clip is exercised, not only the on-policy path
    assert scale > 0
    assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-7)
    assert worst <= 1e-5 * scale

    # control: the default recipe's token mean (over the accumulation window) is another loss
    trainer.tapo = dataclasses.replace(trainer.tapo, token_mean="window")
    with torch.no_grad():
        window = sum(trainer.compute_loss(trainer.model, micro).item() for micro in micro_batches)
    print(f"control, token_mean window: loss {window:.6f}")
    assert abs(window - theirs) > 1e-3 * abs(theirs)
