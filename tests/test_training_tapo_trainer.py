"""TapoTrainer on the tiny random Qwen2.5-VL: group layout, conditioning, DAPO equivalence, the
negative-image gradient, and dynamic sampling (bounded, and merging rounds correctly)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import torch
from trl import GRPOConfig, GRPOTrainer
from trl.data_utils import prepare_multimodal_messages
from trl.trainer.utils import split_pixel_values_by_grid

from finebench.data.formats import load_stage2
from finebench.training.tapo.batches import collate_negative, concat_rollouts, select_rollouts
from finebench.training.tapo.config import config_from_mapping, grpo_args
from finebench.training.tapo.data import build_prompt, load_processor, stage2_dataset
from finebench.training.tapo.run import build_trainer
from finebench.training.tapo.trainer import TapoTrainer
from finebench.util.imaging import load_rgb

PAD = 0


def make_trainer(model_dir: Path, data_file: Path, tmp_path: Path, **changes: Any) -> TapoTrainer:
    config = config_from_mapping({
        "model": str(model_dir), "train_data": str(data_file), "output_dir": str(tmp_path / "out"),
        "n_anchor": 2, "n_positive": 2, "per_device_train_batch_size": 8, "max_completion_length": 8,
        "max_steps": 2, "save_steps": 1000, **changes,
    }, "test recipe")
    trainer = build_trainer(config)
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer's loop, which these tests do not run
    return trainer


def groups_of(trainer: TapoTrainer, samples: list[int]) -> list[dict[str, Any]]:
    """Dataset rows as TRL's sampler hands them over: each sample repeated for one group."""
    return [trainer.train_dataset[i] for i in samples for _ in range(trainer.tapo.group_size)]


def unpadded(ids: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
    return [row[m.bool()].tolist() for row, m in zip(ids, mask, strict=True)]


def prompt_ids_on(trainer: TapoTrainer, row: dict[str, Any], image_path: str) -> list[int]:
    """What TRL's own tokenisation gives for the row's prompt on another image."""
    messages = prepare_multimodal_messages(row["prompt"], images=[load_rgb(image_path)])
    encoded = trainer.processing_class.apply_chat_template(
        conversation=[messages], add_generation_prompt=True, tokenize=True, return_dict=True
    )
    return list(encoded["input_ids"][0])


def grid_of(trainer: TapoTrainer, image_path: str) -> list[int]:
    return trainer.processing_class.image_processor(images=[load_rgb(image_path)])["image_grid_thw"][0].tolist()


@pytest.fixture
def make(tiny_model_dir: Path, tapo_stage2_file: Path, tmp_path: Path):
    return lambda **changes: make_trainer(tiny_model_dir, tapo_stage2_file, tmp_path, **changes)


def test_a_group_samples_n1_rollouts_on_the_anchor_and_n2_on_the_positive(make) -> None:
    trainer = make(dynamic_sampling=False)
    inputs = groups_of(trainer, [0, 1])
    batch = trainer._generate_and_score_completions(inputs)
    grids = batch["image_grid_thw"].tolist()
    prompts = unpadded(batch["prompt_ids"], batch["prompt_mask"])
    for group, sample in enumerate((0, 1)):
        row = trainer.train_dataset[sample]
        for k, key in enumerate(("image", "image", "image_positive", "image_positive")):
            assert grids[4 * group + k] == grid_of(trainer, row[key])
            assert prompts[4 * group + k] == prompt_ids_on(trainer, row, row[key])
    # the negative image of every rollout travels along, one tensor per sample
    assert [g[0].tolist() for g in batch["neg_image_grid_thw"]] == [grid_of(trainer, inputs[i]["image_negative"])
                                                                   for i in range(8)]
    assert [ids.tolist() for ids in batch["neg_prompt_ids"]] == [
        prompt_ids_on(trainer, inputs[i], inputs[i]["image_negative"]) for i in range(8)
    ]
    assert grid_of(trainer, inputs[0]["image"]) != grid_of(trainer, inputs[0]["image_positive"])  # a real test


def test_anchor_conditioning_rebuilds_every_prompt_on_the_anchor_image(make) -> None:
    # two micro-batches per generation: TRL keeps old log-probs, which must follow the conditioning
    trainer = make(dynamic_sampling=False, conditioning="anchor", per_device_train_batch_size=4, steps_per_generation=2)
    inputs = groups_of(trainer, [2, 3])
    batch = trainer._generate_and_score_completions(inputs)
    with torch.no_grad():
        torch.testing.assert_close(batch["old_per_token_logps"], trainer._completion_logps(trainer.model, batch, batch))
    prompts = unpadded(batch["prompt_ids"], batch["prompt_mask"])
    for i, row in enumerate(inputs):
        assert prompts[i] == prompt_ids_on(trainer, row, row["image"])
        assert batch["image_grid_thw"][i].tolist() == grid_of(trainer, row["image"])
    width = batch["prompt_ids"].size(1) + batch["completion_ids"].size(1)
    assert batch["mm_token_type_ids"].shape == (8, width)
    assert batch["pixel_values"].size(0) == int(batch["image_grid_thw"].prod(-1).sum())


def test_collated_negative_inputs_match_the_negative_encoding(make) -> None:
    trainer = make(dynamic_sampling=False)
    inputs = groups_of(trainer, [0, 3])
    batch = trainer._generate_and_score_completions(inputs)
    negative = collate_negative(batch, trainer._tokenizer.pad_token_id, batch["completion_ids"].size(1))
    assert unpadded(negative["prompt_ids"], negative["prompt_mask"]) == [
        prompt_ids_on(trainer, row, row["image_negative"]) for row in inputs
    ]
    image_pad = trainer.model.config.image_token_id
    assert torch.equal(negative["mm_token_type_ids"][:, : negative["prompt_ids"].size(1)] == 1,
                       negative["prompt_ids"] == image_pad)


def with_advantages_and_old_logps(trainer: TapoTrainer, batch: dict[str, Any]) -> dict[str, Any]:
    """Non-zero advantages and off-policy old log-probs, so that clipping and signs matter."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        logps = trainer._completion_logps(trainer.model, batch, batch)
    noise = 0.4 * torch.randn(logps.shape, generator=generator)
    advantages = torch.linspace(-1.5, 1.5, logps.size(0))
    return {**batch, "advantages": advantages, "old_per_token_logps": logps + noise}


def loss_and_grads(loss: torch.Tensor, model: torch.nn.Module) -> tuple[float, list[torch.Tensor]]:
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return loss.item(), [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]


def test_without_positives_and_weights_the_loss_is_trl_dapo(make) -> None:
    trainer = make(n_anchor=4, n_positive=0, gamma=0.0, eta_policy=0.0, eta_negative=0.0, dynamic_sampling=False)
    batch = trainer._generate_and_score_completions(groups_of(trainer, [0, 1]))
    assert not any(key.startswith("neg_") for key in batch)  # no negative forward when it adds nothing
    batch = with_advantages_and_old_logps(trainer, batch)
    tapo, tapo_grads = loss_and_grads(trainer._compute_loss(trainer.model, batch), trainer.model)
    dapo, dapo_grads = loss_and_grads(GRPOTrainer._compute_loss(trainer, trainer.model, batch), trainer.model)
    assert tapo != 0.0
    assert tapo == pytest.approx(dapo, rel=1e-6, abs=1e-9)
    for mine, theirs in zip(tapo_grads, dapo_grads, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("neg_grad", [True, False])
def test_gradients_flow_through_the_negative_branch_only_when_enabled(make, neg_grad: bool) -> None:
    # Only the negative-image entropy term is on and advantages are zero, so any gradient at all
    # can only have come through the forward pass on the negative image.
    trainer = make(gamma=0.0, eta_policy=0.0, eta_negative=1.0, neg_grad=neg_grad, dynamic_sampling=False)
    batch = trainer._generate_and_score_completions(groups_of(trainer, [0, 1]))
    batch = {**batch, "advantages": torch.zeros(8)}
    loss, grads = loss_and_grads(trainer._compute_loss(trainer.model, batch), trainer.model)
    assert loss > 0.0  # -log pi(o | q, x_neg) of random-model tokens
    total = sum(g.abs().sum().item() for g in grads)
    assert (total > 0.0) == neg_grad
    assert trainer._metrics["train"]["tapo/negative_entropy"][-1] == pytest.approx(loss)


def test_dynamic_sampling_gives_up_after_its_rounds_and_keeps_the_batch_size(make) -> None:
    trainer = make(max_resample_rounds=2)
    rounds = []
    original = TapoTrainer._run_round
    trainer._run_round = lambda inputs: rounds.append(original(trainer, inputs)) or rounds[-1]
    batch = trainer._generate_and_score_completions(groups_of(trainer, [0, 1]))
    assert all(not any(r.informative) for r in rounds)  # a random model never earns a reward
    assert len(rounds) == 3  # the batch, then 2 refills
    assert batch["completion_ids"].size(0) == 8 and batch["advantages"].abs().sum() == 0
    metrics = trainer._metrics["train"]
    assert (metrics["tapo/resample_rounds"], metrics["tapo/short_groups"], metrics["tapo/kept_groups"]) == (
        [2], [2.0], [0.0]
    )
    assert metrics["tapo/dropped_groups"] == [6.0]


def scripted_accuracy(script: list[list[float]]):
    calls = itertools.count()

    def accuracy_reward(completions, **_):
        values = script[next(calls)]
        assert len(values) == len(completions)
        return values

    return accuracy_reward


def zero_format(completions, **_):
    return [0.0] * len(completions)


def test_dynamic_sampling_refills_and_merges_the_informative_groups(make) -> None:
    trainer = make(max_resample_rounds=5)
    # round 0: group 0 all wrong (dropped), group 1 mixed; refill: group 0 mixed (kept), group 1 mixed (not needed)
    trainer.reward_funcs = [scripted_accuracy([[0, 0, 0, 0, 1, 0, 1, 0], [1, 1, 0, 0, 0, 1, 1, 1]]), zero_format]
    rounds = []
    original = TapoTrainer._run_round
    trainer._run_round = lambda inputs: rounds.append(original(trainer, inputs)) or rounds[-1]
    batch = trainer._generate_and_score_completions(groups_of(trainer, [0, 1]))
    assert len(rounds) == 2
    first, refill = rounds
    picked = [(first, i) for i in range(4, 8)] + [(refill, i) for i in range(0, 4)]

    assert unpadded(batch["completion_ids"], batch["completion_mask"]) == [
        unpadded(r.batch["completion_ids"], r.batch["completion_mask"])[i] for r, i in picked
    ]
    assert unpadded(batch["prompt_ids"], batch["prompt_mask"]) == [
        unpadded(r.batch["prompt_ids"], r.batch["prompt_mask"])[i] for r, i in picked
    ]
    pixels = split_pixel_values_by_grid(batch)["pixel_values"]
    for got, (r, i) in zip(pixels, picked, strict=True):
        assert torch.equal(got, split_pixel_values_by_grid(r.batch)["pixel_values"][i])
    picked_rows = [r.rows[i] for r, i in picked]
    expected_negative = trainer._negative_inputs(picked_rows)["neg_prompt_ids"]
    assert [ids.tolist() for ids in batch["neg_prompt_ids"]] == [ids.tolist() for ids in expected_negative]
    expected = torch.tensor([1, 0, 1, 0, 1, 1, 0, 0], dtype=torch.float32) * 0.9
    expected = expected.view(2, 4)
    expected = ((expected - expected.mean(1, keepdim=True)) / (expected.std(1, keepdim=True) + 1e-6)).view(-1)
    torch.testing.assert_close(batch["advantages"], expected)
    assert batch["num_items_in_batch"].item() == batch["completion_mask"].sum().item()
    metrics = trainer._metrics["train"]
    assert (metrics["tapo/kept_groups"], metrics["tapo/dropped_groups"], metrics["tapo/short_groups"]) == (
        [2.0], [1.0], [0.0]
    )
    assert metrics["tapo/resample_rounds"] == [1]


def fake_batch(prompt_width: int, completion_width: int, grids: list[list[int]], offset: int) -> dict[str, Any]:
    """A TRL-shaped batch of len(grids) rows whose prompt i has i + 1 tokens (left-padded) and
    completion i has completion_width - i tokens (right-padded); values encode (offset, row)."""
    rows = len(grids)
    prompt_mask = torch.tensor([[0] * (prompt_width - i - 1) + [1] * (i + 1) for i in range(rows)])
    completion_mask = torch.tensor([[1] * (completion_width - i) + [0] * i for i in range(rows)])
    prompt_ids = (offset + 10 * torch.arange(rows)[:, None] + 1) * prompt_mask
    completion_ids = (offset + 10 * torch.arange(rows)[:, None] + 2) * completion_mask
    grid = torch.tensor(grids)
    pixels = torch.cat([torch.full((int(g.prod()), 3), float(offset + i)) for i, g in enumerate(grid)])
    spanning = torch.cat([prompt_mask * 7, torch.zeros_like(completion_mask)], dim=1)
    return {
        "prompt_ids": prompt_ids, "prompt_mask": prompt_mask, "completion_ids": completion_ids,
        "completion_mask": completion_mask, "advantages": torch.zeros(rows), "num_items_in_batch": torch.tensor(0),
        "old_per_token_logps": -completion_mask.float(), "mm_token_type_ids": spanning,
        "pixel_values": pixels, "image_grid_thw": grid, "num_images": [1] * rows,
    }


def test_concat_and_select_repad_every_field_on_its_side() -> None:
    a = fake_batch(prompt_width=3, completion_width=4, grids=[[1, 2, 2], [1, 2, 4]], offset=100)
    b = fake_batch(prompt_width=5, completion_width=2, grids=[[1, 2, 2], [1, 4, 4]], offset=200)
    merged = select_rollouts(concat_rollouts([a, b], PAD), [3, 0])
    assert "num_items_in_batch" not in merged
    assert merged["prompt_ids"].tolist() == [[0, 0, 0, 211, 211], [0, 0, 0, 0, 101]]
    assert merged["completion_ids"].tolist() == [[212, 0, 0, 0], [102, 102, 102, 102]]
    assert merged["old_per_token_logps"].tolist() == [[-1.0, 0.0, 0.0, 0.0], [-1.0, -1.0, -1.0, -1.0]]
    assert merged["mm_token_type_ids"].tolist() == [[0, 0, 0, 7, 7, 0, 0, 0, 0], [0, 0, 0, 0, 7, 0, 0, 0, 0]]
    assert merged["image_grid_thw"].tolist() == [[1, 4, 4], [1, 2, 2]]
    assert merged["pixel_values"][:, 0].tolist() == [201.0] * 16 + [100.0] * 4
    assert merged["num_images"] == [1, 1]
    with pytest.raises(ValueError, match="cannot merge rollout field 'image_sizes'"):
        concat_rollouts([{**a, "image_sizes": torch.zeros(2, 2)}], PAD)


def test_the_prompt_puts_the_image_where_the_problem_says() -> None:
    assert build_prompt("<image>Which bird?", "Think.") == [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Which bird?\n\nThink."}]}
    ]
    assert build_prompt("Look: <image> which bird?", "")[0]["content"] == [
        {"type": "text", "text": "Look: "}, {"type": "image"}, {"type": "text", "text": " which bird?"}
    ]
    assert build_prompt("Which bird?", "")[0]["content"][0] == {"type": "image"}
    with pytest.raises(ValueError, match="one image"):
        build_prompt("<image><image>", "")


def test_options_tapo_does_not_implement_are_refused(tiny_model_dir: Path, tapo_stage2_file: Path,
                                                      tmp_path: Path) -> None:
    config = config_from_mapping({"model": str(tiny_model_dir), "train_data": str(tapo_stage2_file),
                                  "output_dir": str(tmp_path), "n_anchor": 2, "n_positive": 2,
                                  "per_device_train_batch_size": 4}, "test recipe")
    args = GRPOConfig(**{**grpo_args(config), "top_entropy_quantile": 0.2, "num_generations": 2})
    dataset = stage2_dataset(load_stage2(tapo_stage2_file), config.format_prompt)
    with pytest.raises(ValueError, match=r"num_generations must be n_anchor \+ n_positive = 4;.*top_entropy_quantile"):
        TapoTrainer(config.model, tapo=config, args=args, train_dataset=dataset,
                    processing_class=load_processor(config))
