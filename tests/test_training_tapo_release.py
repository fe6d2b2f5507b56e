"""The TAPO release options against transcriptions of the released code (PKU-ICST-MIPL/FineR1_ICLR2026
@ 84cdc5c, TAPO/verl/...), on identical inputs: the per-micro-batch loss and its gradient, the KL in
float32, the advantages, the dynamic-sampling filter with its keep-all and refill rules, the
refill prompt stream, and the vLLM importance-sampling switch. Each test prints the largest
difference it sees (run with -s for the numbers)."""

from __future__ import annotations

import random
from collections import defaultdict

import numpy as np
import pytest
import torch

from finebench.training.tapo.config import config_from_mapping, grpo_args
from finebench.training.tapo.loss import ClipSettings, TapoWeights, tapo_loss, token_normalizer
from finebench.training.tapo.sampling import (
    PromptStream,
    group_advantages,
    kept_groups,
    select_groups,
    within_bounds,
)

RELEASE_WEIGHTS = TapoWeights(gamma=0.01, eta_policy=0.03, eta_negative=0.03, neg_grad=False, kl_float32=True)
RELEASE_CLIP = ClipSettings(epsilon_low=0.2, epsilon_high=0.28, dual_clip=3.0, ratio_log_clamp=20.0)


# ---- transcriptions of the release -----------------------------------------------------------


def masked_mean(values: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """verl/utils/torch_functional.py L72-74."""
    return (values * mask).sum() / (mask.sum() + eps)


def compute_policy_loss(old_log_probs, log_probs, advantages, response_mask, clip_low, clip_high, clip_dual):
    """verl/trainer/core_algos.py L494-519 (loss_avg_mode token)."""
    negative_approx_kl = torch.clamp(log_probs - old_log_probs, -20.0, 20.0)
    ratio = torch.exp(negative_approx_kl)
    clipped_ratio = torch.exp(torch.clamp(negative_approx_kl, np.log(1.0 - clip_low), np.log(1.0 + clip_high)))
    pg_loss = -advantages * ratio
    pg_loss2 = -advantages * clipped_ratio
    pg_loss3 = -advantages * clip_dual
    clipped_pg_loss_higher = torch.max(pg_loss, pg_loss2)
    clipped_pg_loss_lower = torch.min(clipped_pg_loss_higher, pg_loss3)
    final_pg_loss = torch.where(advantages < 0, clipped_pg_loss_lower, clipped_pg_loss_higher)
    return masked_mean(final_pg_loss, response_mask)


def compute_kl_low_var(log_probs, ref_log_probs):
    """verl/trainer/core_algos.py L585, L597-601 (kl_penalty low_var_kl)."""
    log_probs, ref_log_probs = log_probs.float(), ref_log_probs.float()
    kl = (ref_log_probs - log_probs).clamp(-20.0, 20.0)
    kld = (kl.exp() - kl - 1).contiguous()
    return torch.clamp(kld, min=-10.0, max=10.0)


def release_micro_batch_loss(log_probs, old_log_probs, aug_log_probs, advantages, response_mask, gradient_accumulation):
    """verl/workers/actor/dp_actor.py L270-379 with the stage-2 run's settings (sh L32-36, cfg):
    the loss whose backward() the release calls for one micro-batch."""
    entropy_loss = -masked_mean(log_probs, response_mask)
    pg_loss = compute_policy_loss(old_log_probs, log_probs, advantages, response_mask, 0.2, 0.28, 3.0)
    aug_entropy_loss = -masked_mean(aug_log_probs, response_mask)
    aug_kld = compute_kl_low_var(log_probs, aug_log_probs)
    aug_kld = aug_kld * torch.ones(log_probs.size(0), 1, dtype=aug_kld.dtype)  # kl_prcp_weighting, mode "all"
    kl_prcp_loss = masked_mean(aug_kld, response_mask)
    pg_loss = pg_loss - kl_prcp_loss * 0.01
    pg_loss = pg_loss + 0.03 * 1.0 * aug_entropy_loss
    pg_loss = pg_loss + 0.03 * 1.0 * entropy_loss
    return pg_loss / gradient_accumulation


def release_advantages(scores: torch.Tensor, index: list[str], eps: float = 1e-6) -> torch.Tensor:
    """verl/trainer/core_algos.py L237-251 (compute_dapo_outcome_advantage), per sequence."""
    scores = scores.clone()
    id2score, id2mean, id2std = defaultdict(list), {}, {}
    for i in range(scores.shape[0]):
        id2score[index[i]].append(scores[i])
    for idx in id2score:
        id2mean[idx] = torch.mean(torch.tensor(id2score[idx]))
        id2std[idx] = torch.std(torch.tensor(id2score[idx]))
    for i in range(scores.shape[0]):
        scores[i] = (scores[i] - id2mean[index[i]]) / (id2std[index[i]] + eps)
    return scores


def release_make_batch(blocks: list[list[list[float]]], rollout_batch_size: int) -> tuple[list[tuple[int, int]], int]:
    """verl/trainer/ray_trainer.py L538-677 (_make_batch_data) reduced to its group bookkeeping:
    each element of ``blocks`` is one dataloader batch (mini_rollout_batch_size prompts), a list
    of per-group accuracy lists. Returns the (block, group) pairs of the returned batch, in order,
    and the number of blocks consumed. filter_low 0.01, filter_high 0.99, max_try_make_batch -1."""
    batch: list[tuple[int, int]] = []
    num_try_make_batch = 0
    for b, groups in enumerate(blocks):
        num_try_make_batch += 1
        uid2mean = {g: np.mean(scores) for g, scores in enumerate(groups)}
        kept_uids = [uid for uid, avg in uid2mean.items() if avg > 0.01 and avg < 0.99]
        if len(kept_uids) == 0:
            kept_uids = list(range(len(groups)))
        batch += [(b, g) for g in kept_uids]
        if len(batch) >= rollout_batch_size:
            return batch[:rollout_batch_size], num_try_make_batch
    raise AssertionError("ran out of scripted blocks")


# ---- the loss ---------------------------------------------------------------------------------


def random_case(rng: torch.Generator, dtype: torch.dtype):
    rows, width = int(torch.randint(1, 6, (1,), generator=rng)), int(torch.randint(1, 9, (1,), generator=rng))
    scale = float(torch.rand(1, generator=rng)) * 30  # up to |log ratio| 30: the clamps and the dual clip act
    logps = -torch.rand(rows, width, generator=rng, dtype=torch.float64) * 5
    old = logps + torch.randn(rows, width, generator=rng, dtype=torch.float64) * scale / 10
    aug = logps + torch.randn(rows, width, generator=rng, dtype=torch.float64) * scale
    adv = torch.randn(rows, generator=rng, dtype=torch.float64) * 2
    mask = (torch.rand(rows, width, generator=rng) < 0.8).to(torch.float64)
    mask[0, 0] = 1.0
    return [t.to(dtype) for t in (logps, old, aug, adv, mask)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_the_release_preset_loss_and_gradient_equal_the_release_per_micro_batch(dtype) -> None:
    rng = torch.Generator().manual_seed(0)
    worst_loss = worst_grad = 0.0
    for _ in range(500):
        logps, old, aug, adv, mask = random_case(rng, dtype)
        accumulation = int(torch.randint(1, 5, (1,), generator=rng))
        ours_in = logps.clone().requires_grad_(True)
        ours = tapo_loss(
            ours_in, old, adv, mask, negative_logps=aug, weights=RELEASE_WEIGHTS, clip=RELEASE_CLIP,
            normalizer=token_normalizer("micro_batch", mask, torch.tensor(0.0), num_processes=1,
                                        accumulation_steps=accumulation, steps_per_generation=accumulation),
        ).loss
        theirs_in = logps.clone().requires_grad_(True)
        # the release's advantages are per token: scores.unsqueeze(-1) * response_mask (core_algos.py L253)
        theirs = release_micro_batch_loss(theirs_in, old, aug, adv[:, None] * mask, mask, accumulation)
        ours.backward()
        theirs.backward()
        worst_loss = max(worst_loss, abs(ours.item() - theirs.item()) / max(1.0, abs(theirs.item())))
        worst_grad = max(worst_grad, (ours_in.grad - theirs_in.grad).abs().max().item())
    # float64: the only difference is the release's masked_mean dividing by (count + 1e-8) where
    # finebench divides by the count: 1e-8 relative at most (a one-token micro-batch)
    tolerance = 2e-8 if dtype == torch.float64 else 2e-6
    print(f"{dtype}: loss max rel diff {worst_loss:.2e}, gradient max abs diff {worst_grad:.2e} (500 cases)")
    assert worst_loss < tolerance and worst_grad < tolerance


def test_kl_in_float32_is_the_releases_on_bfloat16_log_probs() -> None:
    rng = torch.Generator().manual_seed(1)
    logps = (-torch.rand(64, 32, generator=rng) * 6).to(torch.bfloat16)
    aug = (logps.float() + torch.randn(64, 32, generator=rng)).to(torch.bfloat16)
    adv, mask = torch.zeros(64), torch.ones(64, 32)
    only_kl = TapoWeights(gamma=1.0, eta_policy=0.0, eta_negative=0.0, neg_grad=False, kl_float32=True)
    ours = tapo_loss(logps, logps, adv, mask, negative_logps=aug, weights=only_kl, clip=RELEASE_CLIP).loss
    theirs = -masked_mean(compute_kl_low_var(logps, aug), mask, eps=0.0)
    in_bf16 = tapo_loss(logps, logps, adv, mask, negative_logps=aug, clip=RELEASE_CLIP,
                        weights=TapoWeights(gamma=1.0, eta_policy=0.0, eta_negative=0.0, neg_grad=False)).loss
    relative = abs(in_bf16.float().item() - theirs.item()) / abs(theirs.item())
    print(f"KL term: float32 option diff {abs(ours.item() - theirs.item()):.1e}; computed in bfloat16: {relative:.2%}")
    assert ours.dtype == torch.float32 and ours.item() == pytest.approx(theirs.item(), rel=1e-6)
    assert relative > 1e-4  # the option matters


# ---- advantages -------------------------------------------------------------------------------


def test_advantages_equal_the_releases_dapo_estimator() -> None:
    rng = random.Random(2)
    worst = 0.0
    for _ in range(300):
        size = rng.choice((2, 4, 10, 16))
        groups = rng.randint(1, 8)
        rewards = torch.tensor([rng.choice((0.0, 0.1, 0.9, 1.0)) for _ in range(size * groups)])
        index = [f"uid{i // size}" for i in range(size * groups)]
        worst = max(worst, (group_advantages(rewards, size) - release_advantages(rewards, index)).abs().max().item())
    equal = torch.full((10,), 0.1)  # all rollouts scored 0.1: float32 rounding, not zero, on both sides
    ours, theirs = group_advantages(equal, 10), release_advantages(equal, ["u"] * 10)
    print(f"advantages max abs diff {worst:.1e}; ten rollouts at 0.1 -> {ours[0].item():.4f}")
    assert worst < 1e-5
    torch.testing.assert_close(ours, theirs)
    assert ours[0].item() == pytest.approx(-0.0074, abs=1e-4)


# ---- dynamic sampling -------------------------------------------------------------------------


def finebench_make_batch(blocks: list[list[list[float]]], first_blocks: int, block: int, target: int):
    """The trainer's path (``_run_round``, ``_enough`` with group_count global, ``select_groups``)
    on one device: a first round of ``first_blocks`` dataloader blocks, then one block per refill."""
    rounds, kept_total, consumed = [], 0, 0
    while kept_total < target:
        size = first_blocks if not rounds else 1
        groups = [g for b in blocks[consumed : consumed + size] for g in b]
        consumed += size
        values = torch.tensor([a for g in groups for a in g])
        flags = within_bounds(values, len(groups[0]), 0.01, 0.99).tolist()
        kept = kept_groups([flags], block, keep_all=True)[0]
        rounds.append([g in set(kept) for g in range(len(groups))])
        kept_total += len(kept)
    picks = select_groups(rounds, target).picks
    # (round, group) -> (dataloader block, group in block)
    starts = [0]
    for r in rounds[:-1]:
        starts.append(starts[-1] + len(r))
    return [divmod(starts[r] + g, block) for r, g in picks], consumed


def test_the_filter_keeps_the_groups_the_release_keeps() -> None:
    rng = random.Random(3)
    block, first_blocks, target = 8, 3, 24  # the release's 64 / 192 prompts, scaled down
    for case in range(300):
        size = rng.choice((4, 10, 100))
        easy = rng.random()

        def group() -> list[float]:
            p = rng.choice((0.0, 1.0, rng.random() ** 3, easy))
            return [float(rng.random() < p) for _ in range(size)]

        blocks = [[group() for _ in range(block)] for _ in range(60)]
        if case % 7 == 0:  # a block in which nothing passes: the release keeps all of it
            blocks[1] = [[1.0] * size for _ in range(block)]
        expected, tries = release_make_batch(blocks, target)
        got, consumed = finebench_make_batch(blocks, first_blocks, block, target)
        assert got == expected, case
        assert consumed == max(tries, first_blocks)


def test_thresholds_differ_from_not_all_equal_from_groups_of_100() -> None:
    one_right = torch.tensor([1.0] + [0.0] * 99)
    assert within_bounds(one_right, 100, 0.01, 0.99).tolist() == [False]  # mean 0.01 is not > 0.01
    assert within_bounds(one_right[:10], 10, 0.01, 0.99).tolist() == [True]
    assert within_bounds(torch.tensor([1.0] * 99 + [0.0]), 100, 0.01, 0.99).tolist() == [False]


def test_keep_all_applies_per_block_of_the_global_order() -> None:
    flags = [[False, False, True, False], [False, False, False, False]]  # 2 devices x 4 groups, blocks of 2
    assert kept_groups(flags, 2, keep_all=True) == [[0, 1, 2], [0, 1, 2, 3]]
    assert kept_groups(flags, None, keep_all=True) == [[2], []]
    assert kept_groups(flags, 2, keep_all=False) == [[2], []]


def test_refill_prompts_come_in_the_releases_dataloader_order() -> None:
    from torch.utils.data import DataLoader, RandomSampler

    data = list(range(50))
    generator = torch.Generator().manual_seed(1)  # verl/trainer/data_loader.py L51-54, L63-71
    loader = DataLoader(data, batch_size=8, sampler=RandomSampler(data, generator=generator), drop_last=True)
    release = [batch.tolist() for _ in range(3) for batch in loader]  # three epochs (StopIteration -> new iter)
    stream = PromptStream(50, seed=1)
    assert [stream.take(8) for _ in range(len(release))] == release
    with pytest.raises(ValueError, match="refill round of 51 prompts needs at least as many"):
        stream.take(51)


# ---- vLLM importance sampling ---------------------------------------------------------------------


def test_vllm_importance_sampling_is_trls_switch() -> None:
    from trl import GRPOConfig

    base = {"model": "m", "train_data": "d.json", "output_dir": "o"}
    assert grpo_args(config_from_mapping(base, "r.yaml"))["vllm_importance_sampling_correction"] is True
    off = grpo_args(config_from_mapping({**base, "vllm_importance_sampling": False}, "r.yaml"))
    assert off["vllm_importance_sampling_correction"] is False
    assert GRPOConfig(**off, use_cpu=True).vllm_importance_sampling_correction is False
